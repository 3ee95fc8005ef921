"""Bench: one tick with 1,000 active rollouts each watching 3 CloudWatch alarms.

Seeds 1,000 running rollouts (at the storage boundary: one project each, one finished wave, no
hosts left to release) whose ``rollout.alarms`` name 3 of 2,500 alarms in the emulator (3,000
names, some shared), then runs ``rollout.tick.run`` while counting every ``DescribeAlarms`` of
fabu's CloudWatch client (botocore's ``provide-client-params`` event). Baseline in the same run:
the same tick after the alarms are taken out of the rollouts' settings. Both ticks run with a 1 s budget,
so no rollout is driven: what is timed is the tick's own reads before driving (the active-index
Query, the freeze, the alarms), which is what the alarms add to; driving 1,000 rollouts on moto
takes longer than a tick's budget either way.

Asserts: at most 30 ``DescribeAlarms`` calls (one per 100 distinct names), every alarm read,
the tick's reads with alarms <= 3x without. Prints the numbers.

    .venv/bin/python bench/bench_alarms.py          # starts its own moto server
"""
import datetime
import os
import sys
import time

import _benchenv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
ROLLOUTS = 1000
ALARMS = 2500
PER_ROLLOUT = 3
MAX_CALLS = 30
MAX_RATIO = 3.0


def _alarm(i):
    return f"bench-alarm-{i:04d}"


def _seed(now):
    from chalicelib.models import Rollout
    from chalicelib.rollout import alarms
    from chalicelib.states import RolloutState
    client = alarms.client()
    for i in range(ALARMS):
        client.put_metric_alarm(AlarmName=_alarm(i), MetricName="Errors", Namespace="Bench",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanThreshold")
    with Rollout.batch_write() as writer:
        for p in range(ROLLOUTS):
            names = [_alarm((PER_ROLLOUT * p + k) % ALARMS) for k in range(PER_ROLLOUT)]
            writer.save(Rollout(f"bench-{p:04d}", "20261130T000000.000000Z-0001", version="2.0.0",
                                previous_version="1.0.0", state=RolloutState.RUNNING, wave=0,
                                waves=[1, 1], start_at=now, wave_started_at=now,
                                active_pk="active",
                                settings={"waves": [1, "100%"], "bake_seconds": 3600,
                                          "alarms": names, "depends_on": []}))


def _strip_alarms():
    from chalicelib.models import Rollout
    for p in range(ROLLOUTS):
        rollout = Rollout.get(f"bench-{p:04d}", "20261130T000000.000000Z-0001")
        rollout.update(actions=[Rollout.settings.set(dict(rollout.settings, alarms=[]))])


def _timed_tick(now, calls):
    from chalicelib.rollout import tick
    calls.clear()
    started = time.perf_counter()
    outcome = tick.run(now=now)
    return time.perf_counter() - started, outcome


def main():
    server = _benchenv.environment()
    os.environ["FABU_TICK_BUDGET_SECONDS"] = "1"
    import logging
    logging.getLogger("fabu.tick").setLevel(logging.ERROR)  # every rollout is "skipped": expected
    try:
        from infra import stack
        from chalicelib.rollout import alarms
        stack.create_stack("fabubench", "local")
        now = datetime.datetime.now(datetime.timezone.utc)
        _seed(now)
        calls = []
        alarms.client().meta.events.register(
            "provide-client-params.cloudwatch.DescribeAlarms",
            lambda params, **_: calls.append(len(params.get("AlarmNames", []))))
        _timed_tick(now + datetime.timedelta(seconds=30), calls)        # warm-up
        watched, outcome = _timed_tick(now + datetime.timedelta(seconds=60), calls)
        described = list(calls)
        skipped = len(outcome["skipped"]) + len(outcome["unfinished"])
        _strip_alarms()
        _timed_tick(now + datetime.timedelta(seconds=90), calls)        # warm-up without
        plain, plain_outcome = _timed_tick(now + datetime.timedelta(seconds=120), calls)
        ratio = watched / plain
        print(f"{ROLLOUTS} rollouts x {PER_ROLLOUT} alarms ({outcome['alarms']['names']} distinct "
              f"names): {len(described)} DescribeAlarms (limit {MAX_CALLS}), names per call "
              f"{described}, unread {outcome['alarms']['unread']}")
        print(f"tick's reads with alarms {watched:.2f} s vs without {plain:.2f} s: ratio "
              f"{ratio:.2f}x (limit {MAX_RATIO}x); rollouts left to the next tick: {skipped} / "
              f"{len(plain_outcome['skipped']) + len(plain_outcome['unfinished'])}")
        ok = len(described) <= MAX_CALLS and outcome["alarms"]["unread"] == 0 and ratio <= MAX_RATIO
        return 0 if ok else 1
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
