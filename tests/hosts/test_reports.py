"""Phase reports (chalicelib/hosts/reports.py): keyed by host, only for issued deploys, written
once with their outcome and events, ``::fabu::`` messages bounded; read back by the console."""
import datetime

import pytest

from tests.conftest import base_project, boto_client, drain
from tests.support.fleet import create, host_arn, put, tick
from tests.support.hosts import HOST, released_item

OTHER = "web-2.example.com"


def _report(client, phase_, status_, deploy_id="d-1", host=HOST, **extra):
    body = {"project": "web", "version": "1.0.0", "deploy_id": deploy_id, "phase": phase_,
            "status": status_, "exit_code": 0 if status_ == "ok" else 1, "output": "fine\n",
            "running_version": "1.0.0" if status_ == "ok" else "0.9.0"}
    body.update(extra)
    return client.post(f"/api/v1/{host}/report", body)


def _view(api, host=HOST, project="web", deploy_id=None):
    """The console's view of a host's deploy (``GET .../hosts/{host}/report``)."""
    query = f"?deploy_id={deploy_id}" if deploy_id else ""
    response = api.get(f"/api/v1/project/{project}/hosts/{host}/report{query}")
    assert response.status == 200, response
    return response.json


def _events(kind=None, project="web"):
    from chalicelib import events
    items, _ = events.page(project, limit=500, newest_first=False)
    return [e for e in items if kind is None or e["kind"] == kind]


def _released(api, signed_client, hosts, version="1.0.0"):
    """Create the project through the API and let the engine release every host (one wave):
    ``{host: (client, deploy_id)}`` as each host's poll announces it."""
    create(api, hosts, version=version, rollout={"waves": ["100%"], "bake_seconds": 0})
    tick()
    return _polled(signed_client, hosts)


def _polled(signed_client, hosts):
    polled = {}
    for host in hosts:
        client = signed_client(host_arn(host))
        response = client.get(f"/api/v1/{host}")
        assert response.status == 200, response
        polled[host] = (client, response.json["pending"][0]["deploy_id"])
    return polled


def test_reports_move_the_host_to_succeeded_and_are_idempotent(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):
        response = _report(host_client, phase, "ok")
        assert response.status == 200 and "duplicate" not in response.json
    again = _report(host_client, "post-deploy", "ok")
    assert again.json == {"accepted": True, "duplicate": True, "status": "succeeded"}
    view = _view(api)
    assert (view["status"], view["running_version"]) == ("succeeded", "1.0.0")
    assert [(r["phase"], r["output"]) for r in view["reports"]] == [
        ("pre-deploy", "fine\n"), ("do-deploy", "fine\n"), ("post-deploy", "fine\n")]
    assert len(_events("host.succeeded")) == 1


def test_a_host_cannot_preempt_another_hosts_report(api, signed_client):
    """web-2 posts web-1's deploy_id first: refused, and web-1's own reports still count."""
    hosts = _released(api, signed_client, [HOST, OTHER])
    (real, deploy_id), (thief, _) = hosts[HOST], hosts[OTHER]
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):
        stolen = _report(thief, phase, "ok", deploy_id=deploy_id, host=OTHER)
        assert stolen.status == 404, stolen
        assert stolen.json["fields"] == {"deploy_id": "was not issued to this host for this project"}
        assert f"deploy_id '{deploy_id}' was not issued to host {OTHER}" in stolen.json["error"]
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):
        response = _report(real, phase, "ok", deploy_id=deploy_id)
        assert response.status == 200 and "duplicate" not in response.json, response
    assert _view(api)["status"] == "succeeded"
    assert [r["phase"] for r in _view(api)["reports"]] == ["pre-deploy", "do-deploy", "post-deploy"]
    other = _view(api, host=OTHER)
    assert (other["status"], other["reports"]) == ("pending", [])


def test_a_deploy_id_of_another_project_or_never_issued_is_refused(api, signed_client):
    hosts = _released(api, signed_client, [HOST])
    create(api, [HOST], name="db", rollout={"waves": ["100%"], "bake_seconds": 0})
    tick()
    client, web_deploy = hosts[HOST]
    db_deploy = next(p["deploy_id"] for p in client.get(f"/api/v1/{HOST}").json["pending"]
                     if p["project"] == "db")
    crossed = _report(client, "pre-deploy", "ok", deploy_id=db_deploy)       # project web
    assert crossed.status == 404 and "deploy_id" in crossed.json["fields"]
    invented = _report(client, "pre-deploy", "ok", deploy_id="d-0123456789abcdef")
    assert invented.status == 404
    assert invented.json["error"].startswith(
        f"deploy_id 'd-0123456789abcdef' was not issued to host {HOST} for project 'web'")
    assert _view(api)["reports"] == [] and _view(api, project="db")["reports"] == []
    assert _report(client, "pre-deploy", "ok", deploy_id=web_deploy).status == 200


def test_a_late_report_of_an_earlier_deploy_is_kept_but_moves_nothing(api, signed_client):
    """The engine issues a new deploy; the host's late report of the first is stored as stale."""
    hosts = _released(api, signed_client, [HOST])
    client, first = hosts[HOST]
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):
        assert _report(client, phase, "ok", deploy_id=first).status == 200
    put(api, version="2.0.0")
    tick()
    client, second = _polled(signed_client, [HOST])[HOST]
    assert second != first
    late = _report(client, "rollback", "ok", deploy_id=first, running_version="0.8.0")
    assert late.json == {"accepted": True, "stale": True, "status": "pending"}
    view = _view(api)
    assert (view["deploy_id"], view["status"], view["running_version"]) == (second, "pending", "0.8.0")
    assert view["deploys"][:2] == [second, first]
    old = _view(api, deploy_id=first)
    assert [(r["phase"], r["status"]) for r in old["reports"]] == [
        ("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok"), ("rollback", "ok")]
    assert _report(client, "pre-deploy", "ok", deploy_id=second, version="2.0.0").status == 200


def test_the_console_reads_one_deploy_of_a_host_and_refuses_others(api, signed_client):
    hosts = _released(api, signed_client, [HOST, OTHER])
    _, other_deploy = hosts[OTHER]
    response = api.get(f"/api/v1/project/web/hosts/{HOST}/report?deploy_id={other_deploy}")
    assert response.status == 404 and response.json["fields"] == {
        "deploy_id": "was not issued to this host"}
    bad = api.get(f"/api/v1/project/web/hosts/{HOST}/report?deploy_id=a%20b")
    assert bad.status == 400 and "deploy_id" in bad.json["fields"]


def test_a_stale_report_still_records_what_the_host_runs(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress", deploy_id="d-new",
                  issued_ids=["d-old", "d-new"])
    response = _report(host_client, "rollback", "ok", deploy_id="d-old", running_version="0.8.0")
    assert response.json["stale"] is True
    view = _view(api)
    assert (view["status"], view["running_version"]) == ("in_progress", "0.8.0")


def test_failed_phase_marks_failed_and_keeps_the_output_tail(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    _report(host_client, "do-deploy", "failed", output="boom: start exited 3\n")
    _report(host_client, "rollback", "ok", running_version="0.9.0")
    view = _view(api)
    assert (view["status"], view["running_version"]) == ("failed", "0.9.0")
    failed = _events("host.failed")
    assert failed and "boom: start exited 3" in failed[0]["detail"]["output_tail"]
    assert _events("host.rolled_back")


def test_a_report_for_a_project_the_host_does_not_have_is_404(api, host_client):
    response = _report(host_client, "pre-deploy", "ok")
    assert response.status == 404
    assert response.json["error"] == f"host {HOST} has no deploy of project 'web'"


# --- ::fabu:: messages ---------------------------------------------------------------------------

def _lines(count, start=0, level="warn"):
    return "".join(f"::fabu::{level} message {i}\n" for i in range(start, start + count))


def test_fabu_message_lines_become_events(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    response = _report(host_client, "post-deploy", "ok",
                       output="x\n::fabu::warn disk almost full\n::fabu::info\nnot a message\n"
                              "  ::fabu::error indented is not one\n::fabu::error  cache cold \n")
    assert response.json["messages"] == {"found": 2, "recorded": 2, "dropped": 0}
    messages = _events("host.message")
    assert [(m["message"], m["detail"]["level"]) for m in messages] == [
        ("disk almost full", "warn"), ("cache cold", "error")]
    assert messages[0]["detail"]["deploy_id"] == "d-1" and messages[0]["host"] == HOST
    assert not _events("host.messages_dropped")


def test_a_thousand_message_lines_make_20_events_and_one_summary(api, host_client, aws):
    # It was 1,000 events and 1,000 notices (38 s): the work is now bounded by the 20, whatever
    # the output holds (a count of writes, not a timing: timings belong in bench/).
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    queue_url = aws["resources"]["NotifyQueue"]
    one = _report(host_client, "pre-deploy", "ok", output=_lines(1))
    drain(boto_client("sqs"), queue_url)
    response = _report(host_client, "do-deploy", "ok", output=_lines(1000))
    assert one.status == 200 and response.status == 200, response
    assert response.json["messages"] == {"found": 1000, "recorded": 20, "dropped": 980}
    messages = [m["message"] for m in _events("host.message")]
    assert messages == ["message 0"] + [f"message {i}" for i in range(20)]
    [summary] = _events("host.messages_dropped")
    assert summary["message"].startswith("… and 980 more messages dropped")
    assert summary["detail"]["found"] == 1000 and summary["detail"]["recorded"] == 20
    notices = drain(boto_client("sqs"), queue_url)
    assert len(notices) == 20, len(notices)   # the 20 messages (the summary is not delivered)


def test_messages_are_limited_per_host_and_hour_with_one_event_per_window(api, signed_client):
    from chalicelib.hosts import reports
    hosts = _released(api, signed_client, [HOST, OTHER])
    client, deploy_id = hosts[HOST]
    answers = [_report(client, phase, "ok", deploy_id=deploy_id, output=_lines(20, 20 * n)).json
               for n, phase in enumerate(("pre-deploy", "do-deploy", "post-deploy"))]
    assert [a["messages"]["recorded"] for a in answers] == [20, 20, 20]
    over = _report(client, "rollback", "ok", deploy_id=deploy_id, output=_lines(25, 60))
    assert over.json["messages"] == {"found": 25, "recorded": 0, "dropped": 25}
    [limited] = _events("host.messages_dropped")
    assert limited["message"].startswith(f"… and 25 more messages dropped: {HOST} reached its "
                                         "limit of 60 messages an hour")
    assert len(_events("host.message")) == 60
    # Another host has its own allowance.
    other_client, other_deploy = hosts[OTHER]
    other = _report(other_client, "pre-deploy", "ok", deploy_id=other_deploy, host=OTHER,
                    output=_lines(3))
    assert other.json["messages"]["recorded"] == 3
    # The next deploy of the same host in the same hour: counted, dropped, no new event.
    put(api, version="2.0.0")
    tick()
    client, second = _polled(signed_client, [HOST])[HOST]
    quiet = _report(client, "pre-deploy", "ok", deploy_id=second, version="2.0.0",
                    output=_lines(5))
    assert quiet.json["messages"] == {"found": 5, "recorded": 0, "dropped": 5}
    assert len(_events("host.messages_dropped")) == 1
    window = _view(api)["messages"]
    assert {k: v for k, v in window.items() if k != "window_started_at"} == {
        "limit_per_report": 20, "limit_per_hour": 60, "recorded": 60, "dropped": 30}
    assert window["window_started_at"].endswith("Z")
    # An hour later the window starts again.
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=61)
    body = {"project": "web", "version": "2.0.0", "deploy_id": second, "phase": "do-deploy",
            "status": "ok", "output": _lines(2, 100), "running_version": "2.0.0"}
    assert reports.report(HOST, body, now=later)["messages"]["recorded"] == 2
    assert len(_events("host.message")) == 60 + 3 + 2


def test_the_hourly_limit_is_a_stage_setting(api, host_client, monkeypatch):
    monkeypatch.setenv("FABU_HOST_MESSAGES_PER_HOUR", "25")
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0", status="in_progress")
    first = _report(host_client, "pre-deploy", "ok", output=_lines(20))
    second = _report(host_client, "do-deploy", "ok", output=_lines(20, 20))
    assert (first.json["messages"]["recorded"], second.json["messages"]["recorded"]) == (20, 5)
    [limited] = _events("host.messages_dropped")
    assert "… and 15 more messages dropped" in limited["message"] and "limit of 25" in limited["message"]


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
    released_item(HOST, "web", "1.0.0", status="in_progress", issued_ids=["d-old", "d-1"])
    _report(host_client, "do-deploy", "failed", output="boom\n")     # received first...
    _report(host_client, "pre-deploy", "ok", deploy_id="d-1")         # ...then a late one
    _report(host_client, "rollback", "ok", running_version="0.9.0")
    _report(host_client, "pre-deploy", "ok", deploy_id="d-old",      # another deploy: not shown
            running_version=None)
    view = _view(api)
    assert {k: v for k, v in view.items() if k not in ("reports", "messages")} == {
        "project": "web", "host": HOST, "deploy_id": "d-1", "current_deploy_id": "d-1",
        "deploy_kind": "deploy", "status": "failed", "target_version": "1.0.0",
        "running_version": "0.9.0", "deploys": ["d-1", "d-old"]}
    assert [(r["phase"], r["status"]) for r in view["reports"]] == [
        ("pre-deploy", "ok"), ("do-deploy", "failed"), ("rollback", "ok")]
    failed = view["reports"][1]
    assert (failed["output"], failed["exit_code"], failed["truncated"]) == ("boom\n", 1, False)
    assert datetime.datetime.strptime(failed["received_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert [r["phase"] for r in _view(api, deploy_id="d-old")["reports"]] == ["pre-deploy"]


def test_host_report_of_an_unknown_host_is_404_naming_it(api):
    from chalicelib.errors import NotFound
    from chalicelib.hosts.reports import host_report
    with pytest.raises(NotFound) as exc:
        host_report("web", "nowhere.example.com")
    assert str(exc.value) == "host 'nowhere.example.com' has no state in project 'web'"
