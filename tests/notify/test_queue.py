"""Which events are queued for delivery, and that queuing is all the writer does."""
import json

import pytest

from tests.conftest import boto_client, drain


@pytest.mark.parametrize("kind, delivered", [
    ("project.created", True), ("rollout.anything_new", True), ("gate.expired", True),
    ("notify.failed", True), ("host.blocked", True),
    ("rollout.waiting", False), ("host.succeeded", False), ("build.retrying", False),
    ("test.step", False), ("rollout", False), ("hostile.failed", False),
])
def test_wanted_is_the_documented_list_minus_the_noise(kind, delivered):
    from chalicelib.notify import queue
    assert queue.wanted(kind) is delivered


@pytest.mark.parametrize("kind, delivered", [
    ("rollout.halted", True), ("rollout.wave_started", True), ("host.failed", True),
    ("host.message", True), ("build.failed", True), ("gate.waiting", True),
    ("host.succeeded", False), ("rollout.waiting", False), ("build.started", False),
])
def test_only_events_worth_telling_are_queued(aws, kind, delivered):
    from chalicelib import events
    events.record("web", kind, "tester", {"version": "1.0.0"})
    queued = [json.loads(m["Body"])["event"]["kind"]
              for m in drain(boto_client("sqs"), aws["resources"]["NotifyQueue"])]
    assert queued == ([kind] if delivered else [])


def test_a_queue_that_cannot_be_reached_never_fails_the_writer(aws, monkeypatch):
    from chalicelib import events
    from chalicelib.models import Event
    from chalicelib.notify import queue
    queue.queue_url.cache_clear()
    monkeypatch.setenv("FABU_PREFIX", "nowhere")  # no such queue: get_queue_url fails
    try:
        stored = events.record("web", "rollout.halted", "tester")
    finally:
        queue.queue_url.cache_clear()
    monkeypatch.setenv("FABU_PREFIX", "fabu")
    assert Event.get("web", stored["id"]).kind == "rollout.halted"
    assert drain(boto_client("sqs"), aws["resources"]["NotifyQueue"]) == []
