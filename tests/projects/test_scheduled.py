"""Scheduled updates: ``apply_at`` keeps an update pending until the tick applies it."""
import datetime

from chalicelib import events
from chalicelib.projects import scheduled
from chalicelib.rollout import tick
from tests.conftest import base_project

UTC = datetime.timezone.utc


def test_scheduled_update_is_stored_as_pending_until_applied(api):
    api.post("/api/v1/project", base_project())
    response = api.put("/api/v1/project/web", {"version": "2.0.0", "apply_at": "2099-01-01T00:00:00Z"})
    assert response.status == 200
    shown = api.get("/api/v1/project/web").json
    assert shown["version"] == "1.0.0"
    assert shown["pending"]["changes"] == {"version": "2.0.0"}
    assert shown["pending"]["apply_at"] == "2099-01-01T00:00:00Z"
    applied = scheduled.apply_due_updates(datetime.datetime(2099, 1, 1, 0, 1, tzinfo=UTC))
    assert [p["id"] for p in applied] == ["web"]
    shown = api.get("/api/v1/project/web").json
    assert shown["version"] == "2.0.0" and shown["pending"] is None


def test_nothing_is_applied_before_its_time_and_the_tick_applies_it_once(api):
    api.post("/api/v1/project", base_project())
    api.put("/api/v1/project/web", {"hosts": ["web-1.example.com"], "apply_at": "2099-01-01T00:00:00Z"})
    assert scheduled.apply_due_updates(datetime.datetime(2098, 12, 31, 23, 59, tzinfo=UTC)) == []
    outcome = tick.run(datetime.datetime(2099, 1, 1, 0, 0, 30, tzinfo=UTC))
    assert outcome["applied_updates"] == ["web"]
    assert scheduled.apply_due_updates(datetime.datetime(2099, 1, 2, tzinfo=UTC)) == []
    shown = api.get("/api/v1/project/web").json
    assert shown["hosts"] == ["web-1.example.com"] and shown["updated_by"].endswith(":user/fabu-admin")
    items, _ = events.page("web", limit=20, newest_first=False)
    kinds = [e["kind"] for e in items]
    assert kinds.count("project.update_scheduled") == 1 and kinds.count("project.update_applied") == 1
    applied = next(e for e in items if e["kind"] == "project.update_applied")
    assert applied["actor"] == scheduled.SCHEDULER_ACTOR
    assert applied["message"] == "scheduled update applied"


def test_an_apply_at_in_the_past_applies_at_once(api):
    api.post("/api/v1/project", base_project())
    response = api.put("/api/v1/project/web", {"version": "1.1.0", "apply_at": "2020-01-01T00:00:00Z"})
    assert response.status == 200
    assert response.json["version"] == "1.1.0" and response.json["pending"] is None
