"""The poll (chalicelib/hosts/poll.py): one read, an amortised heartbeat, same-host dependencies."""
import datetime

import pytest

from tests.conftest import base_project
from tests.support.hosts import HOST, released_item, stored_item


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


def test_heartbeat_is_written_once_then_amortised(api):
    from chalicelib.hosts import poll
    from chalicelib.models import HostState
    stored_item(HOST, "web", "succeeded")
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    poll.poll(HOST, now=t0)
    assert HostState.get(HOST, "web").last_seen == t0
    poll.poll(HOST, now=t0 + datetime.timedelta(minutes=5))
    assert HostState.get(HOST, "web").last_seen == t0
    later = t0 + datetime.timedelta(minutes=16)
    poll.poll(HOST, now=later)
    assert HostState.get(HOST, "web").last_seen == later


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
