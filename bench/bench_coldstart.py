"""Cold start of the host front: a fresh process's first poll vs a fresh boto3 client's one Query.

The issue's measure (target: at most 1.2x). In a fresh interpreter each, alternated, ``RUNS``
times (median of at least 9), in the same run, against moto's server started here with the
stack's tables and one host holding 2 project items:

* **host front**: ``import host_front`` and ONE poll through ``host_front.handler`` (the
  Function URL event of ``GET /api/v1/<host>``, signed-in caller = that host): the identity check,
  the poll's one ``Query`` of the host's partition, the answer;
* **baseline**: ``import boto3; boto3.client("dynamodb").query(...)`` of the same partition.

A second line keeps the older measure of the REST API's Lambda: ``import app`` vs
``import boto3; boto3.client("dynamodb")`` (target: at most 1.25x). Exits non-zero when either
target is missed. ``BENCH_RUNS`` (default 11) sets the number of runs.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import _benchenv

ROOT = _benchenv.ROOT
sys.path.insert(0, ROOT)
RUNS = max(9, int(os.environ.get("BENCH_RUNS", "11")))
HOST = "cold-1.example.com"
HOST_ARN = f"arn:aws:iam::000000000000:user/fabu-hosts/{HOST}"
FRONT_TARGET, APP_TARGET = 1.2, 1.25

FRONT = """
import json, sys
import host_front
event = json.loads(sys.argv[1])
answer = host_front.handler(event, None)
assert answer["statusCode"] in (200, 204), answer
"""
QUERY = """
import sys
import boto3
found = boto3.client("dynamodb").query(TableName=sys.argv[1], KeyConditionExpression="#h = :h",
                                       ExpressionAttributeNames={"#h": "host"},
                                       ExpressionAttributeValues={":h": {"S": sys.argv[2]}})
assert found["Count"] >= 2, found
"""
APP = "import app"
CLIENT = 'import boto3; boto3.client("dynamodb")'


def _event() -> str:
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": f"/api/v1/{HOST}",
        "rawQueryString": "", "headers": {"host": "bench.lambda-url.us-east-1.on.aws"},
        "requestContext": {"accountId": "000000000000", "requestId": "bench",
                           "http": {"method": "GET", "path": f"/api/v1/{HOST}"},
                           "authorizer": {"iam": {"userArn": HOST_ARN,
                                                  "accountId": "000000000000"}}},
        "isBase64Encoded": False})


def _seed() -> str:
    """The stack's tables on the emulator and 2 items of one host; the hosts table's name."""
    from infra import stack
    from chalicelib import config
    from chalicelib.models import HostState, wave_key
    stack.create_stack(os.environ["FABU_PREFIX"], "local")
    now = datetime.datetime.now(datetime.timezone.utc)
    for project in ("shop", "blog"):
        HostState(HOST, project, wave=0, status="succeeded", wave_key=wave_key(0, "succeeded", HOST),
                  running_version="1.0.0", target_version="1.0.0", deploy_id=f"d-{project}",
                  last_seen=now).save()
    return config.table_name("hosts")


def _time(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one fresh interpreter running ``argv``."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench_coldstart: {argv[:2]} failed (exit {status})")
    return wall, usage.ru_utime + usage.ru_stime


def _pair(first: list[str], second: list[str], env: dict) -> dict[str, float]:
    """Medians (wall and CPU) of ``first`` and ``second`` run alternately in fresh interpreters."""
    _time(first, env), _time(second, env)  # warm the page cache
    a, b = [], []
    for _ in range(RUNS):
        a.append(_time(first, env))
        b.append(_time(second, env))
    return {"first": statistics.median(w for w, _ in a), "second": statistics.median(w for w, _ in b),
            "first_cpu": statistics.median(c for _, c in a),
            "second_cpu": statistics.median(c for _, c in b)}


def main() -> int:
    server = _benchenv.environment("fabucold")
    try:
        table = _seed()
        env = dict(os.environ)
        python = sys.executable
        poll = _pair([python, "-c", QUERY, table, HOST], [python, "-c", FRONT, _event()], env)
        rest = _pair([python, "-c", CLIENT], [python, "-c", APP], env)
    finally:
        if server is not None:
            server.stop()
    front_ratio, app_ratio = poll["second"] / poll["first"], rest["second"] / rest["first"]
    print(f"baseline   import boto3 + dynamodb client + 1 Query:  median {poll['first'] * 1000:.1f} ms "
          f"(CPU {poll['first_cpu'] * 1000:.1f} ms)")
    print(f"host front import host_front + 1 poll (handler):      median {poll['second'] * 1000:.1f} ms "
          f"(CPU {poll['second_cpu'] * 1000:.1f} ms)")
    print(f"ratio      {front_ratio:.2f}x wall, {poll['second_cpu'] / poll['first_cpu']:.2f}x CPU "
          f"(target <= {FRONT_TARGET}x wall; medians of {RUNS}, alternated)")
    print(f"REST API   import app {rest['second'] * 1000:.1f} ms vs import boto3 + dynamodb client "
          f"{rest['first'] * 1000:.1f} ms: {app_ratio:.2f}x wall, "
          f"{rest['second_cpu'] / rest['first_cpu']:.2f}x CPU (target <= {APP_TARGET}x)")
    return 0 if front_ratio <= FRONT_TARGET and app_ratio <= APP_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
