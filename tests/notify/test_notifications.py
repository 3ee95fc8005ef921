"""Notifications: events queued off the hot path, delivered to SNS and signed webhooks, in order,
with retries, and a visible give-up (a ``notify.failed`` event and the dead-letter queue)."""
import json

import pytest

from tests.support.receiver import Receiver, notify_runner, stage_topic, topic_observers
from tests.conftest import base_project, boto_client, drain

SECRET = "s3cret-for-tests"


@pytest.fixture
def ticker(aws, monkeypatch):
    return notify_runner(aws["resources"], monkeypatch)


@pytest.fixture
def observe():
    yield from topic_observers()


def _delivered_events(project):
    """The project's stored events that the notifier delivers, oldest first."""
    from chalicelib import events
    from chalicelib.notify import queue
    items, _ = events.page(project, limit=200, newest_first=False)
    return [e for e in items if queue.wanted(e["kind"])]


def _hooked(name, receiver, **extra):
    return base_project(name=name, notify={"webhooks": [dict({"url": receiver.url, "secret": SECRET,
                                                              "timeout_seconds": 1}, **extra)]})


def test_timeouts_and_500s_are_retried_and_no_event_is_lost_or_reordered(api, ticker):
    with Receiver(SECRET, plan=[500, "timeout", 500], hang_seconds=2) as receiver:
        assert api.post("/api/v1/project", _hooked("web", receiver)).status == 201
        assert api.post("/api/v1/project", _hooked("api", receiver)).status == 201
        for version in ("1.1.0", "1.2.0"):
            assert api.put("/api/v1/project/web", {"version": version}).status == 200
            assert api.put("/api/v1/project/api", {"version": version}).status == 200
        ticker()
        for project in ("web", "api"):
            expected = [e["id"] for e in _delivered_events(project)]
            got = [b["id"] for b in receiver.accepted if b["project"] == project]
            deduped = [i for n, i in enumerate(got) if i not in got[:n]]
            assert len(expected) >= 5
            assert deduped == expected  # all delivered, in the order they happened
        answers = [r["answer"] for r in receiver.requests]
        assert answers[:3] == [500, "timeout", 500]
        assert all(r["signature_ok"] for r in receiver.requests)


def test_a_webhook_body_is_slack_compatible_signed_and_carries_the_event(api, ticker):
    with Receiver(SECRET) as receiver:
        api.post("/api/v1/project", _hooked("web", receiver))
        ticker()
    request = receiver.requests[0]
    body = request["body"]
    assert body["text"].startswith(":information_source: [web] ")
    assert body["kind"] == "project.created" and body["event"]["id"] == body["id"]
    assert {"title": "project", "value": "web", "short": True} in body["attachments"][0]["fields"]
    assert request["headers"]["X-Fabu-Event-Id"] == body["id"]
    assert request["signature_ok"]


def test_the_stage_secret_signs_webhooks_without_their_own(api, ticker):
    from tests.conftest import STAGE_ENV
    with Receiver(STAGE_ENV["FABU_WEBHOOK_SECRET"]) as receiver:
        api.post("/api/v1/project", base_project(notify={"webhooks": [receiver.url]}))
        ticker()
    assert receiver.requests and all(r["signature_ok"] for r in receiver.requests)


def test_a_webhook_that_never_answers_2xx_ends_in_the_dlq_and_a_visible_event(aws, api, ticker, observe):
    stage = observe(stage_topic())
    with Receiver(SECRET, default=500) as receiver:
        api.post("/api/v1/project", _hooked("web", receiver))
        ticker()
    created = _delivered_events("web")[0]
    assert sum(1 for r in receiver.requests if r["body"]["id"] == created["id"]) == 5
    dead = [json.loads(m["Body"])["event"]["id"] for m in drain(boto_client("sqs"),
                                                               aws["resources"]["NotifyDeadLetterQueue"])]
    assert created["id"] in dead
    from chalicelib import events
    failed = [e for e in events.page("web", limit=100)[0] if e["kind"] == "notify.failed"]
    assert created["id"] in {e["detail"]["event_id"] for e in failed}
    assert "answered HTTP 500" in failed[0]["message"]
    kinds = [m["kind"] for m in stage() if isinstance(m, dict)]
    assert "notify.failed" in kinds  # the give-up reaches the operators' topic, not the webhook
    assert all(r["body"]["kind"] != "notify.failed" for r in receiver.requests)


def test_the_api_never_waits_on_delivery(api, ticker):
    with Receiver(SECRET) as receiver:
        assert api.post("/api/v1/project", _hooked("web", receiver)).status == 201
        assert api.put("/api/v1/project/web", {"version": "2.0.0"}).status == 200
        assert receiver.requests == []  # nothing is sent from the request path...
        ticker()
    assert len(receiver.accepted) == len(_delivered_events("web")) >= 2  # ...only by the notifier


def test_stage_and_project_topics_hear_every_delivered_event(aws, api, ticker, observe):
    topic = boto_client("sns").create_topic(Name="team-web")["TopicArn"]
    stage, team = observe(stage_topic()), observe(topic)
    api.post("/api/v1/project", base_project(notify={"sns_topic_arn": topic}))
    ticker()
    expected = [e["id"] for e in _delivered_events("web")]
    assert [m["id"] for m in team()] == expected
    assert [m["id"] for m in stage() if m.get("project") == "web"] == expected


def test_a_webhook_secret_that_cannot_be_read_is_given_up_visibly(api, ticker):
    """Bug fixed: the unreadable reference escaped ``deliver``, so no ``notify.failed`` was recorded."""
    with Receiver(SECRET) as receiver:
        hook = {"url": receiver.url, "secret": "ssm:/fabu/missing", "timeout_seconds": 1}
        assert api.post("/api/v1/project", base_project(notify={"webhooks": [hook]})).status == 201
        ticker()
    assert receiver.requests == []  # never sent unsigned
    from chalicelib import events
    failed = [e for e in events.page("web", limit=100)[0] if e["kind"] == "notify.failed"]
    assert failed and "'ssm:/fabu/missing' does not exist" in failed[0]["message"]


def test_host_fabu_lines_become_events_and_deliveries(api, signed_client, ticker):
    from chalicelib.models import HostState, wave_key
    host = "web-1.example.com"
    with Receiver(SECRET) as receiver:
        api.post("/api/v1/project", _hooked("web", receiver))
        HostState(host, "web", wave=0, status="in_progress", wave_key=wave_key(0, "in_progress", host),
                  target_version="1.0.0", deploy_id="d-42", rollout_id="r-1").save()
        client = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/" + host)
        output = "checking\n::fabu::warn disk almost full\n::fabu::error cache cold\nfine\n"
        answer = client.post(f"/api/v1/{host}/report", {
            "project": "web", "version": "1.0.0", "deploy_id": "d-42", "phase": "pre-deploy",
            "status": "ok", "exit_code": 0, "output": output})
        assert answer.status == 200, answer
        ticker()
    messages = [b for b in receiver.accepted if b["kind"] == "host.message"]
    assert [(m["event"]["detail"]["level"], m["event"]["message"]) for m in messages] == [
        ("warn", "disk almost full"), ("error", "cache cold")]
    assert messages[0]["event"]["host"] == host and messages[0]["event"]["detail"]["deploy_id"] == "d-42"
    assert messages[0]["text"].startswith(f":warning: [web] {host} says (warn): disk almost full")


EVENT = {"project": "web", "id": "2026-11-04T08:01:02.123456Z#1a2b3c4d", "kind": "host.failed",
         "actor": "web-1", "host": "web-1", "message": "web-1 2.0.0: do-deploy failed",
         "detail": {"version": "2.0.0", "output_tail": "x" * 600}, "at": "2026-11-04T08:01:02.123456Z"}


def test_the_body_names_the_event_with_its_emoji_and_a_tail_of_the_output():
    from chalicelib.notify import notifications
    body = notifications.body_of(EVENT)
    assert body["text"] == ":x: [web] web-1 2.0.0: do-deploy failed (by web-1)"
    fields = {f["title"]: f for f in body["attachments"][0]["fields"]}
    assert fields["output (tail)"] == {"title": "output (tail)", "value": "x" * 500, "short": False}
    assert fields["version"]["value"] == "2.0.0" and body["event"] is EVENT
    quiet = dict(EVENT, kind="project.created", actor=None, message=None, host=None, detail={})
    assert notifications.body_of(quiet)["text"] == ":information_source: [web] project.created"
    assert "host" not in {f["title"] for f in notifications.body_of(quiet)["attachments"][0]["fields"]}


def test_the_after_gate_body_carries_the_summary_of_its_own_rollout_only():
    from chalicelib.notify import notifications
    event = dict(EVENT, kind="rollout.rolled_back", message="rollout of 2.0.0 rolled back",
                 detail={"rollout_id": "r-1", "version": "2.0.0"})
    body = notifications.after_body(event, {"id": "r-1", "state": "rolled_back"})
    assert (body["kind"], body["outcome"], body["rollout_id"], body["version"]) == (
        "gate.after", "rolled_back", "r-1", "2.0.0")
    assert body["summary"] == {"id": "r-1", "state": "rolled_back"} and body["id"] == event["id"]
    assert body["text"].startswith(":rewind: [web] rollout of 2.0.0 rolled back")
    assert notifications.after_body(event, {"id": "r-2"})["summary"] is None  # a newer rollout
    assert notifications.after_body(event, None)["summary"] is None
