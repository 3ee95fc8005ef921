"""Phase reports (chalicelib/hosts/reports.py): idempotent, conditional on the deploy, and read back."""
import datetime

import pytest

from tests.conftest import base_project
from tests.support.hosts import HOST, released_item


def _report(client, phase_, status_, deploy_id="d-1", **extra):
    body = {"project": "web", "version": "1.0.0", "deploy_id": deploy_id, "phase": phase_,
            "status": status_, "exit_code": 0 if status_ == "ok" else 1, "output": "fine\n",
            "running_version": "1.0.0" if status_ == "ok" else "0.9.0"}
    body.update(extra)
    return client.post(f"/api/v1/{HOST}/report", body)


def test_reports_move_the_host_to_succeeded_and_are_idempotent(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
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
    released_item(HOST, "web", "1.0.0", status="in_progress")
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
    released_item(HOST, "web", "1.0.0", status="in_progress", deploy_id="d-new")
    response = _report(host_client, "post-deploy", "ok", deploy_id="d-old")
    assert response.json["stale"] is True
    from chalicelib.models import HostState
    assert HostState.get(HOST, "web").status == "in_progress"


def test_a_stale_report_still_records_what_the_host_runs(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress", deploy_id="d-new")
    _report(host_client, "rollback", "ok", deploy_id="d-old", running_version="0.8.0")
    from chalicelib.models import HostState
    item = HostState.get(HOST, "web")
    assert (item.status, item.running_version) == ("in_progress", "0.8.0")


def test_a_report_for_a_project_the_host_does_not_have_is_404(api, host_client):
    response = _report(host_client, "pre-deploy", "ok")
    assert response.status == 404
    assert response.json["error"] == f"host {HOST} has no deploy of project 'web'"


def test_fabu_message_lines_become_events(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
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
    released_item(HOST, "web", "1.0.0", status="in_progress")
    response = _report(host_client, "pre-deploy", "ok", **{field: value})
    assert response.status == 400
    assert field in response.json["fields"]


def test_a_rollback_to_the_version_already_running_counts_as_rolled_back(api, host_client):
    """The host rolled itself back before the server's rollback item reached it."""
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "0.9.0", status="in_progress", deploy_id="d-rb",
                  deploy_kind="rollback")
    response = _report(host_client, "rollback", "skipped", deploy_id="d-rb", version="0.9.0",
                       running_version="0.9.0")
    assert response.json["status"] == "rolled_back"
    from chalicelib import events
    kinds = [e["kind"] for e in events.page("web", limit=20)[0]]
    assert "host.rolled_back" in kinds and "host.rollback_failed" not in kinds


def test_an_interrupted_deploy_is_its_own_event(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    response = _report(host_client, "do-deploy", "interrupted", exit_code=-1)
    assert response.json["status"] == "failed"
    from chalicelib import events
    kinds = [e["kind"] for e in events.page("web", limit=20)[0]]
    assert "host.interrupted" in kinds and "host.failed" not in kinds


# --- validate_report and outcome (pure) ---------------------------------------------------------

def _body(**changes):
    body = {"project": "web", "version": "1.0.0", "deploy_id": "d-1", "phase": "pre-deploy",
            "status": "ok"}
    body.update(changes)
    return body


def test_a_good_report_passes_and_a_bad_one_names_every_field_and_the_first_in_its_message():
    from chalicelib.errors import ValidationError
    from chalicelib.hosts.reports import validate_report
    validate_report(_body(exit_code=-1000, output="x" * 70 * 1024, running_version="",
                          truncated=True))
    with pytest.raises(ValidationError) as exc:
        validate_report(_body(phase=["pre-deploy"], status={}, output="x" * (70 * 1024 + 1)))
    assert exc.value.fields == {
        "phase": "must be one of pre-deploy, do-deploy, post-deploy, rollback",
        "status": "must be one of ok, failed, skipped, interrupted",
        "output": "is longer than 64 KB: send the tail and set truncated"}
    assert str(exc.value) == ("invalid report: phase must be one of pre-deploy, do-deploy, "
                              "post-deploy, rollback")


@pytest.mark.parametrize("kind, phase, status, expected", [
    ("deploy", "pre-deploy", "ok", None),
    ("deploy", "do-deploy", "ok", None),
    ("deploy", "post-deploy", "ok", "succeeded"),
    ("deploy", "pre-deploy", "skipped", "succeeded"),
    ("deploy", "do-deploy", "failed", "failed"),
    ("deploy", "post-deploy", "interrupted", "failed"),
    ("deploy", "rollback", "ok", None),
    ("rollback", "rollback", "ok", "rolled_back"),
    ("rollback", "rollback", "skipped", "rolled_back"),
    ("rollback", "rollback", "failed", "failed"),
    ("rollback", "rollback", "interrupted", "failed"),
    ("rollback", "pre-deploy", "interrupted", "failed"),
    ("rollback", "pre-deploy", "ok", None),
])
def test_the_outcome_of_each_report(kind, phase, status, expected):
    from chalicelib.hosts.reports import outcome
    assert outcome(kind, phase, status) == expected


# --- host_report: the console's view of one host's deploy --------------------------------------

def test_host_report_lists_the_current_deploys_phases_in_script_order(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    _report(host_client, "do-deploy", "failed", output="boom\n")     # received first...
    _report(host_client, "pre-deploy", "ok", deploy_id="d-1")         # ...then a late one
    _report(host_client, "rollback", "ok", running_version="0.9.0")
    _report(host_client, "pre-deploy", "ok", deploy_id="d-old",      # another deploy: not shown
            running_version=None)
    from chalicelib.hosts.reports import host_report
    view = host_report("web", HOST)
    assert {k: v for k, v in view.items() if k != "reports"} == {
        "project": "web", "host": HOST, "deploy_id": "d-1", "deploy_kind": "deploy",
        "status": "failed", "target_version": "1.0.0", "running_version": "0.9.0"}
    assert [(r["phase"], r["status"]) for r in view["reports"]] == [
        ("pre-deploy", "ok"), ("do-deploy", "failed"), ("rollback", "ok")]
    failed = view["reports"][1]
    assert (failed["output"], failed["exit_code"], failed["truncated"]) == ("boom\n", 1, False)
    assert datetime.datetime.strptime(failed["received_at"], "%Y-%m-%dT%H:%M:%SZ")


def test_host_report_of_an_unknown_host_is_404_naming_it(api):
    from chalicelib.errors import NotFound
    from chalicelib.hosts.reports import host_report
    with pytest.raises(NotFound) as exc:
        host_report("web", "nowhere.example.com")
    assert str(exc.value) == "host 'nowhere.example.com' has no state in project 'web'"
