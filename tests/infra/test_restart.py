"""``make run`` keeps its data: stop it (Ctrl-C), start it, everything is there; ``make wipe``.

Each test runs ``python -m infra.run`` as ``make run`` does (its own emulator, API and ticker,
a temporary ``FABU_HOME``, free ports) and stops it the way a terminal does: SIGINT to its whole
process group.
"""
import json
import os
import signal
import subprocess
import time

from tests.conftest import ROOT
from tests.infra.stackproc import LocalStack, clean_env, port_open
from tests.support.sandbox import SandboxHost, ci_upload, project_body

SEEDED_EVENTS = 1500


def _stopped_cleanly(stack):
    code = stack.interrupt()
    out = stack.output
    assert code == 0, out[-3000:]
    assert out.rstrip().endswith("fabu: stopped"), out[-2000:]
    assert "error" not in out.lower() and "Traceback" not in out, out[-3000:]
    assert not port_open(stack.api_port) and not port_open(stack.aws_port)
    return out


def _seed_events(stack, count):
    """Storage-boundary setup: a long history of events, written straight into the table."""
    ddb = stack.emulator("dynamodb")
    items = [{"PutRequest": {"Item": {
        "scope": {"S": "project#history"}, "sk": {"S": f"2026-01-01T00:00:00Z#{i:06d}"},
        "day": {"S": "2026-01-01"}, "kind": {"S": "test.history"},
        "payload": {"M": {"n": {"N": str(i)}, "raw": {"B": bytes([i % 256]) * 8}}}}}}
        for i in range(count)]
    for start in range(0, len(items), 25):
        ddb.batch_write_item(RequestItems={"fabu-local-events": items[start:start + 25]})


def _history_count(stack):
    ddb = stack.emulator("dynamodb")
    return sum(page["Count"] for page in ddb.get_paginator("query").paginate(
        TableName="fabu-local-events", KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "scope"},
        ExpressionAttributeValues={":s": {"S": "project#history"}}, Select="COUNT"))


def _state_of(stack, project, host):
    view = stack.request("GET", f"/api/v1/project/{project}")
    assert view.status_code == 200, view.text
    events = stack.request("GET", f"/api/v1/project/{project}/events?limit=200&order=asc")
    report = stack.request("GET", f"/api/v1/project/{project}/hosts/{host}/report")
    daily = stack.request("GET", "/api/v1/reports/latest")
    assert events.status_code == report.status_code == daily.status_code == 200
    body = view.json()
    return {"version": body["version"], "rollout": {k: body["rollout"].get(k) for k in (
                "rollout_id", "version", "state")},
            "release": body.get("release", {}).get("sha256"),
            "events": [(e["kind"], e["id"]) for e in events.json()["events"]],
            "report": report.json(), "daily": daily.json()}


def test_a_restart_keeps_projects_rollouts_events_reports_and_objects(tmp_path):
    home = tmp_path / "fabu"
    first = LocalStack(home, FABU_SNAPSHOT_SECONDS=3600).ready()
    assert "no saved data" in first.output
    # a project whose release came through CI, rolled out to a host running the real agent
    assert first.request("POST", "/api/v1/project", project_body(
        "shop", "1.0.0", ["shop-1"])).status_code == 201
    ci_upload(first, "shop", "1.0.0")
    host = SandboxHost(tmp_path / "shop-1", first, "shop-1")
    deadline = time.monotonic() + 90
    while first.request("GET", "/api/v1/project/shop").json()["rollout"]["state"] != "succeeded":
        assert time.monotonic() < deadline, first.request("GET", "/api/v1/project/shop").text
        host.run_agent()
        time.sleep(1)
    assert first.request("POST", "/api/v1/reports", {}).status_code in (200, 201)
    _seed_events(first, SEEDED_EVENTS)
    before = _state_of(first, "shop", "shop-1")
    assert before["rollout"]["state"] == "succeeded" and before["report"]["reports"]

    # a second `make run` on the same FABU_HOME is refused while the first runs
    second = LocalStack(home)
    assert second.finish(60) == 1
    assert "make run is already running" in second.output

    out = _stopped_cleanly(first)
    assert "fabu: stopping" in out and "fabu: saved the data to" in out

    again = LocalStack(home, FABU_SNAPSHOT_SECONDS=3600).ready()
    restored = again.wait_for("fabu: restored the data saved at")
    assert f"{SEEDED_EVENTS}" in restored or _history_count(again) == SEEDED_EVENTS
    seconds = float(restored.rsplit(" in ", 1)[1].split(" s")[0])
    assert seconds < 120, restored
    assert _state_of(again, "shop", "shop-1") == before
    assert _history_count(again) == SEEDED_EVENTS
    # the release tarball came back byte for byte: a new host deploys it (the script checks sha256)
    assert again.request("PUT", "/api/v1/project/shop", {"hosts": ["shop-1", "shop-2"]}).status_code == 200
    other = SandboxHost(tmp_path / "shop-2", again, "shop-2")
    deadline = time.monotonic() + 90
    while other.current_version("shop") != "1.0.0":
        assert time.monotonic() < deadline, other.run_agent().stdout
        other.run_agent()
        time.sleep(1)
    _stopped_cleanly(again)

    wiped = subprocess.run(["make", "--no-print-directory", "wipe"], cwd=ROOT, text=True,
                           capture_output=True, env=clean_env(FABU_HOME=home), timeout=120)
    assert wiped.returncode == 0, wiped.stdout + wiped.stderr
    assert "the next `make run` starts empty" in wiped.stdout
    empty = LocalStack(home).ready()
    assert "no saved data" in empty.output
    listed = empty.request("GET", "/api/v1/project")
    assert listed.status_code == 200 and listed.json()["projects"] == []
    _stopped_cleanly(empty)


def test_a_crash_keeps_the_last_periodic_save_and_a_child_that_dies_is_an_error(tmp_path):
    home = tmp_path / "fabu"
    stack = LocalStack(home, FABU_SNAPSHOT_SECONDS=1).ready()
    assert stack.request("POST", "/api/v1/project", project_body(
        "api", "2.0.0", ["api-1"])).status_code == 201
    manifest = home / "state" / "current" / "manifest.json"
    deadline = time.monotonic() + 60
    while not (manifest.exists() and json.loads(manifest.read_text())["tables"][
            "fabu-local-projects"]["items"] == 1):
        assert time.monotonic() < deadline, "no periodic save holds the project"
        time.sleep(0.5)
    os.kill(stack.proc.pid, signal.SIGKILL)  # a crash: no last save
    stack.finish(30)
    deadline = time.monotonic() + 30
    while port_open(stack.api_port) or port_open(stack.aws_port):  # the kernel ends the children
        assert time.monotonic() < deadline, "the emulator or the API outlived make run"
        time.sleep(0.2)

    again = LocalStack(home, ports=(stack.api_port, stack.aws_port)).ready()
    got = again.request("GET", "/api/v1/project/api")
    assert got.status_code == 200 and got.json()["version"] == "2.0.0"
    api_pid = int(subprocess.run(["pgrep", "-f", f"chalice local --stage local --host 127.0.0.1 "
                                  f"--port {again.api_port}"], capture_output=True, text=True
                                 ).stdout.split()[0])
    os.kill(api_pid, signal.SIGKILL)
    assert again.finish(60) == 1
    out = again.output
    assert "fabu: error: the API (chalice local) exited on its own with code -9" in out
    assert "fabu: saved the data to" in out and "stopped after an error (exit 1)" in out


def test_a_failed_restore_says_what_failed_and_starts_nothing(tmp_path):
    home = tmp_path / "fabu"
    snap = home / "state" / "snap-20260101T000000Z-1-1"
    (snap / "tables").mkdir(parents=True)
    (snap / "tables" / "fabu-local-projects.jsonl").write_text(
        '{"id": {"S": "broken"}}\n{"id": this is not json\n')
    manifest = {"format": 1, "saved_at": "2026-01-01T00:00:00+00:00", "buckets": {}, "queues": None,
                "tables": {"fabu-local-projects": {"items": 2, "key": ["id"]}}}
    (snap / "manifest.json").write_text(json.dumps(manifest))
    os.symlink(snap.name, home / "state" / "current")
    before = sorted(str(p) for p in (home / "state").rglob("*"))
    stack = LocalStack(home)
    assert stack.finish(120) == 1
    out = stack.output
    assert "fabu: error: restoring the saved data from" in out, out
    assert "table fabu-local-projects" in out and "line 2 is not JSON" in out, out
    assert "Nothing was started and the saved data is untouched" in out
    assert "fabu: API" not in out and not port_open(stack.api_port) and not port_open(stack.aws_port)
    assert sorted(str(p) for p in (home / "state").rglob("*")) == before
