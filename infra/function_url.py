"""The local stand-in of the host protocol's Lambda Function URL (``AuthType AWS_IAM``).

On AWS, Lambda checks a Function URL request's SigV4 signature (service ``lambda``) and hands
the handler a payload-format-2.0 event with the verified caller in
``requestContext.authorizer.iam``. Locally this HTTP server does the same on its own port
(``FABU_HOST_FRONT_PORT``, default ``FABU_API_PORT`` + 1): it checks the signature exactly as the
local API does (``chalicelib.auth.sigv4`` against the principals file of ``FABU_PRINCIPALS``,
``chalicelib.auth.localauth``'s rules) but for service ``lambda``, builds the Function URL event,
calls ``host_front.handler`` in this process and writes its answer back. A request signed for
``execute-api`` (the REST API) is refused with 403 naming the service, as AWS refuses it.

Its URL is ``http://fabu.lambda-url.<region>.localhost:<port>``: curl resolves ``*.localhost``
to this machine, and the agent signs for ``lambda`` because the host is a Function URL's.
``make run`` starts it; ``python -m infra.function_url [--port N]`` runs it alone (on the
emulator of ``AWS_ENDPOINT_URL``).

Limits: a body of at most 6 MB (a Function URL's own limit; 413 past it), a request line of at
most 64 KB and 100 headers (``http.server``'s), 30 s to read a request, at most 64 requests
served at once (503 with ``Retry-After`` past them, as a throttled Lambda answers).
"""
import argparse
import base64
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SERVICE = "lambda"
MAX_BODY_BYTES = 6 * 1024 * 1024
READ_TIMEOUT_SECONDS = 30
MAX_CONCURRENT = 64
LOCAL_ACCOUNT_ID = "000000000000"

log = logging.getLogger("fabu.function_url")


def front_url(port: int, region: str) -> str:
    """The local front's URL: a Function URL's host shape, under ``.localhost``."""
    return f"http://fabu.lambda-url.{region}.localhost:{port}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "fabu-function-url"
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        gate: threading.BoundedSemaphore = self.server.gate  # type: ignore[attr-defined]
        if not gate.acquire(blocking=False):
            self._answer(503, {"error": f"the local host front serves at most {MAX_CONCURRENT} "
                                        "requests at once; retry shortly"}, {"Retry-After": "1"})
            return
        try:
            body = self._read_body()
            if body is None:
                return
            event, refusal = build_event(self.command, self.path, self.headers, body,
                                         self.client_address[0])
            if refusal is not None:
                self._answer(403, {"error": refusal})
                return
            from host_front import handler
            result = handler(event, None)
            payload = result.get("body") or ""
            raw = (base64.b64decode(payload) if result.get("isBase64Encoded")
                   else payload.encode("utf-8"))
            self._write(int(result.get("statusCode", 200)), raw, result.get("headers") or {})
        except Exception as exc:  # noqa: BLE001 - a bug of the stand-in: say it, do not hang
            log.exception("local host front failed")
            self._answer(502, {"error": f"the local host front failed: {type(exc).__name__}"})
        finally:
            gate.release()

    def _read_body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length") or "0"
        if not length_text.isdigit():
            self._answer(400, {"error": "Content-Length must be a number of bytes"})
            return None
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._answer(413, {"error": f"request body is {length} bytes; a Function URL "
                                        "takes at most 6 MB"})
            return None
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        self._write(status, json.dumps(body).encode(),
                    {"Content-Type": "application/json", **(headers or {})})

    def _write(self, status: int, raw: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(raw)


def build_event(method: str, target: str, headers, body: bytes,
                source_ip: str = "127.0.0.1") -> tuple[dict | None, str | None]:
    """The Function URL event (payload format 2.0) of a request whose SigV4 signature (service
    ``lambda``) checks out, or ``(None, why)`` when it does not."""
    from chalicelib.auth import principals
    from chalicelib.auth.localauth import identity
    from chalicelib.auth.sigv4 import AuthError, verify_request
    parts = urlsplit(target)
    path, raw_query = parts.path or "/", parts.query
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or ""
    flat = {name.lower(): value for name, value in headers.items()}
    try:
        if not region:
            raise AuthError("server misconfigured: AWS_DEFAULT_REGION is not set")
        principal = verify_request(method, path, pairs, flat, body, region=region,
                                   service=SERVICE, lookup=principals.lookup)
    except AuthError as exc:
        log.info("local host front refused %s %s: %s", method, path, exc)
        return None, str(exc)
    who = identity(principal)
    now = time.time()
    query: dict[str, str] = {}
    for name, value in pairs:  # a Function URL joins repeated parameters with commas
        query[name] = f"{query[name]},{value}" if name in query else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    domain = (flat.get("host") or "fabu.lambda-url.localhost").split(":", 1)[0]
    event = {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": raw_query,
        "headers": flat,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID, "apiId": domain.split(".", 1)[0],
            "authorizer": {"iam": {"accessKey": who["accessKey"], "accountId": who["accountId"],
                                   "callerId": who["caller"], "cognitoIdentity": None,
                                   "principalOrgId": None, "userArn": who["userArn"],
                                   "userId": who["user"]}},
            "domainName": domain, "domainPrefix": domain.split(".", 1)[0],
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": flat.get("user-agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000)},
        "body": text, "isBase64Encoded": encoded}
    if query:
        event["queryStringParameters"] = query
    return event, None


def stage_environment() -> None:
    """The local stage's environment variables of ``.chalice/config.json`` (what ``chalice
    local --stage local`` gives the API), where the environment does not set them."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    values = dict(config.get("environment_variables") or {})
    values.update(config["stages"]["local"].get("environment_variables") or {})
    for name, value in values.items():
        os.environ.setdefault(name, value)


def make_server(host: str, port: int, fd: int | None = None) -> ThreadingHTTPServer:
    """The server, bound (``port`` 0: any free port; ``server.server_address`` says which), or
    on the listening socket ``fd`` it inherited (``make run`` binds it early)."""
    if fd is None:
        server = ThreadingHTTPServer((host, port), _Handler)
    else:
        server = ThreadingHTTPServer((host, port), _Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=fd)
        server.server_address = server.socket.getsockname()
    server.daemon_threads = True
    server.gate = threading.BoundedSemaphore(MAX_CONCURRENT)  # type: ignore[attr-defined]
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The local Function URL front of the host "
                                                 "protocol (make run starts it).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument("--fd", type=int, help="an inherited socket already listening on it")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stage_environment()
    server = make_server(args.host, args.port, args.fd)
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    print(f"fabu host front (Function URL) on {front_url(args.port, region)}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
