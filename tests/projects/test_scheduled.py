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


# --- one scheduled update per project: show, refuse a second, replace, cancel, list -------------

LATER, LATEST = "2099-01-01T00:00:00Z", "2099-06-01T12:00:00Z"


def _kinds(project):
    items, _ = events.page(project, limit=50, newest_first=False)
    return items


def test_a_second_scheduled_update_is_refused_naming_the_first(api):
    api.post("/api/v1/project", base_project())
    assert api.put("/api/v1/project/web", {"version": "2.0.0", "apply_at": LATER}).status == 200
    second = api.put("/api/v1/project/web", {"version": "3.0.0", "apply_at": LATEST})
    assert second.status == 409
    assert LATER in second.json["error"] and "replace" in second.json["error"]
    assert "fabu-admin" in second.json["error"] and "version" in second.json["error"]
    assert "already scheduled for 2099-01-01T00:00:00Z" in second.json["fields"]["apply_at"]
    assert second.json["scheduled"]["changes"] == {"version": "2.0.0"}
    shown = api.get("/api/v1/project/web/scheduled").json["scheduled"]
    assert shown["changes"] == {"version": "2.0.0"} and shown["apply_at"] == LATER


def test_replace_in_the_query_or_the_body_replaces_the_waiting_update(api):
    api.post("/api/v1/project", base_project())
    api.put("/api/v1/project/web", {"version": "2.0.0", "apply_at": LATER})
    replaced = api.put("/api/v1/project/web?replace=true", {"version": "3.0.0", "apply_at": LATEST})
    assert replaced.status == 200, replaced.body
    assert replaced.json["pending"]["changes"] == {"version": "3.0.0"}
    again = api.put("/api/v1/project/web", {"hosts": ["web-1.example.com"], "apply_at": LATER,
                                            "replace": True})
    assert again.status == 200 and again.json["pending"]["changes"] == {"hosts": ["web-1.example.com"]}
    scheduled_events = [e for e in _kinds("web") if e["kind"] == "project.update_scheduled"]
    assert [e["detail"].get("replaced", {}).get("apply_at") for e in scheduled_events] == [None, LATER, LATEST]
    assert scheduled_events[1]["detail"]["replaced"]["fields"] == ["version"]
    assert "replacing the one for 2099-01-01T00:00:00Z" in scheduled_events[1]["message"]
    # the tick applies only the replacement
    tick.run(datetime.datetime(2099, 1, 1, 0, 1, tzinfo=UTC))
    shown = api.get("/api/v1/project/web").json
    assert shown["version"] == "1.0.0" and shown["hosts"] == ["web-1.example.com"]


def test_bad_replace_and_an_empty_schedule_are_named(api):
    api.post("/api/v1/project", base_project())
    bad = api.put("/api/v1/project/web", {"version": "2.0.0", "apply_at": LATER, "replace": "yes"})
    assert bad.status == 400 and bad.json["fields"] == {"replace": "must be true or false"}
    empty = api.put("/api/v1/project/web", {"apply_at": LATER})
    assert empty.status == 400 and "apply_at" in empty.json["fields"]
    created = api.post("/api/v1/project", base_project(name="api", replace=True))
    assert created.status == 400 and created.json["fields"]["replace"] == "unknown field"


def test_the_scheduled_update_is_shown_with_its_secrets_redacted(api):
    api.post("/api/v1/project", base_project())
    none = api.get("/api/v1/project/web/scheduled")
    assert none.status == 200 and none.json["scheduled"] is None and none.json["project"] == "web"
    hook = {"url": "https://hooks.example.com/x", "secret": "inline-secret-value"}
    api.put("/api/v1/project/web", {"notify": {"webhooks": [hook]}, "apply_at": LATER})
    shown = api.get("/api/v1/project/web/scheduled")
    assert shown.status == 200 and shown.headers["ETag"] == shown.json["etag"]
    assert shown.json["scheduled"]["changes"]["notify"]["webhooks"][0]["secret"] == "********"
    assert "inline-secret-value" not in shown.body.decode()
    assert shown.json["scheduled"]["by"].endswith(":user/fabu-admin")
    assert api.get("/api/v1/project/nope/scheduled").status == 404


def test_cancel_drops_the_update_records_it_and_the_tick_applies_nothing(api):
    api.post("/api/v1/project", base_project())
    etag = api.put("/api/v1/project/web", {"version": "2.0.0", "apply_at": LATER}).headers["ETag"]
    stale = api.delete("/api/v1/project/web/scheduled", headers={"If-Match": '"1"'})
    assert stale.status == 409
    cancelled = api.delete("/api/v1/project/web/scheduled", headers={"If-Match": etag})
    assert cancelled.status == 200, cancelled.body
    assert cancelled.json["cancelled"]["changes"] == {"version": "2.0.0"}
    assert cancelled.headers["ETag"] != etag
    assert api.get("/api/v1/project/web").json["pending"] is None
    [event] = [e for e in _kinds("web") if e["kind"] == "project.update_cancelled"]
    assert event["detail"]["apply_at"] == LATER and event["detail"]["fields"] == ["version"]
    assert event["actor"].endswith(":user/fabu-admin")
    assert event["message"] == "scheduled update for 2099-01-01T00:00:00Z cancelled"
    assert tick.run(datetime.datetime(2099, 1, 1, 0, 1, tzinfo=UTC))["applied_updates"] == []
    assert api.get("/api/v1/project/web").json["version"] == "1.0.0"
    again = api.delete("/api/v1/project/web/scheduled")
    assert again.status == 404 and "no scheduled update" in again.json["error"]
    assert api.delete("/api/v1/project/nope/scheduled").status == 404
    # a new one may be scheduled without replace once the old one is gone
    assert api.put("/api/v1/project/web", {"version": "2.0.1", "apply_at": LATER}).status == 200


def test_projects_with_a_scheduled_update_are_listed_soonest_first(api):
    for name in ("alpha", "beta", "gamma", "delta"):
        api.post("/api/v1/project", base_project(name=name))
    api.put("/api/v1/project/gamma", {"version": "2.0.0", "apply_at": LATEST})
    api.put("/api/v1/project/alpha", {"version": "2.0.0", "apply_at": LATER})
    api.put("/api/v1/project/delta", {"version": "2.0.0", "apply_at": "2099-03-01T00:00:00Z"})
    api.delete("/api/v1/project/delta/scheduled")
    listed = api.get("/api/v1/project?scheduled=true").json
    assert [p["id"] for p in listed["projects"]] == ["alpha", "gamma"]
    assert listed["projects"][0]["pending"]["apply_at"] == LATER and listed["next_cursor"] is None
    first = api.get("/api/v1/project?scheduled=true&limit=1").json
    assert [p["id"] for p in first["projects"]] == ["alpha"] and first["next_cursor"]
    rest = api.get(f"/api/v1/project?scheduled=true&limit=1&cursor={first['next_cursor']}").json
    assert [p["id"] for p in rest["projects"]] == ["gamma"]
    everything = api.get("/api/v1/project").json
    assert len(everything["projects"]) == 4
