"""CloudWatch alarms stop a release: fired mid-bake or in the watch after the last wave, checked
at create/update, read once per tick in batches, never "all clear" when CloudWatch fails.

The alarms live in the suite's moto server and are flipped with ``SetAlarmState``, as a user
does on the local stack with ``aws cloudwatch set-alarm-state --endpoint-url ...``. Hosts are
simulated (``tests/support/fleet.py``); time moves by passing ``now`` to the tick.
"""
import contextlib
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import base_project, boto_client
from tests.support.fleet import (Fleet, create, events_of, hosts_named, put, ready_release,
                                 rollout_of, tick)

HOSTS = hosts_named("api", 5)


@pytest.fixture
def five(signed_client):
    return Fleet(signed_client, HOSTS)


def alarm(state="OK", reason="test setup"):
    """A new CloudWatch alarm in the emulator (unique name), set to ``state``."""
    name = f"fabu-test-{uuid.uuid4().hex[:10]} p99 latency"
    boto_client("cloudwatch").put_metric_alarm(
        AlarmName=name, MetricName="Latency", Namespace="Shop", Statistic="Average", Period=60,
        EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    flip(name, state, reason)
    return name


def flip(name, state, reason="flipped by the test"):
    boto_client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


@contextlib.contextmanager
def cloudwatch_failing(code="Throttling", message="Rate exceeded"):
    """Every DescribeAlarms of fabu's CloudWatch client fails (a hook at the AWS boundary);
    yields the list of refused calls."""
    from chalicelib.rollout import alarms
    refused = []

    def refuse(**_):
        refused.append(code)
        raise ClientError({"Error": {"Code": code, "Message": message}}, "DescribeAlarms")
    events = alarms.client().meta.events
    events.register("before-call.cloudwatch.DescribeAlarms", refuse)
    try:
        yield refused
    finally:
        events.unregister("before-call.cloudwatch.DescribeAlarms", refuse)


@contextlib.contextmanager
def counted_calls():
    """The DescribeAlarms calls fabu's CloudWatch client makes (each with its names)."""
    from chalicelib.rollout import alarms
    calls = []

    def count(params, **_):
        calls.append(list(params.get("AlarmNames", [])))
    events = alarms.client().meta.events
    events.register("provide-client-params.cloudwatch.DescribeAlarms", count)
    try:
        yield calls
    finally:
        events.unregister("provide-client-params.cloudwatch.DescribeAlarms", count)


def _succeed_first_version(api, five, **rollout):
    create(api, HOSTS, name="shop", rollout=dict({"waves": [1, "100%"], "canary_hosts": HOSTS[:1]},
                                                 **rollout))
    for _ in range(2):
        tick()
        five.round()
    assert tick(120)["rollouts"]["shop"] == "succeeded"
    assert five.at("1.0.0", "shop") == HOSTS


def test_an_alarm_fired_mid_bake_rolls_a_five_host_rollout_back(api, five):
    _succeed_first_version(api, five)
    latency = alarm()
    put(api, name="shop", version="2.0.0", rollout={"alarms": [latency], "bake_seconds": 600})
    tick()
    assert [h for h, _ in five.round()] == HOSTS[:1]          # the canary deploys 2.0.0
    tick(10)
    baking = rollout_of(api, "shop")
    assert baking["reason"].startswith("wave 0 done: baking until")
    assert baking["watching"]["alarms"] == [{"name": latency, "state": "OK", "reason": "test setup"}]
    flip(latency, "ALARM", "Threshold Crossed: 3 datapoints were greater than 1.0")
    assert tick(120)["rollouts"]["shop"] == "rolling_back"
    fired = events_of("shop", "rollout.alarm")
    assert len(fired) == 1
    assert fired[0]["detail"] == dict(fired[0]["detail"], alarm=latency, state="ALARM", wave=0,
                                      state_reason="Threshold Crossed: 3 datapoints were greater than 1.0")
    halted = events_of("shop", "rollout.halted")[0]
    assert latency in halted["message"] and "rolling back to 1.0.0" in halted["message"]
    five.round()                                              # the canary goes back
    assert tick(180)["rollouts"]["shop"] == "rolled_back"
    assert five.at("1.0.0", "shop") == HOSTS
    assert {host for host, _, version, _, _ in five.handed if version == "2.0.0"} == {HOSTS[0]}


def test_the_last_wave_is_watched_before_the_rollout_succeeds(api, five):
    calm = alarm("INSUFFICIENT_DATA")
    create(api, HOSTS, name="shop", rollout={"alarms": [calm], "alarm_watch_seconds": 300})
    tick()
    five.round()
    tick(5)
    watching = rollout_of(api, "shop")
    assert watching["state"] == "running"                     # INSUFFICIENT_DATA is not ALARM
    assert watching["reason"].startswith("watching alarms until ")
    shown = watching["watching"]
    assert shown["alarms"][0]["state"] == "INSUFFICIENT_DATA"
    assert shown["window_seconds"] == 300 and 280 <= shown["seconds_left"] <= 305
    assert shown["until"] in watching["reason"]
    assert tick(200)["rollouts"]["shop"] == "running"
    assert tick(320)["rollouts"]["shop"] == "succeeded"
    told = [e for e in events_of("shop", "rollout.waiting") if e["message"].startswith("watching")]
    assert len(told) == 1                                     # told once


def test_an_alarm_in_the_watch_halts_when_there_is_nothing_to_roll_back_to(api, five):
    errors = alarm()
    create(api, HOSTS, name="shop", rollout={"alarms": [errors]})   # watch: bake 0 → 60 s
    tick()
    five.round()
    tick(5)
    flip(errors, "ALARM", "5xx above 2%")
    assert tick(30)["rollouts"]["shop"] == "halted"
    rollout = rollout_of(api, "shop")
    assert rollout["reason"] == (f"alarm {errors} is in ALARM: 5xx above 2%; no previous good "
                                 "version to roll back to")


def test_an_alarm_already_in_alarm_holds_wave_0_and_refuses_a_promote(api, five):
    burning = alarm("ALARM", "incident in progress")
    create(api, HOSTS, name="shop", ready=False, rollout={"alarms": [burning]})
    ready_release("shop", "1.0.0")
    tick()
    held = rollout_of(api, "shop")
    assert held["state"] == "waiting_release"
    assert held["reason"] == f"holding: alarm {burning} is in ALARM; wave 0 starts once it is not"
    assert five.round() == []
    refused = api.post("/api/v1/project/shop/promote")
    assert refused.status == 409 and burning in refused.json["error"]
    flip(burning, "OK")
    assert tick(60)["rollouts"]["shop"] == "running"


def test_a_missing_alarm_is_a_400_naming_it_at_create_and_update(api):
    real = alarm()
    body = base_project(name="shop", rollout={"alarms": [real, "no-such-alarm"]})
    response = api.post("/api/v1/project", body)
    assert response.status == 400
    assert set(response.json["fields"]) == {"rollout.alarms[1]"}
    assert "no-such-alarm" in response.json["fields"]["rollout.alarms[1]"]
    assert api.post("/api/v1/project", base_project(name="shop", rollout={"alarms": [real]})).status == 201
    response = api.put("/api/v1/project/shop", {"rollout": {"alarms": ["gone-too", real]}})
    assert response.status == 400 and set(response.json["fields"]) == {"rollout.alarms[0]"}
    bad = api.put("/api/v1/project/shop", {"rollout": {
        "alarms": [real, real, "", "tab\there"], "alarm_watch_seconds": 86401}})
    assert bad.status == 400
    assert set(bad.json["fields"]) == {"rollout.alarms", "rollout.alarms[2]", "rollout.alarms[3]",
                                       "rollout.alarm_watch_seconds"}
    many = api.put("/api/v1/project/shop", {"rollout": {"alarms": [f"a{i}" for i in range(11)]}})
    assert many.status == 400 and "at most 10" in many.json["fields"]["rollout.alarms"]
    settings = api.get("/api/v1/project/shop").json["rollout"]["settings"]
    assert settings["alarms"] == [real] and settings["alarm_watch_seconds"] is None


def test_cloudwatch_unreachable_at_create_is_a_503_with_retry_after(api):
    with cloudwatch_failing():
        response = api.post("/api/v1/project", base_project(name="shop", rollout={"alarms": ["x"]}))
    assert response.status == 503 and response.headers["Retry-After"]
    assert "Throttling" in response.json["error"]


def test_unreadable_alarms_hold_the_next_wave_without_delaying_other_projects(api, five):
    watched = alarm()
    create(api, HOSTS[:2], name="shop", rollout={"alarms": [watched], "waves": [1, "100%"],
                                                 "canary_hosts": HOSTS[:1]})
    create(api, HOSTS[2:], name="blog", rollout={"waves": [1, "100%"], "canary_hosts": HOSTS[2:3]})
    tick()
    five.round()
    with cloudwatch_failing() as refused:
        outcome = tick(10)
        tick(20)
    assert refused and outcome["alarms"]["unread"] == 1
    shop = rollout_of(api, "shop")
    assert shop["wave"] == 0 and shop["state"] == "running"
    assert shop["reason"] == ("holding: alarms could not be read (CloudWatch could not be read: "
                              "Throttling: Rate exceeded); no new wave until they are")
    assert shop["watching"]["alarms"][0]["state"] == "UNKNOWN"
    held = [e for e in events_of("shop", "rollout.waiting") if e["message"].startswith("holding")]
    assert len(held) == 1                                    # told once over two ticks
    assert rollout_of(api, "blog")["wave"] == 1              # the other project went on
    tick(30)
    assert rollout_of(api, "shop")["wave"] == 1              # read again: all clear, wave 1


def test_a_tick_reads_alarms_once_per_100_names_never_per_rollout_or_host(api, five):
    shared = [alarm() for _ in range(3)]
    for index, name in enumerate(("shop", "blog", "docs")):
        create(api, HOSTS[index:index + 1], name=name, rollout={"alarms": shared})
    with counted_calls() as calls:
        tick()
    assert len(calls) == 1 and sorted(calls[0]) == sorted(shared)
    from chalicelib.rollout import alarms
    names = shared + [f"never-created-{i}" for i in range(247)]
    with counted_calls() as calls:
        snapshot = alarms.Snapshot.read(names + shared)
    assert [len(c) for c in calls] == [100, 100, 50]
    assert {a.name for a in snapshot.found.values()} == set(shared)
    assert "does not exist" in snapshot.unread["never-created-0"]
