"""One simulated day of a small fleet for ``bench_fleet_cost.py``; prints its counts as JSON.

Runs in its own process (fabu's models bind their table names at import): a moto server, the
stage's resources, a simulated clock (every ``utcnow`` of fabu's modules reads it), ``--hosts``
hosts in two projects, and the day minute by minute: each host's polls at its own offset, the
ticker's round (the minute tick, its fan-out and every queue consumer), and at 10:00 a new version
of one project rolled out to every host. Every AWS call is counted by ``_awsmeter``. Half of the
hosts call the REST API, half the Function URL: on AWS both invoke ``HostFront``
(``host_front.handler``, 256 MB), each with its own event format (``Fronts``).
"""
import argparse
import base64
import datetime
import heapq
import io
import json
import logging
import math
import os
import sys
import time
import urllib.request
import zlib

import _benchenv
from _awsmeter import LATENCY_DEFAULT, Meter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from infra.package import MEMORY_MB as HOST_FRONT_MB  # noqa: E402 - HostFront's size
ACCOUNT = "123456789012"
INTERVAL, SPLAY = 300, 240
PROJECTS = ("web", "tools")
ROLLED = "web"
ROLLOUT_AT = datetime.timedelta(hours=10)
WARMUP = datetime.timedelta(minutes=45)
ADMIN = "arn:aws:iam::000000000000:user/fabu-admin"
START = datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)
PHASES = ("pre-deploy", "do-deploy", "post-deploy")


#: The functions' memory (MB): both host fronts invoke ``HostFront`` (``infra/package.py``: its
#: Function URL, and the REST API's host routes, which ``make package`` points at it); the jobs
#: run at the stage's default (``.chalice/config.json`` ``lambda_memory_size``, 512 MB).
MEMORY_MB = {"rest": HOST_FRONT_MB, "url": HOST_FRONT_MB, "jobs": 512}
#: Lambda gives a function one vCPU at 1,769 MB and a share in proportion below it.
FULL_VCPU_MB = 1769
#: Bytes of HTTP status line and headers in a front's answer besides its body (API Gateway and
#: Function URLs add request and trace ids, date, content type and length): data transfer out.
RESPONSE_HEADER_BYTES = 400


def billed_seconds(cpu: float, calls: int, memory_mb: int) -> float:
    """A handler call's billed duration on Lambda: its CPU time here, stretched by the function's
    share of a vCPU, plus AWS's latency per call, rounded up to the millisecond."""
    stretched = cpu * max(FULL_VCPU_MB / memory_mb, 1.0)
    return max(math.ceil((stretched + calls * LATENCY_DEFAULT) * 1000), 1) / 1000


class Clock:
    """The simulated time every ``utcnow`` of fabu's modules answers."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def _patch_clock(clock):
    """Point every module-level ``utcnow`` (and ``chalicelib.times.utcnow``) at ``clock``."""
    from chalicelib import times
    original = times.utcnow
    for module in list(sys.modules.values()):
        if getattr(module, "utcnow", None) is original:
            module.utcnow = clock


class LogBytes(logging.Handler):
    """What fabu's handlers log at WARNING and above (what CloudWatch Logs would ingest)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.bytes = 0
        self.lines = 0

    def emit(self, record):
        self.bytes += len(self.format(record).encode("utf-8")) + 60  # + Lambda's line prefix
        self.lines += 1


class Fronts:
    """The two host fronts, invoked in process as Lambda would, with their compute measured.

    Both invoke ``HostFront``'s handler (``host_front.handler``), each with its own event: the
    REST API's host routes with API Gateway's Lambda proxy event (payload 1.0, the caller as its
    IAM authorizer fills it: ``_rest_event``), the Function URL with payload 2.0
    (``_url_event``). What differs in the bill is API Gateway's per-request price
    (``bench_fleet_cost.py``) and the few lines of reading either event.
    """

    def __init__(self, meter):
        import host_front
        self.meter = meter
        self.handler = host_front.handler
        self.billed = {"rest": [], "url": []}
        self.out_bytes = 0  # what the fronts answered, headers included (data transfer out)

    def call(self, front, host, method, path, query=None, body=None):
        arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/fabu-host/{host}"
        event = (self._url_event if front == "url" else self._rest_event)(
            arn, method, path, query or {}, body)
        calls_before = sum(self.meter.calls.values())
        cpu_before = time.thread_time() - self.meter.thread_overhead()
        with self.meter.section(f"host-{front}"):
            answer = self.handler(event, None)
        cpu = time.thread_time() - self.meter.thread_overhead() - cpu_before
        n_calls = sum(self.meter.calls.values()) - calls_before
        self.billed[front].append(billed_seconds(cpu, n_calls, MEMORY_MB[front]))
        status = answer["statusCode"]
        text = answer.get("body") or ""
        if answer.get("isBase64Encoded"):
            text = base64.b64decode(text).decode("utf-8")
        self.out_bytes += len(text.encode("utf-8")) + RESPONSE_HEADER_BYTES
        return status, text

    @staticmethod
    def _rest_event(arn, method, path, query, body):
        """API Gateway REST's proxy event (payload 1.0) of stage ``api``, as it invokes
        ``HostFront`` for a host route."""
        parts = path.strip("/").split("/")  # api v1 host [deploy|report]
        resource = "/api/v1/{host}" + ("/" + parts[3] if len(parts) > 3 else "")
        return {"resource": resource, "path": path, "httpMethod": method,
                "headers": {"content-type": "application/json", "host": "api.example.com"},
                "multiValueHeaders": {}, "queryStringParameters": query or None,
                "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
                "pathParameters": {"host": parts[2]}, "stageVariables": None,
                "requestContext": {"resourcePath": resource, "httpMethod": method,
                                   "path": "/api" + path, "accountId": ACCOUNT,
                                   "requestId": "bench", "stage": "api",
                                   "identity": {"userArn": arn, "sourceIp": "10.0.0.1"}},
                "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}

    @staticmethod
    def _url_event(arn, method, path, query, body):
        """A Function URL's event (payload 2.0), the caller as Lambda verified it."""
        raw_query = "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in query.items())
        return {"version": "2.0", "routeKey": "$default", "rawPath": path,
                "rawQueryString": raw_query, "queryStringParameters": query or None,
                "headers": {"content-type": "application/json",
                            "host": "abc.lambda-url.us-east-1.on.aws"},
                "requestContext": {"accountId": ACCOUNT, "apiId": "abc",
                                   "domainName": "abc.lambda-url.us-east-1.on.aws",
                                   "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                            "sourceIp": "10.0.0.1", "userAgent": "fabu-agent"},
                                   "authorizer": {"iam": {"accessKey": "ASIA", "accountId": ACCOUNT,
                                                          "callerId": "AROA:" + arn.rsplit("/", 1)[1],
                                                          "userArn": arn, "userId": "AROA"}},
                                   "requestId": "bench", "routeKey": "$default", "stage": "$default",
                                   "time": "", "timeEpoch": 0},
                "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}


class Host:
    def __init__(self, name, front):
        self.name = name
        self.front = front
        self.offset = zlib.crc32(name.encode()) % SPLAY
        self.current = {p: "1.0.0" for p in PROJECTS}


def _seed(hosts, clock):
    """Both projects on every host, each at 1.0.0, deployed and reported (storage boundary)."""
    from chalicelib.models import HostState, wave_key
    from chalicelib.projects import service
    from infra import examples
    examples.publish()
    names = [h.name for h in hosts]
    for project in PROJECTS:
        service.create({"name": project, "version": "1.0.0",
                        "source": {"type": "s3", "url": f"s3://{_bucket()}/examples/hello/"},
                        "hosts": names, "scripts": {"start": "true"},
                        "rollout": {"waves": ["1%", "10%", "100%"], "bake_seconds": 300,
                                    "auto_promote": True}},
                       ADMIN)
    return names


def _bucket():
    from chalicelib import config
    return config.release_bucket()


def _report(fronts, host, item, phase):
    body = {"project": item["project"], "version": item["version"], "deploy_id": item["deploy_id"],
            "phase": phase, "status": "ok", "exit_code": 0, "output": f"{phase} done\n",
            "running_version": item["version"] if phase != "pre-deploy" else host.current[item["project"]],
            "truncated": False}
    return fronts.call(host.front, host.name, "POST", f"/api/v1/{host.name}/report", body=body)


def _poll(fronts, meter, host, stats):
    current = ",".join(f"{p}:{v}" for p, v in sorted(host.current.items()))
    status, text = fronts.call(host.front, host.name, "GET", f"/api/v1/{host.name}",
                               query={"current": current})
    stats["polls"] += 1
    stats["host_requests"] += 1
    if status == 204:
        return
    if status != 200:
        raise SystemExit(f"poll of {host.name}: HTTP {status} {text[:300]}")
    pending = json.loads(text).get("pending", [])
    if not pending:
        return
    status, script = fronts.call(host.front, host.name, "GET", f"/api/v1/{host.name}/deploy")
    stats["host_requests"] += 1
    if status != 200:
        raise SystemExit(f"deploy script of {host.name}: HTTP {status} {script[:300]}")
    for item in pending:
        meter.add(f"host-{host.front}", "s3", "GetObject")  # the release, by presigned URL
        for phase in PHASES:
            code, text = _report(fronts, host, item, phase)
            stats["host_requests"] += 1
            if code != 200:
                raise SystemExit(f"report of {host.name}: HTTP {code} {text[:300]}")
        host.current[item["project"]] = item["version"]
        stats["deploys"] += 1


def _newest(project):
    from chalicelib.rollout import store
    return store.newest(project)


class _Day:
    """The simulated minutes: the ticker's round, then every poll due within the minute."""

    def __init__(self, clock, meter, fronts, ticker, hosts, queue, stats, jobs):
        self.clock, self.meter, self.fronts, self.ticker = clock, meter, fronts, ticker
        self.hosts, self.queue, self.stats, self.jobs = hosts, queue, stats, jobs
        self.rollout_at = None
        self.before_rollout = None

    def snapshot(self, second):
        """The counts so far (the day before the rollout: what a fleet at rest costs)."""
        totals = self.meter.totals()
        return {"hours": second / 3600, **self.stats, "jobs": dict(self.jobs),
                "calls": {f"{svc}:{op}": n for (svc, op), n in totals["calls"].items()},
                "read_units": totals["read_units"], "write_units": totals["write_units"],
                "out_bytes": self.fronts.out_bytes,
                "billed": {f: list(v) for f, v in self.fronts.billed.items()}}

    def run(self, begin, end):
        from chalicelib.projects import service
        for second in range(begin, end, 60):
            self.clock.now = START + datetime.timedelta(seconds=second)
            if self.rollout_at is not None and second >= self.rollout_at:
                self.before_rollout = self.snapshot(second)
                with self.meter.section("operator"):
                    service.update(ROLLED, {"version": "1.1.0"}, ADMIN)
                self.rollout_at = None
            self._jobs()
            while self.queue and self.queue[0][0] < second + 60:
                at, index = heapq.heappop(self.queue)
                self.clock.now = START + datetime.timedelta(seconds=at)
                _poll(self.fronts, self.meter, self.hosts[index], self.stats)
                heapq.heappush(self.queue, (at + INTERVAL, index))

    def _jobs(self):
        """The ticker's round: every schedule due and every queue's messages, as Lambda would."""
        meter = self.meter
        with meter.section("jobs"):
            calls_before = sum(meter.calls.values())
            # the drivers run on the ticker's threads; the meter's own work is not theirs
            cpu_before = time.process_time() - meter.overhead
            outcome = self.ticker.run_once(self.clock.now)
            cpu = time.process_time() - meter.overhead - cpu_before
            n = sum(meter.calls.values()) - calls_before
        invoked = sum(1 for v in outcome.values() if v == "ok") + sum(
            v.get("handled", 0) + v.get("failed", 0) for v in outcome.values() if isinstance(v, dict))
        self.jobs["invocations"] += invoked
        # the round's invocations together: their CPU (moto runs in its own process) and latency
        self.jobs["gb_seconds"] += billed_seconds(cpu, n, MEMORY_MB["jobs"]) * MEMORY_MB["jobs"] / 1024


def simulate(n_hosts, hours):
    os.environ.pop("AWS_ENDPOINT_URL", None)  # always its own server: its CPU time is not ours
    moto = _benchenv.server_process()
    _benchenv.environment(prefix="fabu")  # the stage config's prefix (the ticker applies it)
    os.environ["FABU_LOCAL_SIGV4"] = "0"  # API Gateway's IAM authorizer has checked the caller
    os.environ.setdefault("FABU_TICK_BUDGET_SECONDS", "40")
    from infra import stack
    stack.create_stack(prefix="fabu")
    clock = Clock(START)
    import app  # noqa: F401 - every handler module, so the clock patch reaches them all
    from chalicelib.projects import service
    from infra.ticker import Ticker
    import boto3
    import host_front  # noqa: F401 - the host fronts' handler, so the clock patch reaches it
    _patch_clock(clock)
    logs = LogBytes()
    logging.getLogger().addHandler(logs)
    logging.getLogger().setLevel(logging.WARNING)
    meter = Meter()
    fronts = Fronts(meter)
    hosts = [Host(f"h{i:05d}.fleet.example.com", "rest" if i % 2 == 0 else "url")
             for i in range(n_hosts)]
    clock.now = START - WARMUP
    _seed(hosts, clock)
    ticker = Ticker(app.app, ROOT, stage="local", sqs=boto3.client("sqs"))
    stats = {"polls": 0, "host_requests": 0, "deploys": 0}
    jobs = {"invocations": 0, "gb_seconds": 0.0}
    queue = [(h.offset - int(WARMUP.total_seconds()), i) for i, h in enumerate(hosts)]
    heapq.heapify(queue)
    day = _Day(clock, meter, fronts, ticker, hosts, queue, stats, jobs)
    # warm-up, not counted: both projects' first rollouts (1.0.0 everywhere) run to the end
    day.run(-int(WARMUP.total_seconds()), 0)
    for project in PROJECTS:
        rollout = _newest(project)
        if rollout is None or rollout.state != "succeeded":
            raise SystemExit(f"warm-up: the first rollout of {project} is "
                             f"{rollout.state if rollout else 'missing'}, not succeeded")
    stats.update(polls=0, host_requests=0, deploys=0)
    jobs.update(invocations=0, gb_seconds=0.0)
    fronts.billed = {"rest": [], "url": []}
    fronts.out_bytes = 0
    meter.install()
    day.rollout_at = int(ROLLOUT_AT.total_seconds())
    day.run(0, int(hours * 3600))
    newest = _newest(ROLLED)
    meter.uninstall()
    rest = day.before_rollout
    totals = meter.totals()
    host_sections = {"host-rest", "host-url"}
    host_totals = meter.totals(host_sections)
    billed = {f: (sum(v) / len(v) if v else 0.0) for f, v in fronts.billed.items()}
    polls = max(stats["polls"], 1)
    result = {
        "hosts": n_hosts, "hours": hours, **stats,
        "calls": {f"{svc}:{op}": n for (svc, op), n in totals["calls"].items()},
        "read_units": totals["read_units"], "write_units": totals["write_units"],
        "host_read_units": host_totals["read_units"], "host_write_units": host_totals["write_units"],
        "log_bytes": logs.bytes, "out_bytes": fronts.out_bytes,
        "lambda": {"rest": {"mean_billed_seconds": billed["rest"], "memory_gb": MEMORY_MB["rest"] / 1024},
                   "url": {"mean_billed_seconds": billed["url"], "memory_gb": MEMORY_MB["url"] / 1024},
                   "jobs": jobs},
        "rollout_state": newest.state if newest else None,
        "at_rest": rest and {k: v for k, v in rest.items() if k != "billed"} | {
            "lambda_billed": {f: (sum(v) / len(v) if v else 0.0) for f, v in rest["billed"].items()}},
        "per_poll": {"reads": round(host_totals["read_units"] / polls, 4),
                     "writes": round(host_totals["write_units"] / polls, 4)},
    }
    moto.terminate()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    print(json.dumps(simulate(args.hosts, args.hours)))


if __name__ == "__main__":
    main()
