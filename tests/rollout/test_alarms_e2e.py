"""End to end: a CloudWatch alarm stops a release after its canary, on hosts running the real agent.

The API is ``chalice local`` over HTTP (``live``), four sandbox hosts run ``agent/fabu-agent.sh``
as cron would, ``live.tick()`` runs the scheduled tick, and the alarm lives in the suite's
emulator, flipped with ``SetAlarmState`` (what ``aws cloudwatch set-alarm-state --endpoint-url``
does on the local stack). Version 2.0.0's canary deploys and passes every check; then the alarm
fires during the bake: the rollout halts, rolls the canary back, and the other hosts never see 2.0.0.
"""
import uuid

import pytest

from tests.conftest import boto_client
from tests.support.sandbox import (SandboxHost, events_of, project_body, project_view,
                                   stored_release)

HOSTS = [f"alarm-e2e-{i}.example.com" for i in range(4)]


@pytest.fixture
def fleet(live, tmp_path):
    return [SandboxHost(tmp_path / name, live, name) for name in HOSTS]


def _run_all(fleet):
    for host in fleet:
        host.run_agent()


def _rollout(live):
    return project_view(live, "shop")["rollout"]


def test_an_alarm_stops_the_rollout_after_its_canary_and_rolls_it_back(live, fleet):
    cloudwatch = boto_client("cloudwatch")
    name = f"shop-5xx-{uuid.uuid4().hex[:8]}"
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="5xx", Namespace="Shop",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=10,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="quiet")
    stored_release("shop", "1.0.0")
    body = project_body("shop", "1.0.0", HOSTS, rollout={"waves": [1, "100%"],
                                                         "canary_hosts": HOSTS[:1]})
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    for _ in range(2):
        live.tick()
        _run_all(fleet)
    live.tick()
    assert _rollout(live)["state"] == "succeeded"

    stored_release("shop", "2.0.0")
    missing = live.request("PUT", "/api/v1/project/shop", {"rollout": {"alarms": ["no-such"]}})
    assert missing.status_code == 400 and "rollout.alarms[0]" in missing.json()["fields"]
    update = {"version": "2.0.0", "rollout": {"alarms": [name], "bake_seconds": 3600}}
    assert live.request("PUT", "/api/v1/project/shop", update).status_code == 200
    live.tick()
    _run_all(fleet)                                   # the canary deploys 2.0.0, checks pass
    assert [h.current_version("shop") for h in fleet] == ["2.0.0"] + ["1.0.0"] * 3
    live.tick()
    baking = _rollout(live)
    assert baking["state"] == "running" and baking["reason"].startswith("wave 0 done: baking")
    assert baking["watching"]["alarms"][0]["state"] == "OK"

    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM",
                               StateReason="Threshold Crossed: 42 errors in 1 minute")
    live.tick()
    rollout = _rollout(live)
    assert (rollout["state"], rollout["rollback_to"]) == ("rolling_back", "1.0.0")
    assert name in rollout["reason"]
    _run_all(fleet)                                   # the canary goes back
    live.tick()
    assert _rollout(live)["state"] == "rolled_back"
    assert [h.current_version("shop") for h in fleet] == ["1.0.0"] * 4
    assert not any((h.root / "shop" / "releases" / "2.0.0").exists() for h in fleet[1:])
    assert events_of(live, "shop").count("rollout.alarm") == 1
    listed = live.request("GET", "/api/v1/project/shop/events?limit=200").json()["events"]
    fired = [e for e in listed if e["kind"] == "rollout.alarm"][0]
    assert (fired["detail"]["alarm"], fired["detail"]["state"]) == (name, "ALARM")
    assert fired["detail"]["state_reason"] == "Threshold Crossed: 42 errors in 1 minute"
