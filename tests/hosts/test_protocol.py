"""The host routes: poll (one read), deploy script leasing, idempotent reports, drift."""
import datetime
import hashlib

import pytest

from tests.conftest import base_project

HOST = "web-1.example.com"
HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/" + HOST


def _ready_release(project, version, body=b"tarball"):
    from chalicelib.models import Release
    Release(project, version, state="ready", s3_key="releases/%s/%s.tgz" % (project, version),
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()


def _pending(host, project, version, status="pending", deploy_id="d-1", **extra):
    from chalicelib.models import HostState, wave_key
    HostState(host, project, wave=0, status=status, wave_key=wave_key(0, status, host),
              target_version=version, deploy_id=deploy_id, rollout_id="r-1", **extra).save()


@pytest.fixture
def host_client(signed_client):
    return signed_client(HOST_ARN)


def test_poll_with_nothing_pending_is_204(api, host_client):
    assert host_client.get("/api/v1/" + HOST).status == 204


def test_poll_with_a_pending_deploy_is_200_with_a_summary(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0")
    response = host_client.get("/api/v1/" + HOST)
    assert response.status == 200
    assert response.json["pending"] == [{"project": "web", "version": "1.0.0", "kind": "deploy",
                                         "deploy_id": "d-1"}]


def test_a_host_cannot_poll_another_host(api, host_client):
    response = host_client.get("/api/v1/web-2.example.com")
    assert response.status == 403
    assert "may only call /api/v1/%s" % HOST in response.json["error"]


def test_a_host_cannot_use_project_routes(host_client):
    assert host_client.get("/api/v1/project").status == 403


def test_noop_poll_is_one_dynamodb_read_and_no_write(api, host_client):
    api.post("/api/v1/project", base_project())
    from chalicelib.models import HostState, wave_key, utcnow
    HostState(HOST, "web", wave=0, status="succeeded", wave_key=wave_key(0, "succeeded", HOST),
              last_seen=utcnow()).save()
    calls = []
    from chalicelib.hosts import protocol as hosts
    connection = HostState._get_connection().connection

    def count(**kwargs):
        calls.append(kwargs["model"].name)
    client = connection.client
    client.meta.events.register("before-call.dynamodb", count)
    try:
        assert hosts.poll(HOST) is None
    finally:
        client.meta.events.unregister("before-call.dynamodb", count)
    assert calls == ["Query"]


def test_heartbeat_is_written_once_then_amortised(api):
    from chalicelib.hosts import protocol as hosts
    from chalicelib.models import HostState, wave_key
    HostState(HOST, "web", wave=0, status="succeeded", wave_key=wave_key(0, "succeeded", HOST)).save()
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    hosts.poll(HOST, now=t0)
    assert HostState.get(HOST, "web").last_seen == t0
    hosts.poll(HOST, now=t0 + datetime.timedelta(minutes=5))
    assert HostState.get(HOST, "web").last_seen == t0
    later = t0 + datetime.timedelta(minutes=16)
    hosts.poll(HOST, now=later)
    assert HostState.get(HOST, "web").last_seen == later


def test_deploy_script_leases_the_item_and_names_the_deploy(api, host_client):
    api.post("/api/v1/project", base_project())
    _ready_release("web", "1.0.0")
    _pending(HOST, "web", "1.0.0")
    response = host_client.get("/api/v1/%s/deploy" % HOST)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/x-shellscript")
    assert "d-1" in response.body.decode() if isinstance(response.body, bytes) else "d-1" in response.body
    from chalicelib.models import HostState
    item = HostState.get(HOST, "web")
    assert item.status == "in_progress" and item.leased_at is not None
    assert host_client.get("/api/v1/" + HOST).status == 204


def test_deploy_waits_while_the_release_is_not_ready(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0")
    host_client.get("/api/v1/%s/deploy" % HOST)
    from chalicelib.models import HostState
    assert HostState.get(HOST, "web").status == "pending"


def _report(client, phase_, status_, deploy_id="d-1", **extra):
    body = {"project": "web", "version": "1.0.0", "deploy_id": deploy_id, "phase": phase_,
            "status": status_, "exit_code": 0 if status_ == "ok" else 1, "output": "fine\n",
            "running_version": "1.0.0" if status_ == "ok" else "0.9.0"}
    body.update(extra)
    return client.post("/api/v1/%s/report" % HOST, body)


def test_reports_move_the_host_to_succeeded_and_are_idempotent(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0", status="in_progress")
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):
        assert _report(host_client, phase, "ok").status == 200
    again = _report(host_client, "post-deploy", "ok")
    assert again.json["duplicate"] is True
    from chalicelib.models import HostState, Report
    item = HostState.get(HOST, "web")
    assert item.status == "succeeded" and item.running_version == "1.0.0"
    assert Report.get("d-1", "post-deploy").output == "fine\n"


def test_failed_phase_marks_failed_and_keeps_the_output_tail(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0", status="in_progress")
    _report(host_client, "do-deploy", "failed", output="boom: start exited 3\n")
    _report(host_client, "rollback", "ok", running_version="0.9.0")
    from chalicelib.models import HostState
    item = HostState.get(HOST, "web")
    assert item.status == "failed" and item.running_version == "0.9.0"
    from chalicelib import events
    items, _ = events.page("web", limit=50)
    failed = [e for e in items if e["kind"] == "host.failed"]
    assert failed and "boom: start exited 3" in failed[0]["detail"]["output_tail"]
    assert any(e["kind"] == "host.rolled_back" for e in items)


def test_a_report_of_an_older_deploy_does_not_change_the_newer_one(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0", status="in_progress", deploy_id="d-new")
    response = _report(host_client, "post-deploy", "ok", deploy_id="d-old")
    assert response.json["stale"] is True
    from chalicelib.models import HostState
    assert HostState.get(HOST, "web").status == "in_progress"


def test_fabu_message_lines_become_events(api, host_client):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0", status="in_progress")
    _report(host_client, "post-deploy", "ok", output="x\n::fabu::warn disk almost full\n")
    from chalicelib import events
    items, _ = events.page("web", limit=50)
    messages = [e for e in items if e["kind"] == "host.message"]
    assert messages[0]["message"] == "disk almost full"
    assert messages[0]["detail"]["level"] == "warn"


@pytest.mark.parametrize("field,value", [
    ("phase", "deploy"), ("status", "maybe"), ("exit_code", "1"), ("deploy_id", "a b"),
    ("version", "$(id)"), ("output", 5), ("project", "../etc"), ("truncated", "yes"),
    ("running_version", "1 2"),
])
def test_bad_reports_are_400_naming_the_field(api, host_client, field, value):
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "1.0.0", status="in_progress")
    response = _report(host_client, "pre-deploy", "ok", **{field: value})
    assert response.status == 400
    assert field in response.json["fields"]


def test_dependency_on_the_same_host_blocks_until_satisfied(api, host_client):
    api.post("/api/v1/project", base_project(name="db"))
    api.post("/api/v1/project", base_project(depends_on=[{"project": "db", "version": ">=2.0"}]))
    from chalicelib.models import HostState, wave_key
    HostState(HOST, "db", wave=0, status="succeeded", wave_key=wave_key(0, "succeeded", HOST),
              running_version="1.5").save()
    _pending(HOST, "web", "1.0.0", depends_on=[{"project": "db", "version": ">=2.0"}])
    assert host_client.get("/api/v1/" + HOST).status == 204
    assert HostState.get(HOST, "web").blocked_reason == \
        "blocked: waiting for db >=2.0 on this host (running 1.5)"
    db = HostState.get(HOST, "db")
    db.update(actions=[HostState.running_version.set("2.1")])
    assert host_client.get("/api/v1/" + HOST).status == 200


def test_a_rollback_to_the_version_already_running_counts_as_rolled_back(api, host_client):
    """The host rolled itself back before the server's rollback item reached it."""
    api.post("/api/v1/project", base_project())
    _pending(HOST, "web", "0.9.0", status="in_progress", deploy_id="d-rb", deploy_kind="rollback")
    response = _report(host_client, "rollback", "skipped", deploy_id="d-rb", version="0.9.0",
                       running_version="0.9.0")
    assert response.json["status"] == "rolled_back"
    from chalicelib import events
    kinds = [e["kind"] for e in events.page("web", limit=20)[0]]
    assert "host.rolled_back" in kinds and "host.rollback_failed" not in kinds
