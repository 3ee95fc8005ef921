"""Bench: the minute tick fans out 1,000 active rollouts; each is driven in its own invocation.

Seeds 1,000 running rollouts at the storage boundary (one project each, 5 hosts: the canary
wave done, the last wave under way — 2 succeeded, 1 in progress, 1 pending — so each step reads
its released hosts, checks leases, failures and top-up, and writes its lock), then:

1. **The tick** (``rollout.tick.run(queue=<drive queue>)``, what the ``tick`` Lambda runs):
   lists and enqueues them. Every DynamoDB and SQS call is counted (botocore ``before-call`` on
   the models' clients and the tick's SQS client): O(1) DynamoDB requests (no per-rollout read or
   write), one ``SendMessageBatch`` per 10 rollouts.
2. **The drivers**: every message is received from the emulator's queue (while the tick sends,
   as the event source's pollers do) and handed to the real
   ``rollout_driver`` Lambda entry (``app.rollout_driver(event, context)``) one after the other
   (``REAL_THREADS`` = 1: each invocation's own latency, as on Lambda, where drivers do not
   share a CPU or an emulator), timing each invocation. The schedule a stage's event source would run is then
   simulated with ``LAMBDA_CONCURRENCY`` lanes (the ``rollout_driver`` event source's
   ``MaximumConcurrency``, ``driver.MAX_CONCURRENCY`` = 100: SQS event sources scale to ~1,000
   concurrent invocations, the account's default Lambda concurrency is 1,000 shared with the
   API's polls, so the function is capped well below it): messages in the order sent, each on
   the first free lane, from the moment the tick returned. Target: every step started and ended
   within 60 s of the tick's start. (The replay on one machine runs at the emulator's pace,
   far slower than 100 Lambdas; the messages' 50 s expiry is lifted for it.) DynamoDB and SQS
   are the suite's emulator (``tests/support/emulator.py``: moto's server whose Queries read
   only the partition they name) in its own process, as AWS is remote to a Lambda.
3. **Baseline, same run**: the old in-process drive of the same 1,000 rollouts on the tick's
   pool of 8 workers (``FABU_TICK_WORKERS`` default), without a time budget, timed end to end.

Prints the counts, the simulated minute against the baseline (ratio), and exits non-zero when a
target is missed.

``--hosts`` runs the previous measure instead: one in-process tick over 10,000 hosts in active
rollouts (4 projects x 2,500) against a raw ``Query`` of the same index items (no Scan, <= 2x).

    .venv/bin/python bench/bench_tick.py            # starts its own moto server
    .venv/bin/python bench/bench_tick.py --hosts
    .venv/bin/python bench/bench_tick.py --rollouts=100   # a quick look (targets unchanged)
"""
import collections
import concurrent.futures
import datetime
import math
import os
import subprocess
import sys
import threading
import time

import _benchenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ROLLOUTS = int(next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--rollouts=")),
                    1000))
LAMBDA_CONCURRENCY = 100
REAL_THREADS = 1
MINUTE = 60.0
RID = "20261201T000000.000000Z-0001"
# the --hosts measure (the tick before the fan-out)
PROJECTS = 4
HOSTS_PER_PROJECT = 2500
RUNS = 3


def _seed_rollouts(now):
    from chalicelib.models import HostState, Project, Release, Rollout, wave_key
    from chalicelib.states import HostStatus, ReleaseState, RolloutState
    statuses = [HostStatus.SUCCEEDED, HostStatus.SUCCEEDED, HostStatus.SUCCEEDED,
                HostStatus.IN_PROGRESS, HostStatus.PENDING]
    settings = {"waves": [1, "100%"], "max_failures": 0, "deploy_timeout": 1800,
                "bake_seconds": 0, "depends_on": []}
    with Project.batch_write() as projects, Release.batch_write() as releases, \
            Rollout.batch_write() as rollouts, HostState.batch_write() as hosts:
        for p in range(ROLLOUTS):
            name = f"fan-{p:04d}"
            names = [f"h{i}.{name}.example.com" for i in range(5)]
            projects.save(Project(name, spec={"name": name, "version": "2.0.0", "hosts": names,
                                              "rollout": settings}))
            releases.save(Release(name, "2.0.0", state=ReleaseState.READY, s3_key="k",
                                  sha256="0" * 64, size=1))
            rollouts.save(Rollout(name, RID, version="2.0.0", previous_version="1.0.0",
                                  state=RolloutState.RUNNING, wave=1, waves=[1, 4],
                                  settings=settings, start_at=now, wave_started_at=now,
                                  active_pk="active"))
            for i, host in enumerate(names):
                wave, status = min(i, 1), statuses[i]
                hosts.save(HostState(host, name, wave=wave, status=status,
                                     wave_key=wave_key(wave, status, host), rollout_id=RID,
                                     target_version="2.0.0", deploy_id=f"d-{p}-{i}",
                                     running_version="2.0.0" if status == HostStatus.SUCCEEDED
                                     else "1.0.0", leased_at=now, last_seen=now, released_at=now))


def _counters():
    """Count every DynamoDB call of the models' clients and every SQS call of the tick's (and
    the seconds spent in the SQS calls, under ``"sqs seconds"``)."""
    from chalicelib.models import ALL_MODELS
    from chalicelib.rollout import tick
    calls, started = collections.Counter(), threading.local()

    def count(model, **kwargs):
        calls[f"{model.service_model.service_name}:{model.name}"] += 1
        started.at = time.perf_counter()

    def timed(model, **kwargs):
        if model.service_model.service_name == "sqs":
            calls["sqs seconds"] += time.perf_counter() - started.at
    clients = {id(m._get_connection().connection.client): m._get_connection().connection.client
               for m in ALL_MODELS}
    clients[id(tick._sqs())] = tick._sqs()
    for client in clients.values():
        client.meta.events.register("before-call", count)
        client.meta.events.register("after-call", timed)
    return calls


class _Poller(threading.Thread):
    """Receives the drive queue's messages while the tick sends them, as the event source's
    pollers do (moto's SQS costs grow with the messages waiting in a queue; SQS's do not)."""

    def __init__(self, url):
        super().__init__(daemon=True)
        import boto3
        self.url, self.sqs, self.messages = url, boto3.client("sqs"), {}
        self.done = threading.Event()

    def run(self):
        while True:
            got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                           VisibilityTimeout=900, WaitTimeSeconds=0
                                           ).get("Messages", [])
            fresh = [m for m in got if m["MessageId"] not in self.messages]
            self.messages.update((m["MessageId"], m) for m in fresh)
            if got:  # the replay needs the bodies only (moto keeps received messages listed)
                self.sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            if not fresh:
                if self.done.is_set():
                    return
                time.sleep(0.05)

    def all(self):
        self.done.set()
        self.join()
        return list(self.messages.values())


def _drive_messages(messages):
    """Each message through the real Lambda entry; [(duration, outcome)] in the order sent."""
    from chalice.local import LambdaContext
    from chalice.test import Client
    import app as lambdas
    from chalicelib import config
    events = Client(lambdas.app, stage_name="local", project_dir=ROOT).events

    def invoke(message):
        event = events.generate_sqs_event(message_bodies=[message["Body"]],
                                          queue_name=config.drive_queue_name())
        started = time.perf_counter()
        [answer] = lambdas.rollout_driver(event, LambdaContext("rollout_driver", 512, 60000))
        return time.perf_counter() - started, answer["outcome"]
    with concurrent.futures.ThreadPoolExecutor(REAL_THREADS) as pool:
        return list(pool.map(invoke, messages))


def _simulate(durations, start, lanes):
    """Each duration on the first free of ``lanes`` lanes from ``start``: the last end."""
    free = [start] * lanes
    last = start
    for duration in durations:
        lane = min(range(lanes), key=free.__getitem__)
        free[lane] += duration
        last = max(last, free[lane])
    return last


def _emulator() -> subprocess.Popen | None:
    """The suite's emulator in its own process (no GIL shared with the drivers), unless
    ``AWS_ENDPOINT_URL`` names one."""
    return _benchenv.server_process("tests.support.emulator")


def fan_out():
    emulator = _emulator()
    server = _benchenv.environment()
    import logging
    logging.getLogger("fabu").setLevel(logging.ERROR)
    try:
        from infra import stack
        created = stack.create_stack("fabubench", "local")
        from chalicelib import config
        from chalicelib.rollout import alarms, driver, engine, tick
        now = datetime.datetime.now(datetime.timezone.utc)
        began = time.perf_counter()
        _seed_rollouts(now)
        print(f"seeded {ROLLOUTS} rollouts in {time.perf_counter() - began:.1f} s", flush=True)
        calls = _counters()
        tick._queue_url(config.drive_queue_name())      # a warm Lambda knows it already
        driver.EXPIRY_SECONDS = 3600                   # see the docstring: the replay is slow
        poller = _Poller(created["DriveQueue"])
        poller.start()
        calls.clear()
        started = time.perf_counter()
        outcome = tick.run(now=now, queue=config.drive_queue_name())
        tick_s = time.perf_counter() - started
        tick_calls = dict(calls)
        print(f"the tick: {tick_s:.1f} s", flush=True)
        messages = poller.all()
        calls.clear()
        started = time.perf_counter()
        driven = _drive_messages(messages)
        replay_s = time.perf_counter() - started
        drive_calls = dict(calls)
        durations = [d for d, _ in driven]
        outcomes = collections.Counter(o for _, o in driven)
        minute = _simulate(durations, tick_s, LAMBDA_CONCURRENCY)

        from chalicelib.models import Rollout
        from chalicelib.rollout import store
        rollouts = list(Rollout.active_index.query(store.ACTIVE_PK))
        base = {"rollouts": {}, "errors": {}, "skipped": [], "unfinished": []}
        started = time.perf_counter()
        tick._drive_all(rollouts, now + datetime.timedelta(seconds=60), engine.TICK_ACTOR,
                        time.monotonic() + 3600, base, alarms.Snapshot(), None)
        baseline_s = time.perf_counter() - started

        sends = tick_calls.get("sqs:SendMessageBatch", 0)
        ddb = {k: v for k, v in tick_calls.items() if k.startswith("dynamodb:")}
        per_drive = {k: round(v / len(driven), 2) for k, v in sorted(drive_calls.items())
                     if k.startswith("dynamodb:")}
        print(f"active rollouts: {len(rollouts)}; the tick queued {outcome['queued']} "
              f"in {tick_s:.2f} s")
        print(f"the tick's calls: SQS {sends} SendMessageBatch ({tick_calls.get('sqs seconds', 0):.1f} s "
              f"in them, {tick.SEND_THREADS} at a time: the emulator's SQS; SQS answers in "
              f"~20 ms); DynamoDB {ddb}")
        print(f"messages received: {len(messages)}; driver outcomes: {dict(outcomes)}")
        print(f"per drive: median {sorted(durations)[len(durations) // 2] * 1000:.0f} ms, "
              f"max {max(durations) * 1000:.0f} ms; calls per drive {per_drive}")
        print(f"replay on {REAL_THREADS} threads: {replay_s:.1f} s wall; simulated with "
              f"{LAMBDA_CONCURRENCY} concurrent invocations: every step ended {minute:.2f} s "
              f"after the tick started (target <= {MINUTE:.0f} s)")
        print(f"baseline: the in-process pool of {tick.workers()} drove "
              f"{len(base['rollouts'])} rollouts in {baseline_s:.1f} s; ratio simulated fan-out "
              f"/ baseline {minute / baseline_s:.3f}x")
        failures = []
        if outcome["queued"] != ROLLOUTS or len(messages) < ROLLOUTS:
            failures.append(f"queued {outcome['queued']}, received {len(messages)} of {ROLLOUTS}")
        if sends > math.ceil(ROLLOUTS / tick.BATCH_ENTRIES):
            failures.append(f"{sends} SendMessageBatch for {ROLLOUTS} messages")
        if sum(ddb.values()) > 10 or "dynamodb:Scan" in ddb or "dynamodb:UpdateItem" in ddb:
            failures.append(f"the tick's DynamoDB calls are not O(1): {ddb}")
        # a SendMessageBatch retried after a timeout (the emulator under load) sends its
        # messages twice: the second copy must be dropped as a duplicate, never drive
        if outcomes["running"] != ROLLOUTS or set(outcomes) - {"running", "duplicate"}:
            failures.append(f"not every rollout was driven exactly once: {dict(outcomes)}")
        if minute > MINUTE:
            failures.append(f"the simulated minute took {minute:.1f} s")
        if minute > baseline_s:
            failures.append(f"fan-out {minute:.1f} s is not faster than the pool {baseline_s:.1f} s")
        if failures:
            sys.exit("MISSED: " + "; ".join(failures))
    finally:
        if server is not None:
            server.stop()
        if emulator is not None:
            emulator.terminate()
            emulator.wait(timeout=10)


# ----------------------------------------------------------------------------- --hosts

def _seed_hosts(now):
    from chalicelib.models import HostState, Project, Release, Rollout, wave_key
    from chalicelib.states import HostStatus, ReleaseState, RolloutState
    statuses = [HostStatus.SUCCEEDED] * 8 + [HostStatus.IN_PROGRESS, HostStatus.PENDING]
    for p in range(PROJECTS):
        name = f"bench-{p}"
        hosts = [f"h{i:05d}.{name}.example.com" for i in range(HOSTS_PER_PROJECT)]
        spec = {"name": name, "version": "2.0.0", "hosts": hosts,
                "rollout": {"waves": [10, "10%", "50%", "100%"], "max_failures": 5,
                            "deploy_timeout": 1800}}
        Project(name, spec=spec).save()
        Release(name, "2.0.0", state=ReleaseState.READY, s3_key="k", sha256="0" * 64, size=1).save()
        sizes = [10, 240, 1000, 1250]
        rollout = Rollout(name, f"20261126T000000.000000Z-{p:04d}", version="2.0.0",
                          previous_version="1.0.0", state=RolloutState.RUNNING, wave=3, waves=sizes,
                          settings=dict(spec["rollout"], depends_on=[]), start_at=now,
                          wave_started_at=now, active_pk="active")
        rollout.save()
        bounds = [0]
        for size in sizes:
            bounds.append(bounds[-1] + size)
        with HostState.batch_write() as writer:
            for i, host in enumerate(hosts):
                wave = next(w for w in range(4) if i < bounds[w + 1])
                status = statuses[i % len(statuses)]
                writer.save(HostState(host, name, wave=wave, status=status,
                                      wave_key=wave_key(wave, status, host),
                                      rollout_id=rollout.rollout_id, target_version="2.0.0",
                                      running_version="2.0.0" if status == HostStatus.SUCCEEDED else "1.0.0",
                                      deploy_id=f"d-{i}", leased_at=now, last_seen=now,
                                      released_at=now))


def _raw_query(table):
    """The same items the tick reads, with a plain boto3 Query per project (no models)."""
    import boto3
    from botocore.config import Config
    client = boto3.client("dynamodb", config=Config(read_timeout=300))
    count = 0
    for p in range(PROJECTS):
        pages = client.get_paginator("query").paginate(
            TableName=table, IndexName="project-index",
            KeyConditionExpression="#p = :p AND #w < :w",
            ExpressionAttributeNames={"#p": "project", "#w": "wave_key"},
            ExpressionAttributeValues={":p": {"S": f"bench-{p}"}, ":w": {"S": "004"}})
        for page in pages:
            count += len(page["Items"])
    return count


def hosts():
    server = _benchenv.environment()
    try:
        from infra import stack
        from chalicelib.models import ALL_MODELS
        for model in ALL_MODELS:  # the emulator is slow on big index queries: allow it 300 s
            model.Meta.read_timeout_seconds = 300
            model._connection = None
        from chalicelib import config
        from chalicelib.rollout import tick
        stack.create_stack("fabubench", "local")
        now = datetime.datetime.now(datetime.timezone.utc)
        _seed_hosts(now)
        calls = _counters()
        ticks, raws = [], []
        for _ in range(RUNS):
            calls.clear()
            started = time.perf_counter()
            outcome = tick.run(now=now + datetime.timedelta(seconds=30))
            ticks.append(time.perf_counter() - started)
            tick_calls = dict(calls)
            started = time.perf_counter()
            items = _raw_query(config.table_name("hosts"))
            raws.append(time.perf_counter() - started)
        tick_s, raw_s = min(ticks), min(raws)
        print(f"hosts in active rollouts: {items} ({PROJECTS} projects)")
        print(f"tick outcome: {outcome['rollouts']}")
        print(f"calls in one tick: {tick_calls}")
        print(f"tick: {tick_s:.3f}s (best of {RUNS})   raw Query of the same items: {raw_s:.3f}s"
              f"   ratio {tick_s / raw_s:.2f}x")
        assert items == PROJECTS * HOSTS_PER_PROJECT
        assert "dynamodb:Scan" not in tick_calls, tick_calls
        assert tick_s <= 2 * raw_s, f"tick {tick_s:.3f}s > 2x raw Query {raw_s:.3f}s"
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    hosts() if "--hosts" in sys.argv[1:] else fan_out()
