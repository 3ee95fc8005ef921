"""Bench: DynamoDB requests and latency of the host poll (``hosts.poll.poll``), the hot path.

Three fleets of 20 hosts each, every host in 1, 3 or 10 deployed projects (nothing pending, every
item already contacted), polled every 5 minutes for 6 simulated hours (72 polls a host, time
travel through ``now=``; the beat interval is the default ``FABU_HEARTBEAT_SECONDS`` = 3600).
Every DynamoDB request is counted through botocore's ``before-call`` event on the models'
clients; each poll's latency is timed next to a raw boto3 Query of the same partition.

Target: exactly 1 read (one Query) per poll, and writes only for the host's beat: at most 1/12
of a write per no-op poll per HOST whatever its number of projects (one write an hour), no item
write.

    .venv/bin/python bench/bench_poll.py            # starts its own moto server
    AWS_ENDPOINT_URL=http://127.0.0.1:4566 .venv/bin/python bench/bench_poll.py
"""
import collections
import datetime
import os
import statistics
import sys
import time

import _benchenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
HOSTS = 10
PROJECTS = (1, 3, 10)
HOURS = 6
POLL_EVERY = datetime.timedelta(minutes=5)
ROUNDS = int(datetime.timedelta(hours=HOURS) / POLL_EVERY)
READS = {"Query", "GetItem", "BatchGetItem", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
POLLS_PER_MONTH = 30 * 24 * 12
# DynamoDB on-demand, us-east-1 (docs/operations.md): per million read / write request units.
READ_PRICE, WRITE_PRICE = 0.125, 0.625
#: A beat is one UpdateItem of a < 1 KB item in no index: 1 write unit.
BEAT_WRU = 1


def _hosts(projects):
    return [f"h{i:03d}.p{projects}.poll.example.com" for i in range(HOSTS)]


def _seed(start):
    """Every host ran its projects' deploys and was first contacted three days before ``start``."""
    from chalicelib.models import HostState, wave_key
    seen = start - datetime.timedelta(days=3)
    with HostState.batch_write() as writer:
        for projects in PROJECTS:
            for host in _hosts(projects):
                for p in range(projects):
                    writer.save(HostState(host, f"poll-{p}", wave=0, status="succeeded",
                                          wave_key=wave_key(0, "succeeded", host),
                                          target_version="1.0.0", running_version="1.0.0",
                                          deploy_id=f"d-{host}-{p}", last_seen=seen))


def _count_calls():
    """``{operation: count}`` of every DynamoDB request of the hosts-table models, and a
    function that stops counting."""
    from chalicelib.hosts.beat import Beat
    from chalicelib.models import HostState
    calls = collections.Counter()

    def count(model, **kwargs):
        calls[model.name] += 1
    clients = {id(c): c for c in (m._get_connection().connection.client for m in (HostState, Beat))}
    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)

    def stop():
        for client in clients.values():
            client.meta.events.unregister("before-call.dynamodb", count)
    return calls, stop


def _raw_query(client, table, host):
    return client.query(TableName=table, KeyConditionExpression="#h = :h",
                        ExpressionAttributeNames={"#h": "host"},
                        ExpressionAttributeValues={":h": {"S": host}})["Items"]


def _run(projects, start, client, table):
    """Poll the hosts of ``projects`` projects for ``HOURS``; (calls, poll times, raw times)."""
    from chalicelib.hosts import poll as hosts
    calls, stop = _count_calls()
    polls, raws, pending = [], [], 0
    for round_number in range(ROUNDS):
        now = start + round_number * POLL_EVERY
        for host in _hosts(projects):
            began = time.perf_counter()
            pending += hosts.poll(host, now=now) is not None
            polls.append(time.perf_counter() - began)
            began = time.perf_counter()
            _raw_query(client, table, host)
            raws.append(time.perf_counter() - began)
    stop()
    assert pending == 0
    return dict(calls), polls, raws


def main():
    server = _benchenv.environment()
    try:
        import boto3
        from infra import stack
        from chalicelib import config
        stack.create_stack("fabubench", "local")
        start = datetime.datetime(2026, 11, 26, tzinfo=datetime.timezone.utc)
        _seed(start)
        client, table = boto3.client("dynamodb"), config.table_name("hosts")
        print(f"{HOSTS} hosts per fleet, a poll every {POLL_EVERY.seconds // 60} min for {HOURS} h "
              f"({ROUNDS} polls a host); beat every {config.heartbeat_seconds()} s")
        failures, all_polls, all_raws = [], [], []
        for projects in PROJECTS:
            calls, polls, raws = _run(projects, start, client, table)
            all_polls += polls
            all_raws += raws
            count = len(polls)
            reads = sum(n for name, n in calls.items() if name in READS)
            writes = sum(n for name, n in calls.items() if name in WRITES)
            per_poll = writes / count
            month = POLLS_PER_MONTH * per_poll * BEAT_WRU * WRITE_PRICE / 1e6
            print(f"{projects:>2} project(s) a host: {calls}  reads/poll {reads / count:.3f}  "
                  f"writes/poll/host {per_poll:.4f} (1/{1 / per_poll:.0f})  "
                  f"beat writes ${month:.6f} per host-month")
            if reads != count or calls.get("Query") != count:
                failures.append(f"{projects} projects: {reads} reads for {count} polls")
            if per_poll > 1 / 12:
                failures.append(f"{projects} projects: {per_poll:.4f} writes a poll > 1/12")
        poll_ms, raw_ms = statistics.median(all_polls) * 1000, statistics.median(all_raws) * 1000
        read_cost = POLLS_PER_MONTH * 0.5 * READ_PRICE / 1e6
        print(f"median latency: poll {poll_ms:.2f} ms   raw Query {raw_ms:.2f} ms   "
              f"ratio {poll_ms / raw_ms:.2f}x")
        print(f"per host-month ({POLLS_PER_MONTH} polls): ${read_cost:.6f} reads (0.5 RRU a "
              f"Query) + beats as above (12 x 24 x 30 / 12 = 720 UpdateItem x {BEAT_WRU} WRU)")
        if poll_ms > 3 * raw_ms:
            failures.append(f"median poll {poll_ms:.2f} ms > 3x raw Query {raw_ms:.2f} ms")
        assert not failures, failures
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
