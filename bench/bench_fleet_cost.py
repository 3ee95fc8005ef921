"""Bench: what the fleet costs per host-month on each host front, from AWS calls counted.

A simulated day of the whole stage runs through fabu's real code against moto's server, with
every AWS call counted at botocore's one door (``bench/_awsmeter.py``: calls, and DynamoDB
request units computed from the items' sizes as AWS bills them):

* every host runs the agent's cadence: a poll every 5 minutes (``FABU_INTERVAL=300``) after its
  own splay (a per-host offset in [0, 240 s), as the agent derives it), saying what it runs
  (``?current=``); when something is pending it fetches the deploy script, downloads the release
  (one S3 GET, counted by hand: the host uses a presigned URL, not botocore) and reports its
  three phases. Half of the hosts go through the REST front (``host_front.handler``, the
  256 MB ``HostFront`` function that API Gateway's host routes invoke, with API Gateway's proxy
  event as its IAM authorizer hands it over), half through the Function URL front (the same
  handler with a Function URL event);
* every host is in 2 projects; at 10:00 the operator moves one of them to a new version: its
  build runs, and a rollout over EVERY host of the fleet (waves 1 %, 10 %, 100 %) runs to the end;
* the minute tick, its fan-out, the queue consumers (builds, notifications, rollout drivers) and
  the daily report run as on AWS, one simulated minute at a time (``infra.ticker``, whose SQS
  receives and deletes stand for Lambda's event-source pollers).

A day of 100,000 hosts is 28.8 million polls: too many to run. The day is run twice, with two
small fleets (``--sizes``, default 20 and 60 hosts); every count is a straight line in the
number of hosts (per-host requests, and the rollout's reads of its host items), so the two runs
give each count's fixed part and per-host part, and the line is read at 1,000, 10,000 and 100,000
hosts. The bench checks the line on a third point (``--check``, default 40 hosts: the prediction
must be within 5 %).

Lambda duration: each handler call's CPU time (moto runs in its own process), stretched by the
function's share of a vCPU (Lambda gives one vCPU at 1,769 MB), plus 6 ms of AWS latency per
AWS call, rounded up to the billed millisecond. The memory sizes are the template's
(``.chalice/config.json``, ``infra/package.py``).

Prices: AWS list prices, us-east-1, on 2026-11-30 (``PRICES``). API Gateway REST requests are
priced over its monthly volume tiers at each fleet size ($3.50 a million up to 333 million a
month, $2.80 for the next 667 million: a fleet past about 38,500 hosts); the REST total at the
first tier's price is printed beside it. Data transfer out: each answer's body plus
``RESPONSE_HEADER_BYTES`` at the internet rate (hosts outside AWS), with no free allowance.
Lambda's own START/END/REPORT lines are off (``LoggingConfig`` system log level WARN, set by
``make package``), so CloudWatch Logs is what fabu itself logs at WARN and above: counted.

    .venv/bin/python bench/bench_fleet_cost.py            # about 40 minutes on 2 cores (idle)
    .venv/bin/python bench/bench_fleet_cost.py --sizes 10,30 --check 20 --save /tmp/days.json
    .venv/bin/python bench/bench_fleet_cost.py --sizes 10,30 --check 20 --load /tmp/days.json
"""
import argparse
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))

#: US dollars, us-east-1 list prices.
PRICES = {
    "apigw_rest_per_m": 3.50,        # REST API, first 333 million requests a month
    # REST API requests a month, per million: the tiers (millions of requests, price)
    "apigw_rest_tiers": ((333, 3.50), (667, 2.80), (19_000, 2.38), (float("inf"), 1.51)),
    "data_out_per_gb": 0.09,         # to the internet (hosts outside AWS); no free allowance
    "lambda_request_per_m": 0.20,
    "lambda_gb_second": 0.0000166667,
    "ddb_rru_per_m": 0.125,          # on demand, per million read request units
    "ddb_wru_per_m": 0.625,          # on demand, per million write request units
    "sqs_per_m": 0.40,               # standard queue, per million requests (64 KB chunks)
    "sns_publish_per_m": 0.50,
    "s3_get_per_k": 0.0004,
    "s3_put_per_k": 0.005,
    "cloudwatch_per_k_alarm_reads": 0.01,  # GetMetricData/DescribeAlarms: per 1,000 metrics
    "logs_ingest_per_gb": 0.50,
    "events_scheduled": 0.0,          # EventBridge scheduled rules: no charge
}
FLEETS = (1_000, 10_000, 100_000)
#: Lambda's SQS event sources: 5 pollers a queue, each a 20 s long poll (3 receives a minute),
#: on the 3 queues with a consumer (builds, notifications, rollout drivers). Not counted by the
#: simulation (its ticker receives once a minute instead); AWS bills them as SQS requests.
POLLER_RECEIVES_PER_DAY = 3 * 5 * 3 * 60 * 24
DAYS_PER_MONTH = 30
TARGETS = {"rest": 0.035, "url": 0.01}
APIGW = "API Gateway (REST) requests"


# ---------------------------------------------------------------------------------------------
# the two fits and the prices (the parent process)
# ---------------------------------------------------------------------------------------------
def apigw_rest_month(millions: float) -> float:
    """Dollars of ``millions`` REST API requests in a month, over API Gateway's price tiers."""
    dollars, below = 0.0, 0.0
    for size, price in PRICES["apigw_rest_tiers"]:
        in_tier = min(max(millions - below, 0.0), size)
        dollars += in_tier * price
        below += size
    return dollars


def _run_day(hosts: int, hours: float) -> dict:
    """One simulated day in a fresh process (its own moto server and table prefix)."""
    out = subprocess.run([sys.executable, os.path.join(HERE, "_fleetday.py"), "--hosts", str(hosts),
                          "--hours", str(hours)], cwd=ROOT, check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(a: dict, b: dict, key_fn) -> tuple[float, float]:
    """(fixed, per host) of a count measured at two fleet sizes."""
    ya, yb = key_fn(a), key_fn(b)
    slope = (yb - ya) / (b["hosts"] - a["hosts"])
    return ya - slope * a["hosts"], slope


def _month_cost(day: dict, front: str) -> dict:
    """Dollars per month of one simulated day's counts (× 30), by line item, for ``front``."""
    p = PRICES
    calls = collections.Counter({tuple(k.split(":")): v for k, v in day["calls"].items()})
    lines = collections.OrderedDict()
    requests = day["host_requests"]
    lambdas = day["lambda"]
    if front == "rest":
        lines[APIGW] = requests * p["apigw_rest_per_m"] / 1e6  # re-priced by tier in ``at``
        host_fn = lambdas["rest"]
    else:
        lines[APIGW] = 0.0
        host_fn = lambdas["url"]
    # every host request is one invocation of the front's function, at its measured duration
    lines["Lambda requests (host front)"] = requests * p["lambda_request_per_m"] / 1e6
    lines["Lambda compute (host front)"] = (requests * host_fn["mean_billed_seconds"]
                                            * host_fn["memory_gb"] * p["lambda_gb_second"])
    jobs = lambdas["jobs"]
    lines["Lambda requests (tick, drivers, queues)"] = jobs["invocations"] * p["lambda_request_per_m"] / 1e6
    lines["Lambda compute (tick, drivers, queues)"] = jobs["gb_seconds"] * p["lambda_gb_second"]
    lines["DynamoDB reads"] = day["read_units"] * p["ddb_rru_per_m"] / 1e6
    lines["DynamoDB writes"] = day["write_units"] * p["ddb_wru_per_m"] / 1e6
    # The local ticker looks queues up and receives once a round; on AWS, Lambda's event-source
    # pollers long-poll each queue instead: their receives are the fixed POLLER_RECEIVES.
    sqs = sum(n for (svc, op), n in calls.items()
              if svc == "sqs" and op not in ("GetQueueUrl", "ReceiveMessage"))
    lines["SQS requests"] = sqs * p["sqs_per_m"] / 1e6
    lines["SQS event-source pollers (fixed)"] = POLLER_RECEIVES_PER_DAY * p["sqs_per_m"] / 1e6
    lines["SNS publishes"] = calls[("sns", "Publish")] * p["sns_publish_per_m"] / 1e6
    s3_get = sum(n for (svc, op), n in calls.items() if svc == "s3" and op in ("GetObject", "HeadObject", "ListObjectsV2", "ListObjectVersions"))
    s3_put = sum(n for (svc, op), n in calls.items() if svc == "s3" and op not in ("GetObject", "HeadObject", "ListObjectsV2", "ListObjectVersions"))
    lines["S3 requests"] = s3_get * p["s3_get_per_k"] / 1e3 + s3_put * p["s3_put_per_k"] / 1e3
    lines["CloudWatch Logs"] = day["log_bytes"] / 1e9 * p["logs_ingest_per_gb"]
    lines["Data transfer out (host answers)"] = day["out_bytes"] / 2**30 * p["data_out_per_gb"]
    return {k: v * DAYS_PER_MONTH for k, v in lines.items()}


def _rest_day(day: dict) -> dict:
    """The day as if nothing were deployed: the hours before the rollout, stretched to 24 h."""
    rest = day["at_rest"]
    factor = 24.0 / rest["hours"]
    return {"hosts": day["hosts"], "host_requests": rest["host_requests"] * factor,
            "read_units": rest["read_units"] * factor, "write_units": rest["write_units"] * factor,
            "out_bytes": rest["out_bytes"] * factor,
            "calls": {k: v * factor for k, v in rest["calls"].items()}, "log_bytes": 0,
            "lambda": {"rest": dict(day["lambda"]["rest"],
                                    mean_billed_seconds=rest["lambda_billed"]["rest"]),
                       "url": dict(day["lambda"]["url"],
                                   mean_billed_seconds=rest["lambda_billed"]["url"]),
                       "jobs": {k: v * factor for k, v in rest["jobs"].items()}}}


def _months(day: dict, front: str) -> dict:
    """Cost lines of a month: ``daily`` (30 days like the simulated one, a fleet-wide rollout
    every day) and ``monthly`` (30 days at rest and the one fleet-wide rollout)."""
    daily = _month_cost(day, front)
    rest = _month_cost(_rest_day(day), front)
    return {"daily": daily,
            "monthly": {k: rest[k] + (daily[k] - rest[k]) / DAYS_PER_MONTH for k in daily}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,60", help="the two simulated fleets (hosts)")
    parser.add_argument("--check", type=int, default=40, help="a third fleet the line must predict")
    parser.add_argument("--hours", type=float, default=24.0, help="length of the simulated day")
    parser.add_argument("--save", help="write the simulated days' counts to this JSON file")
    parser.add_argument("--load", help="price the days saved by --save instead of running them")
    args = parser.parse_args(argv)
    small, large = (int(s) for s in args.sizes.split(","))
    if args.load:
        runs = {int(n): day for n, day in json.load(open(args.load)).items()}
    else:
        runs = {n: _run_day(n, args.hours) for n in sorted({small, large, args.check})}
    if args.save:
        with open(args.save, "w") as out:
            json.dump(runs, out)
    a, b = runs[small], runs[large]
    scale = 24.0 / args.hours
    clamped = set()  # lines whose two measurements fell with the fleet (``at``)

    def at(n: int, front: str, kind: str = "monthly", tiered: bool = True) -> dict:
        """The cost lines of a fleet of ``n`` hosts: every count read on its line."""
        fixed = _months(a, front)[kind]
        other = _months(b, front)[kind]
        lines = {}
        for k in fixed:
            slope = (other[k] - fixed[k]) / (large - small)
            if slope < 0:  # a cost cannot fall as the fleet grows: noise on a fixed count
                clamped.add(k)
                lines[k] = max(fixed[k], other[k]) * scale  # the larger measurement, fixed
            else:
                lines[k] = (fixed[k] + slope * (n - small)) * scale
        # API Gateway's price falls with the month's volume: the line is re-priced at n hosts
        if tiered:
            lines[APIGW] = apigw_rest_month(lines[APIGW] / PRICES["apigw_rest_per_m"])
        return lines

    check = runs[args.check]
    predicted = {k: _line(a, b, lambda d: d[k])[0] + _line(a, b, lambda d: d[k])[1] * args.check
                 for k in ("host_requests", "read_units", "write_units")}
    worst = max(abs(predicted[k] - check[k]) / check[k] for k in predicted)
    print(f"simulated day: {args.hours:g} h; fleets of {small} and {large} hosts "
          f"(2 projects each, one rollout over every host); line checked at {args.check} hosts: "
          f"within {worst:.1%} (limit 5%)")
    for n in sorted(runs):
        d = runs[n]
        print(f"  {n:>4} hosts: {d['host_requests']:>7} host requests ({d['polls']} polls, "
              f"{d['deploys']} deploys), {d['read_units']:.0f} RRU, {d['write_units']:.0f} WRU, "
              f"{sum(d['calls'].values())} AWS calls, rollout {d['rollout_state']}")
    ok = worst <= 0.05
    totals = {}
    for front, label in (("rest", "REST API (API Gateway)"), ("url", "Function URL")):
        per_host = {k: v / 100_000 for k, v in at(100_000, front).items()}
        total = sum(per_host.values())
        daily = sum(at(100_000, front, "daily").values()) / 100_000
        totals[front] = total
        target = TARGETS[front]
        ok &= total <= target
        print(f"\n{label}: ${total:.4f} per host-month at 100,000 hosts, a month at rest with one "
              f"fleet-wide rollout (target <= ${target}); ${daily:.4f} with a fleet-wide rollout "
              f"every day")
        for k, v in per_host.items():
            if v:
                print(f"  {k:<42} ${v:.5f}")
        if front == "rest":
            first_tier = sum(at(100_000, front, tiered=False).values()) / 100_000
            print(f"  (every request at the first tier's $3.50 a million: ${first_tier:.4f})")
        for n in FLEETS:
            month = sum(at(n, front).values())
            every_day = sum(at(n, front, "daily").values())
            print(f"  {n:>7,} hosts: ${month:,.2f} a month (${month / n:.4f} per host); "
                  f"${every_day:,.2f} with a rollout every day")
    if clamped:
        print(f"\nfell from the smaller fleet to the larger (noise on a fixed cost), kept at the "
              f"larger measurement: {', '.join(sorted(clamped))}")
    print(f"\nratio Function URL / REST API per host-month: {totals['url'] / totals['rest']:.2f}x")
    print(f"\nper host and poll: {b['per_poll']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
