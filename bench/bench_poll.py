"""Bench: DynamoDB requests and latency of the host poll (``hosts.poll.poll``), the hot path.

Seeds 50 hosts with 2 deployed projects each (nothing pending), then makes 1,000 polls: 20
rounds of every host, each round 5 minutes later than the one before (time travel through
``now=``; the heartbeat interval stays the default 15 minutes). Every DynamoDB request is
counted through botocore's ``before-call`` event on the models' client; each poll's latency is
timed next to a raw boto3 Query of the same partition in the same run.

Expected: exactly 1 read (one Query) per poll, and writes only for the amortised heartbeat:
one per item every 15 minutes, i.e. about 1/3 of a write per item per 5-minute poll.

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
HOSTS = 50
PROJECTS_PER_HOST = 2
ROUNDS = 20
POLL_EVERY = datetime.timedelta(minutes=5)
READS = {"Query", "GetItem", "BatchGetItem", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
POLLS_PER_MONTH = 30 * 24 * 12
# DynamoDB on-demand, us-east-1 (docs/operations.md): per million read / write request units.
READ_PRICE, WRITE_PRICE = 0.125, 0.625


def _hosts():
    return [f"h{i:03d}.poll.example.com" for i in range(HOSTS)]


def _seed(start):
    """Every host ran both projects' deploys and was last seen at ``start``."""
    from chalicelib.models import HostState, wave_key
    with HostState.batch_write() as writer:
        for host in _hosts():
            for p in range(PROJECTS_PER_HOST):
                writer.save(HostState(host, f"poll-{p}", wave=0, status="succeeded",
                                      wave_key=wave_key(0, "succeeded", host),
                                      target_version="1.0.0", running_version="1.0.0",
                                      deploy_id=f"d-{host}-{p}", last_seen=start))


def _count_calls():
    from chalicelib.models import HostState
    calls = collections.Counter()

    def count(model, **kwargs):
        calls[model.name] += 1
    HostState._get_connection().connection.client.meta.events.register("before-call.dynamodb", count)
    return calls


def _raw_query(client, table, host):
    return client.query(TableName=table, KeyConditionExpression="#h = :h",
                        ExpressionAttributeNames={"#h": "host"},
                        ExpressionAttributeValues={":h": {"S": host}})["Items"]


def main():
    server = _benchenv.environment()
    try:
        import boto3
        from infra import stack
        from chalicelib import config
        from chalicelib.hosts import poll as hosts
        stack.create_stack("fabubench", "local")
        start = datetime.datetime(2026, 11, 26, tzinfo=datetime.timezone.utc)
        _seed(start)
        calls = _count_calls()
        client, table = boto3.client("dynamodb"), config.table_name("hosts")
        polls, raws, pending = [], [], 0
        for round_number in range(ROUNDS):
            now = start + round_number * POLL_EVERY
            for host in _hosts():
                began = time.perf_counter()
                pending += hosts.poll(host, now=now) is not None
                polls.append(time.perf_counter() - began)
                began = time.perf_counter()
                _raw_query(client, table, host)
                raws.append(time.perf_counter() - began)
        count = len(polls)
        reads = sum(n for name, n in calls.items() if name in READS)
        writes = sum(n for name, n in calls.items() if name in WRITES)
        per_item = writes / (count * PROJECTS_PER_HOST)
        poll_ms, raw_ms = statistics.median(polls) * 1000, statistics.median(raws) * 1000
        read_cost = POLLS_PER_MONTH * reads / count * READ_PRICE / 1e6
        write_cost = POLLS_PER_MONTH * writes / count * WRITE_PRICE / 1e6
        print(f"{count} polls ({HOSTS} hosts x {ROUNDS} rounds, every {POLL_EVERY.seconds // 60} "
              f"min; {PROJECTS_PER_HOST} items a host; heartbeat {config.heartbeat_seconds()}s)")
        print(f"DynamoDB requests: {dict(calls)}")
        print(f"reads/poll: {reads / count:.3f}   writes/poll: {writes / count:.3f}   "
              f"writes/item/poll: {per_item:.3f} (amortised heartbeat)")
        print(f"median latency: poll {poll_ms:.2f} ms   raw Query {raw_ms:.2f} ms   "
              f"ratio {poll_ms / raw_ms:.2f}x")
        print(f"per host-month ({POLLS_PER_MONTH} polls, 1 unit a request): ${read_cost:.6f} reads "
              f"+ ${write_cost:.6f} writes")
        assert pending == 0
        assert calls["Query"] == count and reads == count, calls
        expected_writes = HOSTS * PROJECTS_PER_HOST * ((ROUNDS - 1) // 3)   # every 15 minutes
        assert writes == expected_writes, (writes, expected_writes)
        assert poll_ms <= 3 * raw_ms, f"median poll {poll_ms:.2f} ms > 3x raw Query {raw_ms:.2f} ms"
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
