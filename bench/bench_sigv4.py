"""Measure what the local SigV4 check adds to one request (target: at most 1 ms median).

The same botocore-signed GET goes through ``chalice.test.Client`` (the app's full event path,
no sockets) with ``FABU_LOCAL_SIGV4`` on and off, in alternating blocks of one run, so machine
noise hits both sides alike. Prints both medians, the added milliseconds and the ratio.

    .venv/bin/python bench/bench_sigv4.py [--requests 3000]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from chalice import Chalice, IAMAuthorizer
from chalice.test import Client

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chalicelib.auth.localauth import make_sigv4_middleware  # noqa: E402
from chalicelib.auth.principals import add_principal  # noqa: E402
from chalicelib.auth.sigv4 import Principal  # noqa: E402

REGION = "us-east-1"
PATH = "/api/v1/web-1"
BLOCK = 100
# chalice local warns once that it does not enforce IAMAuthorizer: that is what we measure.
warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")


def _app() -> Chalice:
    app = Chalice(app_name="fabu-bench-sigv4")
    app.register_middleware(make_sigv4_middleware(app), "http")

    @app.route("/api/v1/{host}", authorizer=IAMAuthorizer())
    def poll(host):
        return {"host": host}

    return app


def _signed_headers(principal: Principal) -> dict[str, str]:
    credentials = Credentials(principal.access_key_id, principal.secret_access_key)
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:8000{PATH}")
    SigV4Auth(credentials, "execute-api", REGION).add_auth(request)
    headers = dict(request.headers.items())
    headers["Host"] = "127.0.0.1:8000"
    return headers


def _time_block(client: Client, headers: dict[str, str], switch: str) -> list[float]:
    os.environ["FABU_LOCAL_SIGV4"] = switch
    samples = []
    for _ in range(BLOCK):
        start = time.perf_counter()
        response = client.http.get(PATH, headers=headers)
        samples.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise SystemExit(f"request refused ({switch=}): {response.body!r}")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="per side (default 3000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        principals = os.path.join(scratch, "principals.json")
        os.environ.update(FABU_PRINCIPALS=principals, AWS_DEFAULT_REGION=REGION)
        headers = _signed_headers(add_principal(
            "arn:aws:iam::000000000000:user/fabu-hosts/web-1", path=principals))
        with Client(_app(), stage_name="local", project_dir=scratch) as client:
            _time_block(client, headers, "1")  # warm-up: imports, first parse of the file
            on, off = [], []
            for _ in range(max(1, args.requests // BLOCK)):
                on += _time_block(client, headers, "1")
                off += _time_block(client, headers, "0")
    on_ms, off_ms = statistics.median(on) * 1e3, statistics.median(off) * 1e3
    print(f"requests per side      {len(on)}")
    print(f"median, verification on  {on_ms:.3f} ms")
    print(f"median, verification off {off_ms:.3f} ms")
    print(f"added                    {on_ms - off_ms:.3f} ms (target <= 1 ms)")
    print(f"ratio on/off             {on_ms / off_ms:.2f}x")


if __name__ == "__main__":
    main()
