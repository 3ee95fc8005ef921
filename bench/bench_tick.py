"""Bench: one rollout tick over 10,000 hosts in active rollouts, against a raw Query.

Seeds 4 projects x 2,500 hosts whose rollouts are running at their last wave (every host
released: some pending, some in progress, most succeeded), then runs ``rollout.tick.run`` while
counting every DynamoDB call through botocore's ``before-call`` event, and times a raw boto3
Query of the same items (the same ``project-index`` key conditions) in the same run.

Asserts: no ``Scan``; tick time <= 2x the raw Query. Prints the numbers. Measured on a loaded
2-CPU box against moto's server (which is slow on big index queries, hence the long times):
10 Queries + 8 UpdateItems, no Scan; tick 89.7 s vs raw Query 55.7 s, ratio 1.61x.

    .venv/bin/python bench/bench_tick.py            # starts its own moto server
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 .venv/bin/python bench/bench_tick.py
"""
import collections
import datetime
import os
import sys
import time

import _benchenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
PROJECTS = 4
HOSTS_PER_PROJECT = 2500
RUNS = 3


def _seed(now):
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


def _count_calls():
    from chalicelib.models import ALL_MODELS
    calls = collections.Counter()

    def count(model, **kwargs):
        calls[model.name] += 1
    clients = {id(m._get_connection().connection.client): m._get_connection().connection.client
               for m in ALL_MODELS}
    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)
    return calls


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


def _patient_clients():
    """The emulator is slow on big index queries: allow it more than the Lambda's 15 s."""
    from chalicelib.models import ALL_MODELS
    for model in ALL_MODELS:
        model.Meta.read_timeout_seconds = 300
        model._connection = None


def main():
    server = _benchenv.environment()
    try:
        from infra import stack
        _patient_clients()
        from chalicelib import config
        from chalicelib.rollout import tick
        stack.create_stack("fabubench", "local")
        now = datetime.datetime.now(datetime.timezone.utc)
        _seed(now)
        calls = _count_calls()
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
        print(f"DynamoDB calls in one tick: {tick_calls}")
        print(f"tick: {tick_s:.3f}s (best of {RUNS})   raw Query of the same items: {raw_s:.3f}s"
              f"   ratio {tick_s / raw_s:.2f}x")
        assert items == PROJECTS * HOSTS_PER_PROJECT
        assert "Scan" not in tick_calls, tick_calls
        assert tick_s <= 2 * raw_s, f"tick {tick_s:.3f}s > 2x raw Query {raw_s:.3f}s"
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
