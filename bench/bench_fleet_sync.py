"""Bench: the fleet sync of 50,000 instances in 20 projects sharing 4 selectors.

Three tag sets and one Auto Scaling group select 12,500 instances each; 5 projects share each
selector. EC2 and Auto Scaling are the stand-in of ``_ec2fleet.py`` (moto's EC2 takes minutes a
sweep at this size; see there), everything else moto's server. The projects are saved as the API
saves them (``Project.save`` sets the ``fleet-index`` key); the steady state (every member already
joined: each project's stored set, and the items of the members the churn removes) is seeded at
the storage boundary, as 250,000 joins through the API would take hours on moto.

Measured, each the median of 3 runs in the same process:

* **raw**: the paged Describe calls of the same instances, one selector after the other, with
  fabu's own clients (what any sync must at least do);
* **steady**: ``fleet.sync.run`` with nothing changed (no write expected);
* **churn**: ``fleet.sync.run`` after 2 instances of every selector were replaced (8 joins and
  8 leaves of the 50,000; 40 joins, 40 leaves and 80 events over the 20 projects).

Asserts: the sync's Describe calls are exactly one sweep per selector (the raw run's count), a
steady sync writes nothing, steady and churn each <= 2x raw. ``--first`` also times one first
sync of one project (everything joins, bounded by ``FABU_FLEET_MAX_CHANGES``).

    .venv/bin/python bench/bench_fleet_sync.py          # starts its own moto server
"""
import datetime
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import _benchenv
import _ec2fleet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PER_SELECTOR = int(os.environ.get("BENCH_PER_SELECTOR") or 12_500)  # smaller for a quick look
SELECTORS = [{"tags": {"app": "alpha"}}, {"tags": {"app": "beta", "env": "prod"}},
             {"tags": {"app": "gamma"}}, {"asg": "delta-asg"}]
PROJECTS_PER_SELECTOR = 5
CHURN = 2
RUNS = 3
MAX_RATIO = 2.0


def step(what: str) -> None:
    print(f"  ... {what} ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


def _fleet(selector: dict) -> dict:
    if "asg" in selector:
        return {"autoscaling_groups": [selector["asg"]]}
    return {"ec2_tags": selector["tags"]}


def _seed_projects() -> list[str]:
    from chalicelib.models import Project
    names = []
    for s, selector in enumerate(SELECTORS):
        for p in range(PROJECTS_PER_SELECTOR):
            name = f"bench-{s}-{p}"
            Project(name, spec={"name": name, "version": "1.0.0", "hosts": [],
                                "fleet": _fleet(selector)}).save()
            names.append(name)
    return names


def _seed_steady(names: list[str]) -> None:
    """Each project's stored set as a finished sync leaves it, and the items of the members
    the churn will remove (their leaves are real conditional writes)."""
    from chalicelib.fleet import memberset, selectors, sweep
    from chalicelib.models import HostState, Project, wave_key
    from chalicelib.times import format_time
    swept = sweep.run([_fleet(s) for s in SELECTORS], time.monotonic() + 600)
    for project in Project.batch_get(names):
        members, _, errors = swept.of(project.spec["fleet"])
        assert not errors, errors
        memberset.save(project.id, memberset.MemberSet(), members, {})
        key = selectors.fleet_key(project.spec["fleet"], format_time(project.created_at))
        memberset.save_meta(project.id, key, None, None)
        leaving = sorted(members)[:CHURN * RUNS]   # the stand-in's oldest ids sort first
        with HostState.batch_write() as writer:
            for host in leaving:
                writer.save(HostState(host, project.id, member="fleet", zone=members[host],
                                      status="succeeded", wave=0,
                                      wave_key=wave_key(0, "succeeded", host),
                                      running_version="1.0.0", target_version="1.0.0"))


def _raw() -> tuple[float, int]:
    """The paged Describe calls of every selector, one after the other: (seconds, calls)."""
    from chalicelib.fleet import sweep
    started, calls, seen = time.perf_counter(), 0, 0
    for selector in SELECTORS:
        if "asg" in selector:
            page = sweep.client("autoscaling").describe_auto_scaling_groups(
                AutoScalingGroupNames=[selector["asg"]], MaxRecords=100)
            calls += 1
            seen += sum(len(g["Instances"]) for g in page["AutoScalingGroups"])
            continue
        filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in selector["tags"].items()]
        filters.append({"Name": "instance-state-name", "Values": ["running"]})
        token = None
        while True:
            kwargs = {"Filters": filters, "MaxResults": sweep.PAGE_SIZE}
            if token:
                kwargs["NextToken"] = token
            page = sweep.client("ec2").describe_instances(**kwargs)
            calls += 1
            seen += sum(len(r["Instances"]) for r in page["Reservations"])
            token = page.get("NextToken")
            if not token:
                break
    assert seen == PER_SELECTOR * len(SELECTORS), seen
    return time.perf_counter() - started, calls


def _sync():
    from chalicelib.fleet import sync
    now = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    outcome = sync.run(now, time.monotonic() + 600)
    return time.perf_counter() - started, outcome


def _writes_counter():
    from chalicelib.models import FleetShard, HostState
    writes = []

    def count(model, **_):
        if model.name in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"):
            writes.append(model.name)
    for m in (HostState, FleetShard):
        m._get_connection().connection.client.meta.events.register("before-call.dynamodb", count)
    return writes


def _emulator() -> subprocess.Popen | None:
    """moto's server in its own process (DynamoDB is remote on AWS too: no GIL shared with the
    sync), unless ``AWS_ENDPOINT_URL`` names one."""
    return _benchenv.server_process("moto.server")


def main() -> int:
    emulator = _emulator()
    server = _benchenv.environment()
    url, proc = _ec2fleet.start([dict(s, count=PER_SELECTOR) for s in SELECTORS])
    os.environ["AWS_ENDPOINT_URL_EC2"] = url
    os.environ["AWS_ENDPOINT_URL_AUTO_SCALING"] = url
    try:
        from infra import stack
        stack.create_stack("fabubench", "local")
        names = _seed_projects()
        step("seeding the steady state")
        _seed_steady(names)
        step("raw Describe sweeps")
        raws = [_raw() for _ in range(RUNS)]
        raw_t, raw_calls = statistics.median(r[0] for r in raws), raws[0][1]
        writes = _writes_counter()
        step("steady syncs")
        steady = [_sync() for _ in range(RUNS)]
        steady_t = statistics.median(s[0] for s in steady)
        outcome = steady[0][1]
        calls = sum(outcome["calls"].values())
        steady_writes = len(writes)
        churn = []
        step("churn syncs")
        for _ in range(RUNS):
            urllib.request.urlopen(url, data=f"Action=BenchChurn&Count={CHURN}".encode()).read()
            churn.append(_sync())
        churn_t = statistics.median(c[0] for c in churn)
        joined = [c[1]["joined"] for c in churn]
        left = [c[1]["left"] for c in churn]
        print(f"fleet sync: {PER_SELECTOR * len(SELECTORS)} instances, {len(names)} projects, "
              f"{len(SELECTORS)} selectors")
        print(f"  Describe calls: sync {outcome['calls']} = {calls}, raw sweeps {raw_calls}")
        print(f"  raw paged Describe: {raw_t:.2f} s (median of {RUNS})")
        print(f"  steady sync: {steady_t:.2f} s = {steady_t / raw_t:.2f}x raw, "
              f"{outcome['members']} members, {steady_writes} writes")
        print(f"  churn sync ({CHURN} replaced per selector): {churn_t:.2f} s = "
              f"{churn_t / raw_t:.2f}x raw, joined {joined}, left {left}")
        if "--first" in sys.argv:
            _first()
        ok = (calls == raw_calls and steady_writes == 0 and steady_t <= MAX_RATIO * raw_t
              and churn_t <= MAX_RATIO * raw_t
              and joined == left == [CHURN * len(names)] * RUNS)
        print("OK" if ok else "TARGET MISSED")
        return 0 if ok else 1
    finally:
        proc.terminate()
        if server is not None:
            server.stop()
        if emulator is not None:
            emulator.terminate()


def _first() -> None:
    """One first sync of one new project of 12,500 members (joins bounded a tick)."""
    from chalicelib.fleet import sync
    from chalicelib.models import Project
    Project("bench-first", spec={"name": "bench-first", "version": "1.0.0", "hosts": [],
                                 "fleet": _fleet(SELECTORS[0])}).save()
    took, outcome = _sync()
    print(f"  first sync of a new project: {outcome['joined']} joins in {took:.2f} s "
          f"({sync.max_changes()} a project a tick; the rest next ticks)")


if __name__ == "__main__":
    sys.exit(main())
