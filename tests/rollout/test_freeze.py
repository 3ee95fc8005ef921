"""The stage-wide freeze through the API: nothing starts a wave while frozen (rollbacks and
waves already released go on), thaw lets everything continue, ``until`` ends it by itself, and
a promote with ``override_freeze`` lets one wave through, recorded as such."""
import pytest

from tests.conftest import ADMIN_ARN, base_project
from tests.support.fleet import (Fleet, create, events_of, host_arn, hosts_named, later, put,
                                 rollout_of, tick)

HOSTS = hosts_named("app", 6)
FROZEN = f"frozen: end-of-year change freeze (by {ADMIN_ARN})"


@pytest.fixture
def six(signed_client):
    return Fleet(signed_client, HOSTS)


def _stage_events(kind):
    from chalicelib import events
    items, _ = events.page("fabu:stage", limit=100)
    return [e for e in items if e["kind"] == kind]


def _queued_kinds():
    """The kinds of the events waiting on the notify queue (drained)."""
    import json
    from tests.conftest import boto_client, drain
    from chalicelib import config
    from chalicelib.notify import queue
    messages = drain(boto_client("sqs"), queue.queue_url(config.notify_queue_name()))
    return [json.loads(m["Body"])["event"]["kind"] for m in messages]


def test_freeze_holds_every_wave_start_and_a_thaw_lets_them_continue(api, six):
    create(api, HOSTS[:3], name="shop", rollout={"waves": [1, "100%"], "canary_hosts": HOSTS[:1]})
    tick()
    assert [h for h, _ in six.round(HOSTS[:3])] == HOSTS[:1]
    _queued_kinds()                                           # drop what came before
    response = api.post("/api/v1/freeze", {"reason": "end-of-year change freeze"})
    assert response.status == 201
    assert response.json == {"frozen": True, "reason": "end-of-year change freeze", "by": ADMIN_ARN,
                             "since": response.json["since"], "until": None}
    assert "stage.frozen" in _queued_kinds()                  # told on the stage's topic
    shown = api.get("/api/v1/freeze").json
    assert shown["frozen"] is True and shown["history"][0]["kind"] == "stage.frozen"
    create(api, HOSTS[3:], name="blog")                       # a new project: wave 0 held
    tick(60)
    assert rollout_of(api, "blog")["state"] == "waiting_release"
    assert rollout_of(api, "blog")["reason"] == FROZEN
    shop = rollout_of(api, "shop")
    assert (shop["state"], shop["wave"], shop["reason"]) == ("running", 0, FROZEN)
    assert shop["watching"]["frozen"]["reason"] == "end-of-year change freeze"
    assert six.round() == []                                  # nobody deploys anything new

    thawed = api.delete("/api/v1/freeze")
    assert thawed.status == 200 and thawed.json["frozen"] is False
    assert api.delete("/api/v1/freeze").status == 404
    assert api.get("/api/v1/freeze").json["frozen"] is False
    assert [e["actor"] for e in _stage_events("stage.thawed")] == [ADMIN_ARN]
    tick(120)
    assert rollout_of(api, "shop")["wave"] == 1
    assert rollout_of(api, "blog")["state"] == "running"
    assert len(six.round()) == 5                              # shop's wave 1 and blog's hosts


def test_a_rollback_runs_while_frozen(api, six):
    create(api, HOSTS[:2], name="shop", rollout={"waves": [1, "100%"], "canary_hosts": HOSTS[:1]})
    for _ in range(2):
        tick()
        six.round(HOSTS[:2])
    assert tick(10)["rollouts"]["shop"] == "succeeded"
    put(api, name="shop", version="2.0.0")
    tick(20)
    six.round(HOSTS[:2])
    assert api.post("/api/v1/freeze", {"reason": "incident"}).status == 201
    assert api.post("/api/v1/project/shop/rollback").status == 200
    six.round(HOSTS[:2])
    assert tick(40)["rollouts"]["shop"] == "rolled_back"
    assert six.at("1.0.0", "shop") == HOSTS[:2]


def test_a_freeze_with_until_ends_by_itself_and_the_tick_records_the_thaw(api, six):
    until = later(600).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert api.post("/api/v1/freeze", {"reason": "release train", "until": until}).status == 201
    create(api, HOSTS[:1], name="shop")
    assert tick(300)["rollouts"]["shop"] == "waiting_release"
    outcome = tick(601)
    assert outcome["rollouts"]["shop"] == "running" and outcome["frozen"] is None
    thaw = _stage_events("stage.thawed")
    assert [(e["actor"], e["detail"]["expired"]) for e in thaw] == [("fabu:tick", True)]
    assert api.get("/api/v1/freeze").json["frozen"] is False


def test_a_freeze_override_lets_one_wave_through_and_is_recorded(api, six):
    create(api, HOSTS, name="shop", rollout={"waves": [1, 2, "100%"], "canary_hosts": HOSTS[:2]})
    tick()
    six.round()
    assert api.post("/api/v1/freeze", {"reason": "end-of-year change freeze"}).status == 201
    tick(60)
    refused = api.post("/api/v1/project/shop/promote")
    assert refused.status == 409
    assert "override_freeze=true" in refused.json["error"] and FROZEN in refused.json["error"]
    no_reason = api.post("/api/v1/project/shop/promote?override_freeze=true")
    assert no_reason.status == 400 and "reason" in no_reason.json["fields"]
    promoted = api.post("/api/v1/project/shop/promote?override_freeze=true&reason=hotfix%20CVE-2026-1")
    assert promoted.status == 200 and promoted.json["wave"] == 1
    override = events_of("shop", "rollout.freeze_override")
    assert len(override) == 1
    assert (override[0]["actor"], override[0]["detail"]["reason"]) == (ADMIN_ARN, "hotfix CVE-2026-1")
    assert override[0]["detail"]["freeze"]["reason"] == "end-of-year change freeze"
    assert [h for h, _ in six.round()] == HOSTS[1:2]          # only the promoted wave
    tick(120)
    shop = rollout_of(api, "shop")
    assert (shop["wave"], shop["reason"]) == (1, FROZEN)      # the next wave is frozen again


def test_freeze_requests_are_checked_and_freeze_is_no_host_name(api, signed_client):
    missing = api.post("/api/v1/freeze", {"until": later(60).strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert missing.status == 400 and set(missing.json["fields"]) == {"reason"}
    past = api.post("/api/v1/freeze", {"reason": "x", "until": "2020-01-01T00:00:00Z", "who": 1})
    assert past.status == 400 and set(past.json["fields"]) == {"until", "who"}
    assert api.post("/api/v1/freeze", {"reason": "first"}).status == 201
    again = api.post("/api/v1/freeze", {"reason": "second"})
    assert again.status == 409 and "first" in again.json["error"]
    replaced = api.post("/api/v1/freeze", {"reason": "second", "replace": True})
    assert replaced.status == 200 and replaced.json["reason"] == "second"
    assert [e["detail"]["replaced"] for e in _stage_events("stage.frozen")] == [True, False]
    host = signed_client(host_arn("web-1.example.com"))
    assert host.get("/api/v1/freeze").status == 403
    assert host.delete("/api/v1/freeze").status == 403
    named = api.post("/api/v1/project", base_project(hosts=["freeze"]))
    assert named.status == 400 and "hosts[0]" in named.json["fields"]
