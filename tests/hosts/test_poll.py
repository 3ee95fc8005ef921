"""The poll (chalicelib/hosts/poll.py): one read, a first-contact touch, same-host dependencies.

The per-host beat and silence are in ``test_beat.py``."""
import datetime

import pytest

from tests.conftest import base_project
from tests.support.hosts import HOST, released_item, stored_beat, stored_item


def test_poll_with_nothing_pending_is_204(api, host_client):
    assert host_client.get(f"/api/v1/{HOST}").status == 204


def test_poll_with_a_pending_deploy_is_200_with_a_summary(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0")
    response = host_client.get(f"/api/v1/{HOST}")
    assert response.status == 200
    assert response.json["pending"] == [{"project": "web", "version": "1.0.0", "kind": "deploy",
                                         "deploy_id": "d-1"}]


def test_a_host_cannot_poll_another_host(api, host_client):
    response = host_client.get("/api/v1/web-2.example.com")
    assert response.status == 403
    assert f"may only call /api/v1/{HOST}" in response.json["error"]


def test_a_host_cannot_use_project_routes(host_client):
    assert host_client.get("/api/v1/project").status == 403


def test_a_bad_host_name_is_refused_naming_it():
    from chalicelib.errors import ValidationError
    from chalicelib.hosts import poll
    with pytest.raises(ValidationError) as exc:
        poll.poll("web_1.example.com")
    assert exc.value.fields == {"host": "must be an RFC 1123 host name (letters, digits, '-' and "
                                        "'.', labels of 1-63)"}


def test_noop_poll_is_one_dynamodb_read_and_no_write(api, host_client):
    api.post("/api/v1/project", base_project())
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    from chalicelib.times import utcnow
    stored_item(HOST, "web", "succeeded", last_seen=utcnow())
    stored_beat(HOST, utcnow())
    calls = []
    connection = HostState._get_connection().connection

    def count(**kwargs):
        calls.append(kwargs["model"].name)
    client = connection.client
    client.meta.events.register("before-call.dynamodb", count)
    try:
        assert poll.poll(HOST) is None
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    assert calls == ["Query"]


def test_an_item_is_touched_at_first_contact_then_only_while_pending(api):
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    stored_item(HOST, "web", "succeeded")
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    poll.poll(HOST, now=t0)
    assert HostState.get(HOST, "web").last_seen == t0           # first contact
    poll.poll(HOST, now=t0 + datetime.timedelta(hours=5))
    assert HostState.get(HOST, "web").last_seen == t0           # at rest: the beat says it
    HostState.get(HOST, "web").update(actions=[HostState.status.set("pending")])
    t1 = t0 + datetime.timedelta(hours=6)
    poll.poll(HOST, now=t1)
    assert HostState.get(HOST, "web").last_seen == t1           # pending: touched...
    poll.poll(HOST, now=t1 + datetime.timedelta(minutes=5))
    assert HostState.get(HOST, "web").last_seen == t1           # ...at most every 15 minutes
    poll.poll(HOST, now=t1 + datetime.timedelta(minutes=15))
    assert HostState.get(HOST, "web").last_seen == t1 + datetime.timedelta(minutes=15)


def test_dependency_on_the_same_host_blocks_until_satisfied(api, host_client):
    api.post("/api/v1/project", base_project(name="db"))
    api.post("/api/v1/project", base_project(depends_on=[{"project": "db", "version": ">=2.0"}]))
    from chalicelib.models import HostState
    stored_item(HOST, "db", "succeeded", running_version="1.5")
    released_item(HOST, "web", "1.0.0", depends_on=[{"project": "db", "version": ">=2.0"}])
    assert host_client.get(f"/api/v1/{HOST}").status == 204
    assert HostState.get(HOST, "web").blocked_reason == \
        "blocked: waiting for db >=2.0 on this host (running 1.5)"
    db = HostState.get(HOST, "db")
    db.update(actions=[HostState.running_version.set("2.1")])
    assert host_client.get(f"/api/v1/{HOST}").status == 200


def test_a_blocked_deploy_is_recorded_once_not_on_every_poll(api, host_client):
    api.post("/api/v1/project", base_project(name="db"))
    api.post("/api/v1/project", base_project(depends_on=[{"project": "db"}]))
    released_item(HOST, "web", "1.0.0", depends_on=[{"project": "db"}])
    stored_item(HOST, "db", "pending", target_version="1.0.0", deploy_id="d-db")
    for _ in range(3):
        response = host_client.get(f"/api/v1/{HOST}")
        assert response.json["blocked"] == [
            {"project": "web", "reason": "blocked: waiting for db >=0 on this host (running nothing)"}]
        assert [p["project"] for p in response.json["pending"]] == ["db"]
    from chalicelib import events
    blocked = [e for e in events.page("web", limit=50)[0] if e["kind"] == "host.blocked"]
    assert len(blocked) == 1 and blocked[0]["host"] == HOST


# --- split_ready: which items a poll announces (pure: items built in memory) -----------------

def _item(project, status, running=None, depends_on=()):
    from chalicelib.models import HostState
    return HostState(HOST, project, status=status, running_version=running,
                     target_version="2.0", depends_on=list(depends_on))


def test_only_pending_deploys_and_rollbacks_are_ready():
    from chalicelib.hosts.poll import split_ready
    items = [_item(name, status) for name, status in (
        ("a", "pending"), ("b", "rollback_pending"), ("c", "in_progress"), ("d", "succeeded"),
        ("e", "waiting"), ("f", "failed"), ("g", "idle"))]
    ready, blocked = split_ready(items)
    assert [i.project for i in ready] == ["a", "b"] and blocked == []


@pytest.mark.parametrize("running, spec, waits", [
    (None, ">=1.0", True), ("0.9", ">=1.0", True), ("1.0", ">=1.0", False),
    ("1.10", ">1.9,<2", False), ("2.0~rc1", ">=2.0", True), ("1.0", None, False),
])
def test_a_deploy_waits_for_its_dependency_on_the_same_host(running, spec, waits):
    from chalicelib.hosts.poll import split_ready
    dep = {"project": "db", **({"version": spec} if spec else {})}
    web = _item("web", "pending", depends_on=[dep])
    ready, blocked = split_ready([web, _item("db", "succeeded", running=running)])
    assert (blocked != []) is waits and (ready == []) is waits
    if waits:
        assert blocked[0][1] == (f"blocked: waiting for db {spec or '>=0'} on this host "
                                 f"(running {running or 'nothing'})")


def test_a_dependency_on_another_host_and_a_rollback_never_wait_here():
    from chalicelib.hosts.poll import split_ready
    elsewhere = _item("web", "pending", depends_on=[{"project": "cache", "version": ">=9"}])
    rollback = _item("api", "rollback_pending", depends_on=[{"project": "db", "version": ">=9"}])
    ready, blocked = split_ready([elsewhere, rollback, _item("db", "succeeded", running="1")])
    assert [i.project for i in ready] == ["web", "api"] and blocked == []


# --- draining hosts, and what the agent says each project runs (issue 16) ---------------------

UNTIL = "2026-05-01T12:00:30Z"


def _dynamodb_calls(run):
    """The DynamoDB operations ``run()`` makes (as the noop-poll test counts them)."""
    from chalicelib.models import Event, HostState
    calls = []
    clients = {id(c): c for c in (m._get_connection().connection.client for m in (HostState, Event))}

    def count(**kwargs):
        calls.append(kwargs["model"].name)
    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)
    try:
        result = run()
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-call.dynamodb", count)
    return calls, result


def test_a_draining_deploy_is_announced_with_its_end_and_never_handed_out(api, host_client):
    from chalicelib.models import HostState
    released_item(HOST, "web", "1.0.0", status="draining", drain={
        "target_groups": ["arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/1"],
        "state": "draining", "since": "2026-05-01T12:00:00Z", "until": UNTIL})
    response = host_client.get(f"/api/v1/{HOST}")
    assert response.status == 200
    assert response.json == {"host": HOST, "pending": [], "blocked": [],
                             "draining": [{"project": "web", "version": "1.0.0", "until": UNTIL}]}
    script = host_client.get(f"/api/v1/{HOST}/deploy")
    assert script.status == 200 and "d-1" not in script.body.decode()
    assert HostState.get(HOST, "web").status == "draining"


def test_a_draining_deploy_is_announced_next_to_a_pending_one(api, host_client):
    released_item(HOST, "web", "1.0.0", status="draining", drain={"state": "draining"})
    released_item(HOST, "api", "2.0", deploy_id="d-2")
    body = host_client.get(f"/api/v1/{HOST}").json
    assert [p["project"] for p in body["pending"]] == ["api"]
    assert body["draining"] == [{"project": "web", "version": "1.0.0", "until": None}]


def test_the_agents_current_is_written_once_and_a_change_by_hand_is_drift(api, host_client):
    api.post("/api/v1/project", base_project())
    from chalicelib import events
    from chalicelib.models import HostState
    from chalicelib.times import utcnow
    reported = utcnow() - datetime.timedelta(hours=1)
    stored_item(HOST, "web", "succeeded", target_version="1.0.0", running_version="1.0.0",
                reported_at=reported, last_seen=utcnow())
    stored_beat(HOST, utcnow())
    poll = lambda query: lambda: host_client.get(f"/api/v1/{HOST}?current={query}")  # noqa: E731
    # the host runs what fabu deployed: nothing to write
    calls, response = _dynamodb_calls(poll("web%3A1.0.0"))
    assert response.status == 204 and calls == ["Query"]
    assert HostState.get(HOST, "web").seen_at is None
    # changed by hand: written once, and one host.drifted event
    calls, response = _dynamodb_calls(poll("web%3A0.9"))
    assert response.status == 204 and calls == ["Query", "UpdateItem", "PutItem"]
    item = HostState.get(HOST, "web")
    assert item.seen_version == "0.9" and item.seen_at > reported
    for _ in range(2):
        calls, _ = _dynamodb_calls(poll("web%3A0.9"))
        assert calls == ["Query"]
    drifted = [e for e in events.page("web", limit=50)[0] if e["kind"] == "host.drifted"]
    assert len(drifted) == 1 and drifted[0]["host"] == HOST
    assert drifted[0]["detail"] == {"expected": "1.0.0", "running": "0.9"}
    row = next(r for r in api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
               if r["host"] == HOST)
    assert (row["drift"], row["expected"], row["running"]) == (True, "1.0.0", "0.9")
    # put back by hand: written again, no longer drift, no new event
    calls, _ = _dynamodb_calls(poll("web%3A1.0.0"))
    assert calls == ["Query", "UpdateItem"]
    row = next(r for r in api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
               if r["host"] == HOST)
    assert (row["drift"], row["running"]) == (False, "1.0.0")


def test_a_project_without_a_current_release_is_drift_with_nothing_running(api, host_client):
    api.post("/api/v1/project", base_project())
    from chalicelib import drift
    from chalicelib.models import HostState
    stored_item(HOST, "web", "succeeded", target_version="1.0.0", running_version="1.0.0")
    assert host_client.get(f"/api/v1/{HOST}?current=web%3A").status == 204
    item = HostState.get(HOST, "web")
    assert item.seen_version is None and item.seen_at is not None
    assert drift.drift(item) == {"expected": "1.0.0", "running": None}


def test_unknown_projects_in_current_are_ignored(api, host_client):
    from chalicelib.times import utcnow
    stored_item(HOST, "web", "succeeded", target_version="1.0.0", running_version="1.0.0",
                last_seen=utcnow())
    stored_beat(HOST, utcnow())
    calls, response = _dynamodb_calls(
        lambda: host_client.get(f"/api/v1/{HOST}?current=other%3A3.0%2Cweb%3A1.0.0"))
    assert response.status == 204 and calls == ["Query"]


def test_a_later_report_wins_over_what_the_agent_said_before():
    from chalicelib import drift
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    stored_item(HOST, "web", "succeeded", target_version="1.0", running_version="1.0",
                reported_at=t0, last_seen=t0)
    poll.poll(HOST, now=t0 + datetime.timedelta(minutes=5), current="web:0.9")
    # a deploy of 2.0 reports later; then the agent says 2.0: nothing new to write
    HostState.get(HOST, "web").update(actions=[
        HostState.target_version.set("2.0"), HostState.running_version.set("2.0"),
        HostState.reported_at.set(t0 + datetime.timedelta(minutes=10))])
    item = HostState.get(HOST, "web")
    assert drift.running(item) == "2.0" and drift.drift(item) is None
    poll.poll(HOST, now=t0 + datetime.timedelta(minutes=15), current="web:2.0")
    assert HostState.get(HOST, "web").seen_version == "0.9"  # not rewritten: 2.0 was known
    # and the same hand change as before is seen again (it differs from the newest, 2.0)
    poll.poll(HOST, now=t0 + datetime.timedelta(minutes=20), current="web:0.9")
    assert drift.drift(HostState.get(HOST, "web")) == {"expected": "2.0", "running": "0.9"}


_BAD_CURRENT = [
    ("web", "entry 1 ('web') is not <project>:<version> (or <project>: for none)"),
    ("web%3A1.0%2C", "entry 2 ('') is not <project>:<version> (or <project>: for none)"),
    ("Web%3A1.0", "entry 1 ('Web:1.0') is not <project>:<version> (or <project>: for none)"),
    ("web%3A1.0%20beta", "entry 1 ('web:1.0 beta') is not <project>:<version> (or <project>: for none)"),
    ("web%3A1.0%2Cweb%3A2.0", "names project web twice"),
    ("web%3A" + "1" * 2000, "is longer than 2000 characters"),
]


def test_a_malformed_current_is_a_400_naming_it(api, host_client):
    for query, problem in _BAD_CURRENT:
        response = host_client.get(f"/api/v1/{HOST}?current={query}")
        assert response.status == 400, query
        assert response.json["fields"] == {"current": problem}, query
        assert "current" in response.json["error"]
