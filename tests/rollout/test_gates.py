"""Approval gates: a wave waits for its gate's 2xx (and pauses at the deadline); the after gate
hears each rollout's outcome through the notify queue."""
import datetime

import pytest

from tests.support.receiver import Receiver, notify_runner
from tests.conftest import base_project

SECRET = "gate-secret"
T0 = datetime.datetime(2026, 11, 5, 9, 0, tzinfo=datetime.timezone.utc)
ROLLOUT_ID = "20261105T085500.000000Z-abc123"


def _later(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


@pytest.fixture
def rollout_between_waves(api):
    """``make(gates)``: project ``web`` with those gates and its rollout done with wave 0 of 2."""
    from chalicelib.models import Rollout

    def make(gates):
        assert api.post("/api/v1/project", base_project(gates=gates)).status == 201
        for old in Rollout.query("web"):
            old.delete()  # the engine's own rollout of 1.0.0: replaced by a known fixture
        Rollout("web", ROLLOUT_ID, version="2.0.0", previous_version="1.0.0", state="running",
                waves=[1, 3], wave=0, settings={"waves": [1, "100%"]}).save()
        return lambda: Rollout.get("web", ROLLOUT_ID)
    return make


def _kinds(project="web"):
    from chalicelib import events
    return [e["kind"] for e in events.page(project, limit=100, newest_first=False)[0]]


def _gate(receiver, **extra):
    return {"before_wave": dict({"url": receiver.url, "secret": SECRET, "timeout_seconds": 1}, **extra)}


def test_a_gate_that_says_no_then_yes_releases_the_wave(rollout_between_waves):
    from chalicelib.rollout import gates
    with Receiver(SECRET, plan=[403]) as receiver:
        load = rollout_between_waves(_gate(receiver))
        first = gates.check_before_wave(load(), 1, T0)
        assert not first.ok and not first.pause
        assert "waiting for approval gate http://127.0.0.1" in first.reason
        assert load().reason == first.reason  # what the project view shows meanwhile
        ok, reason = gates.check_before_wave(load(), 1, _later(60))
    assert ok and "HTTP 200" in reason
    assert load().gate is None
    bodies = [r["body"] for r in receiver.requests]
    assert [b["wave"] for b in bodies] == [1, 1] and bodies[0]["hosts"] == 3
    assert bodies[1]["waiting_since"] == "2026-11-05T09:00:00Z"  # the first attempt is remembered
    assert all(r["signature_ok"] for r in receiver.requests)
    assert _kinds()[-2:] == ["gate.waiting", "gate.approved"]


def test_a_gate_that_keeps_refusing_pauses_the_rollout_at_its_deadline(api, rollout_between_waves):
    from chalicelib.rollout import gates
    with Receiver(SECRET, default=403) as receiver:
        load = rollout_between_waves(_gate(receiver, deadline_seconds=120))
        assert not gates.check_before_wave(load(), 1, T0).pause
        assert not gates.check_before_wave(load(), 1, _later(60)).pause
        verdict = gates.check_before_wave(load(), 1, _later(120))
        assert not verdict.ok and verdict.pause
        assert gates.hold(load(), verdict) == "paused"
        paused = load()
        assert paused.state == "paused" and paused.resume_state == "running"
        assert paused.reason == verdict.reason
        assert "did not approve wave 1 by 2026-11-05T09:02:00Z (last answer: HTTP 403)" in verdict.reason
        assert _kinds().count("gate.waiting") == 1  # one event per wait, not one per tick
        assert _kinds()[-2:] == ["gate.expired", "rollout.paused"]
        # An operator's resume starts a fresh wait rather than pausing again at once.
        assert api.post("/api/v1/project/web/resume").status == 200
        again = gates.check_before_wave(load(), 1, _later(600))
    assert not again.ok and not again.pause and "until 2026-11-05T09:12:00Z" in again.reason


def test_a_gate_that_does_not_answer_in_time_counts_as_no(rollout_between_waves):
    from chalicelib import events
    from chalicelib.rollout import gates
    with Receiver(SECRET, plan=["timeout"], hang_seconds=2) as receiver:
        load = rollout_between_waves(_gate(receiver))
        verdict = gates.check_before_wave(load(), 1, T0)
    assert not verdict.ok and not verdict.pause
    waiting = [e for e in events.page("web", limit=5)[0] if e["kind"] == "gate.waiting"][0]
    assert waiting["detail"]["answer"] == "no answer within 1 s"


def test_without_a_gate_a_wave_goes_at_once_with_no_request_and_no_write(rollout_between_waves):
    from chalicelib.rollout import gates
    load = rollout_between_waves({})
    before = load()
    assert gates.check_before_wave(before, 1, T0) == (True, None)
    assert load().seq == before.seq


def test_the_after_gate_hears_the_outcome_and_summary_with_retries(aws, rollout_between_waves, monkeypatch):
    from chalicelib import events
    with Receiver(SECRET, plan=[500]) as receiver:
        rollout_between_waves({"after": {"url": receiver.url, "secret": SECRET}})
        events.record("web", "rollout.succeeded", "fabu:tick",
                      {"rollout_id": ROLLOUT_ID, "version": "2.0.0", "failed": 0, "hosts": 4},
                      message="rollout of 2.0.0 succeeded")
        assert receiver.requests == []  # not inline: through the notify queue
        notify_runner(aws["resources"], monkeypatch)()
    assert [r["answer"] for r in receiver.requests] == [500, 200]
    body = receiver.accepted[0]
    assert body["kind"] == "gate.after" and body["outcome"] == "succeeded"
    assert body["rollout_id"] == ROLLOUT_ID and body["summary"]["id"] == ROLLOUT_ID
    assert body["summary"]["waves"][1]["size"] == 3
    assert all(r["signature_ok"] for r in receiver.requests)


def test_a_pause_and_resume_while_waiting_starts_a_new_wait(api, rollout_between_waves):
    from chalicelib.rollout import gates
    with Receiver(SECRET, default=403) as receiver:
        load = rollout_between_waves(_gate(receiver, deadline_seconds=120))
        assert not gates.check_before_wave(load(), 1, T0).pause
        assert api.post("/api/v1/project/web/pause").status == 200
        assert api.post("/api/v1/project/web/resume").status == 200
        verdict = gates.check_before_wave(load(), 1, _later(300))
    assert not verdict.ok and not verdict.pause  # the old deadline (09:02) no longer applies
    assert "until 2026-11-05T09:07:00Z" in verdict.reason


def test_the_engine_holds_a_wave_until_its_gate_approves(api, signed_client):
    """Through the tick: the gate refuses, the canary wave waits; it approves, the wave starts."""
    from tests.support.fleet import Fleet, ready_release
    from chalicelib.rollout import tick
    hosts = ["g-1.example.com", "g-2.example.com"]
    with Receiver(SECRET, plan=[503]) as receiver:
        body = base_project(hosts=hosts, gates=_gate(receiver), rollout={"waves": [1, "100%"]})
        assert api.post("/api/v1/project", body).status == 201
        ready_release("web", "1.0.0")
        tick.run()
        held = api.get("/api/v1/project/web").json["rollout"]
        assert held["state"] == "waiting_release"
        assert "waiting for approval gate" in held["reason"]
        fleet = Fleet(signed_client, hosts)
        assert all(fleet.poll(h) == [] for h in hosts)  # nothing released while the gate says no
        tick.run()
        assert api.get("/api/v1/project/web").json["rollout"]["state"] == "running"
        assert sum(len(fleet.poll(h)) for h in hosts) == 1  # the canary wave only
    assert [r["body"]["wave"] for r in receiver.requests] == [0, 0]
