"""The real agent on sandbox hosts against the real API over HTTP (``chalice local`` + moto).

Each host is a temp ``FABU_ROOT`` with its own ``agent.env`` and dpkg shims; it runs
``agent/fabu-agent.sh`` exactly as cron would. Projects are created through the API as an admin,
the rollout engine releases the hosts on ``live.tick()``, and the assertions are what a user
sees: files on the host, the project's host rows and rollout, the stored reports and events.
"""
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.calls import dynamodb_calls
from tests.support.sandbox import (SandboxHost, ci_upload, events_of, host_row, project_body,
                            project_view, stored_release, stored_reports, wait_for)


@pytest.fixture
def make_host(live, tmp_path):
    def make(name, packages=None):
        return SandboxHost(tmp_path / name, live, name, packages)
    return make


def _create(live, body):
    response = live.request("POST", "/api/v1/project", body)
    assert response.status_code == 201, response.text
    return response.json()


def _update(live, project, **changes):
    response = live.request("PUT", f"/api/v1/project/{project}", changes)
    assert response.status_code == 200, response.text
    return response.json()


def _deploy_once(live, host):
    """One tick (the engine releases the host), then one cron run of the agent."""
    live.tick()
    return host.run_agent()


def _rollout(live, project):
    return project_view(live, project)["rollout"]


def test_first_deploy_through_the_ci_path(live, make_host):
    host = make_host("e2e-1.example.com")
    _create(live, project_body("shop", "1.0.0", [host.host]))
    ci_upload(live, "shop", "1.0.0")
    result = _deploy_once(live, host)
    assert result.returncode == 0, result.stdout + result.stderr
    live.tick()
    assert host.current_version("shop") == "1.0.0"
    assert host.current_target("shop") == "releases/1.0.0"
    release = host.root / "shop" / "releases" / "1.0.0"
    assert (release / "app.txt").read_text() == "shop 1.0.0\n"
    assert (release / "started.txt").read_text() == "started shop 1.0.0\n"
    assert os.access(release / "bin" / "run.sh", os.X_OK)
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["running_version"], row["last_phase"]) == (
        "succeeded", "1.0.0", "post-deploy")
    reports = stored_reports(row["deploy_id"])
    assert {p: r.status for p, r in reports.items()} == {
        "pre-deploy": "ok", "do-deploy": "ok", "post-deploy": "ok"}
    assert "sha256 verified" in reports["pre-deploy"].output
    assert _rollout(live, "shop")["state"] == "succeeded"
    assert "host.succeeded" in events_of(live, "shop")


def _deployed(live, host, project="shop", version="1.0.0", **overrides):
    """``host`` runs ``version`` of a new project (storage-boundary release, one agent run)."""
    stored_release(project, version)
    _create(live, project_body(project, version, [host.host], **overrides))
    result = _deploy_once(live, host)
    assert result.returncode == 0, result.stdout + result.stderr
    live.tick()
    assert _rollout(live, project)["state"] == "succeeded"
    return result


def _new_version(live, project, version, scripts=None, **changes):
    stored_release(project, version)
    if scripts is not None:
        changes["scripts"] = dict(project_body(project, version, [])["scripts"], **scripts)
    return _update(live, project, version=version, **changes)


def _snapshot(host):
    return {path: entry for path, entry in host.snapshot().items() if path != ".agent.lock"}


def test_nothing_pending_after_a_deploy_is_a_quiet_no_op(live, make_host):
    host = make_host("e2e-1.example.com")
    _deployed(live, host)
    before = _snapshot(host)
    result = host.run_agent()
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert _snapshot(host) == before


def test_host_already_at_the_target_skips_and_counts_as_done(live, make_host):
    first = make_host("e2e-1.example.com")
    _deployed(live, first)
    clone = make_host("e2e-2.example.com")       # built from the same image: runs 1.0.0 already
    shutil.copytree(first.root, clone.root, symlinks=True)
    before = _snapshot(clone)
    _update(live, "shop", hosts=[first.host, clone.host])
    result = _deploy_once(live, clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already running 1.0.0" in result.stdout
    assert _snapshot(clone) == before               # nothing stopped, downloaded or switched
    row = host_row(live, "shop", clone.host)
    assert (row["status"], row["running_version"]) == ("succeeded", "1.0.0")
    assert stored_reports(row["deploy_id"])["pre-deploy"].status == "skipped"
    live.tick()
    assert _rollout(live, "shop")["state"] == "succeeded"


@pytest.mark.parametrize("script, phase", [("start", "do-deploy"), ("test", "post-deploy")])
def test_failed_check_rolls_the_host_back_and_says_so(live, make_host, script, phase):
    host = make_host("e2e-1.example.com")
    _deployed(live, host)
    _new_version(live, "shop", "2.0.0", {script: "echo 'port 8080 refused' >&2; exit 3"})
    result = _deploy_once(live, host)
    assert result.returncode == 1
    assert host.current_target("shop") == "releases/1.0.0"
    assert host.current_version("shop") == "1.0.0"
    assert (host.root / "shop" / "releases" / "1.0.0" / "started.txt").exists()  # restarted
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["running_version"], row["target_version"]) == ("failed", "1.0.0", "2.0.0")
    reports = stored_reports(row["deploy_id"])
    assert reports[phase].status == "failed" and "port 8080 refused" in reports[phase].output
    assert reports["rollback"].status == "ok" and reports["rollback"].running_version == "1.0.0"
    assert "rolled back to 1.0.0" in reports["rollback"].output
    live.tick()
    live.tick()
    rollout = _rollout(live, "shop")
    assert (rollout["state"], rollout["rollback_to"]) == ("rolled_back", "1.0.0")
    assert {"host.failed", "host.rolled_back", "rollout.halted"} <= set(events_of(live, "shop"))


def test_missing_and_too_old_deb_packages_fail_pre_deploy_by_name(live, make_host):
    good = make_host("e2e-1.example.com", {"nginx": "1.22.1", "libssl3": "3.0.11"})
    bad = make_host("e2e-2.example.com", {"nginx": "1.14.2"})
    stored_release("shop", "1.0.0")
    _create(live, project_body("shop", "1.0.0", [good.host, bad.host],
                               deb_dependencies=["nginx (>= 1.18)", "libssl3"]))
    live.tick()
    assert good.run_agent().returncode == 0
    result = bad.run_agent()
    assert result.returncode == 1
    assert good.current_version("shop") == "1.0.0"
    assert bad.current_target("shop") is None and bad.releases("shop") == []
    row = host_row(live, "shop", bad.host)
    assert (row["status"], row["last_phase"], row["running_version"]) == ("failed", "pre-deploy", None)
    output = stored_reports(row["deploy_id"])["pre-deploy"].output
    assert "nginx 1.14.2 is installed, needs ge 1.18" in output
    assert "libssl3 is not installed" in output


def test_checksum_mismatch_unpacks_nothing(live, make_host):
    from chalicelib import config
    from chalicelib.build import worker as builds
    from tests.conftest import boto_client
    host = make_host("e2e-1.example.com")
    body = stored_release("shop", "1.0.0")
    tampered = body[:-8] + bytes(b ^ 0xFF for b in body[-8:])     # same size, other bytes
    boto_client("s3").put_object(Bucket=config.release_bucket(),
                                 Key=builds.artifact_key("shop", "1.0.0"), Body=tampered)
    _create(live, project_body("shop", "1.0.0", [host.host]))
    result = _deploy_once(live, host)
    assert result.returncode == 2
    assert host.releases("shop") == [] and host.current_target("shop") is None
    assert not list((host.root / "shop").glob(".unpack-*"))
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["last_phase"]) == ("failed", "pre-deploy")
    assert "sha256 mismatch" in stored_reports(row["deploy_id"])["pre-deploy"].output


def _slow_start(host):
    """A start script that hangs while the host's ``slow`` flag file exists."""
    flag = host.base / "slow"
    flag.touch()
    return flag, {"start": 'while [ -e "$FABU_ROOT/../slow" ]; do sleep 0.1; done; touch started.txt'}


def _stop(agent):
    """Kill an agent this test started (its whole session) if it is still running."""
    if agent.poll() is None:
        os.killpg(agent.pid, 9)
        agent.wait()


def _wait_in_phase(host, project, phase):
    marker = host.root / project / ".fabu-inflight"
    wait_for(lambda: marker.exists() and marker.read_bytes().endswith(b"\0" + phase.encode() + b"\0"),
             what=f"{phase} of {project} on {host.host}")
    time.sleep(0.3)


def test_host_killed_mid_deploy_is_reported_interrupted_on_the_next_run(live, make_host):
    host = make_host("e2e-1.example.com")
    flag, scripts = _slow_start(host)
    stored_release("shop", "1.0.0")
    _create(live, project_body("shop", "1.0.0", [host.host], scripts=scripts))
    live.tick()
    agent = host.start_agent()
    try:
        _wait_in_phase(host, "shop", "do-deploy")
    finally:
        _stop(agent)             # the host dies: agent, script and user script at once
    flag.unlink()
    assert host_row(live, "shop", host.host)["status"] == "in_progress"
    result = host.run_agent()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "interrupted during do-deploy" in result.stderr
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["last_status"], row["last_phase"]) == ("failed", "interrupted", "do-deploy")
    assert stored_reports(row["deploy_id"])["do-deploy"].status == "interrupted"
    assert "host.interrupted" in events_of(live, "shop")
    assert not (host.root / "shop" / ".fabu-inflight").exists()
    assert host.run_agent().stdout == ""          # reported once, then quiet again


def test_interrupted_deploy_of_a_deleted_project_is_forgotten_not_retried(live, make_host):
    host = make_host("e2e-1.example.com")
    flag, scripts = _slow_start(host)
    stored_release("shop", "1.0.0")
    _create(live, project_body("shop", "1.0.0", [host.host], scripts=scripts))
    live.tick()
    agent = host.start_agent()
    try:
        _wait_in_phase(host, "shop", "do-deploy")
    finally:
        _stop(agent)
    flag.unlink()  # the user script ran in its own process group: let it end now, not at its timeout
    assert live.request("DELETE", "/api/v1/project/shop?force=true").status_code == 200
    result = host.run_agent()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no longer knows shop deploy" in result.stderr
    assert not (host.root / "shop" / ".fabu-inflight").exists()
    again = host.run_agent()
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")


def test_second_agent_run_exits_at_once_while_the_first_deploys(live, make_host):
    host = make_host("e2e-1.example.com")
    flag, scripts = _slow_start(host)
    stored_release("shop", "1.0.0")
    _create(live, project_body("shop", "1.0.0", [host.host], scripts=scripts))
    live.tick()
    first = host.start_agent()
    try:
        _wait_in_phase(host, "shop", "do-deploy")
        started = time.monotonic()
        second = host.run_agent()
        assert time.monotonic() - started < 2
        assert second.returncode == 0 and "another run holds" in second.stderr
        flag.unlink()
        assert first.wait(timeout=30) == 0
    finally:
        _stop(first)
    assert host_row(live, "shop", host.host)["status"] == "succeeded"


def test_pruning_keeps_the_newest_releases(live, make_host):
    host = make_host("e2e-1.example.com")
    _deployed(live, host, rollout={"keep_releases": 2})
    for version in ("1.1.0", "1.2.0", "1.3.0"):
        _new_version(live, "shop", version)
        result = _deploy_once(live, host)
        assert result.returncode == 0, result.stdout + result.stderr
        live.tick()
    assert host.releases("shop") == ["1.2.0", "1.3.0"]
    assert host.current_version("shop") == "1.3.0"
    assert "pruned release 1.1.0" in result.stdout



# --- the hot path: what a no-op poll costs ----------------------------------------------------

def _dynamodb_calls():
    """Every DynamoDB request of fabu's tables' models, by operation name."""
    from chalicelib.hosts.beat import Beat
    from chalicelib.models import ALL_MODELS
    return dynamodb_calls((*ALL_MODELS, Beat))


def test_noop_poll_through_the_route_is_one_query_and_no_write(api, signed_client):
    host = "e2e-1.example.com"
    client = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/" + host)
    stored_release("shop", "1.0.0")
    assert api.post("/api/v1/project", project_body("shop", "1.0.0", [host])).status == 201
    assert client.get("/api/v1/" + host).status == 200
    script = client.get(f"/api/v1/{host}/deploy").body
    script = script.decode() if isinstance(script, bytes) else script
    deploy_id = script.split("P_DEPLOY_ID=", 1)[1].split()[0].strip("'")
    for phase in ("pre-deploy", "do-deploy", "post-deploy"):   # what the script would send
        assert client.post(f"/api/v1/{host}/report", {
            "project": "shop", "version": "1.0.0", "deploy_id": deploy_id, "phase": phase,
            "status": "ok", "exit_code": 0, "output": "", "running_version": "1.0.0"}).status == 200
    with _dynamodb_calls() as calls:
        assert client.get("/api/v1/" + host).status == 204
    assert calls == ["Query"]


# --- a fleet: issue 6 --------------------------------------------------------------------------

def _cron_rounds(live, hosts, project, done_states, max_rounds=10):
    """Tick, then every host's cron runs at once; until the rollout reaches ``done_states``.

    Returns ``{host: [round numbers in which the agent ran a script]}``.
    """
    ran = {host.host: [] for host in hosts}
    with ThreadPoolExecutor(len(hosts)) as pool:
        for number in range(max_rounds):
            live.tick()
            state = _rollout(live, project)["state"]
            if state in done_states:
                return ran
            for host, result in zip(hosts, pool.map(lambda h: h.run_agent(), hosts)):
                assert result.returncode in (0, 1), (host.host, result.stdout, result.stderr)
                if "fetching the deploy script" in result.stdout:
                    ran[host.host].append(number)
    raise AssertionError(f"rollout of {project} still {state} after {max_rounds} rounds")


def test_five_hosts_two_versions_through_waves_then_a_rollback(live, make_host):
    hosts = [make_host(f"fleet-{i}.example.com") for i in range(5)]
    canary = hosts[0]
    stored_release("shop", "1.0.0")
    _create(live, project_body("shop", "1.0.0", [h.host for h in hosts], rollout={
        "waves": [1, "50%", "100%"], "canary_hosts": [canary.host], "bake_seconds": 0,
        "max_failures": 0, "auto_rollback": True}))

    ran = _cron_rounds(live, hosts, "shop", {"succeeded"})
    rows = {row["host"]: row for row in project_view(live, "shop")["hosts_view"]["hosts"]}
    wave_of = {name: row["wave"] for name, row in rows.items()}
    assert sorted(wave_of.values()) == [0, 1, 1, 2, 2] and wave_of[canary.host] == 0
    first_run = {name: rounds[0] for name, rounds in ran.items()}
    assert all(len(rounds) == 1 for rounds in ran.values()), ran   # each host deployed once
    for earlier, later in ((0, 1), (1, 2)):                            # waves in order
        assert max(first_run[h] for h, w in wave_of.items() if w == earlier) < min(
            first_run[h] for h, w in wave_of.items() if w == later), (wave_of, first_run)
    assert all(h.current_version("shop") == "1.0.0" for h in hosts)
    assert project_view(live, "shop")["hosts_view"]["versions_seen"] == {"1.0.0": 5}

    # 2.0.0's test fails on one host of wave 1: the rollout halts there and rolls back.
    wave1 = sorted(h for h, w in wave_of.items() if w == 1)
    broken = next(h for h in hosts if h.host == wave1[0])
    (broken.base / "broken").touch()
    test = 'if [ -e "$FABU_ROOT/../broken" ]; then echo "GET /health: 500" >&2; exit 1; fi'
    _update(live, "shop", version="2.0.0", scripts=dict(project_body("shop", "2.0.0", [])["scripts"],
                                                         test=test))
    ci_upload(live, "shop", "2.0.0")          # CI uploads after the version is set: the tick starts it
    _cron_rounds(live, hosts, "shop", {"rolled_back", "halted"})
    rollout = _rollout(live, "shop")
    assert (rollout["version"], rollout["state"], rollout["rollback_to"]) == (
        "2.0.0", "rolled_back", "1.0.0")
    assert {h.host: h.current_version("shop") for h in hosts} == {h.host: "1.0.0" for h in hosts}
    took_v2 = {h.host for h in hosts if "2.0.0" in h.releases("shop")}
    assert took_v2 == {canary.host, *wave1}                # wave 2 never saw 2.0.0
    rows = {row["host"]: row for row in project_view(live, "shop")["hosts_view"]["hosts"]}
    assert (rows[broken.host]["status"], rows[broken.host]["running_version"]) == ("failed", "1.0.0")
    broken_reports = stored_reports(rows[broken.host]["deploy_id"])
    assert "GET /health: 500" in broken_reports["post-deploy"].output
    assert broken_reports["rollback"].status == "ok"          # the script rolled itself back
    for name in took_v2 - {broken.host}:                       # the server rolled these back
        assert (rows[name]["status"], rows[name]["running_version"]) == ("rolled_back", "1.0.0")
        assert stored_reports(rows[name]["deploy_id"])["rollback"].status == "ok"
    assert project_view(live, "shop")["hosts_view"]["versions_seen"] == {"1.0.0": 5}
    kinds = events_of(live, "shop")
    assert kinds.count("rollout.wave_started") >= 3 + 2 and "rollout.succeeded" in kinds
    assert {"rollout.halted", "host.rolled_back", "rollout.rolled_back"} <= set(kinds)


# --- script timeouts and rollback versions through the real agent: issues 13 and 14 ---------------

def _running(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rsplit(") ", 1)[1].split()[0] not in ("Z", "X")


#: Logs which release each start and stop belongs to, and the host's move.
_LOGGED = ('echo "$FABU_SCRIPT $FABU_VERSION previous=$FABU_PREVIOUS_VERSION '
           'target=$FABU_TARGET_VERSION" >> "$FABU_RELEASE_DIR/../../versions.log"')


def test_a_hanging_start_times_out_rolls_back_and_the_next_run_deploys(live, make_host):
    host = make_host("e2e-1.example.com")
    _deployed(live, host, scripts={"start": _LOGGED, "stop": _LOGGED}, timeouts={"start": 2})
    hang = ('echo $$ > "$FABU_RELEASE_DIR/../../hung.pid"\n'
            'sleep 1000 & echo $! >> "$FABU_RELEASE_DIR/../../hung.pid"\nsleep 1000\n')
    _new_version(live, "shop", "2.0.0", {"start": hang, "stop": _LOGGED})
    started = time.monotonic()
    result = _deploy_once(live, host)              # would hang forever without a time limit
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 40
    assert host.current_target("shop") == "releases/1.0.0"
    pids = [int(p) for p in (host.root / "shop" / "hung.pid").read_text().split()]
    assert len(pids) == 2 and not [pid for pid in pids if _running(pid)]
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["running_version"]) == ("failed", "1.0.0")
    reports = stored_reports(row["deploy_id"])
    assert (reports["do-deploy"].status, reports["do-deploy"].exit_code) == ("failed", 124)
    assert reports["do-deploy"].output.rstrip("\n").endswith("start timed out after 2 s")
    assert reports["rollback"].status == "ok"
    # the restored release's start ran as 1.0.0, replacing the failed 2.0.0 (issue 14)
    log = host.root / "shop" / "versions.log"
    assert log.read_text().splitlines() == [
        "start 1.0.0 previous= target=1.0.0",
        "stop 1.0.0 previous=1.0.0 target=2.0.0",
        "stop 2.0.0 previous=2.0.0 target=1.0.0",      # the self-rollback's stop of 2.0.0
        "start 1.0.0 previous=2.0.0 target=1.0.0"]
    live.tick()
    live.tick()
    # the next cron run is not blocked by anything the hung run left: it deploys the next version
    _new_version(live, "shop", "3.0.0", {"start": _LOGGED})
    result = _deploy_once(live, host)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "another run holds" not in result.stderr
    assert host.current_version("shop") == "3.0.0"
    assert host_row(live, "shop", host.host)["status"] == "succeeded"
    assert log.read_text().splitlines()[-2:] == ["stop 1.0.0 previous=1.0.0 target=3.0.0",
                                                 "start 3.0.0 previous=1.0.0 target=3.0.0"]


def test_timeouts_are_a_validated_project_field_delivered_in_the_script(api, signed_client):
    host = "e2e-1.example.com"
    stored_release("shop", "1.0.0")
    bad = api.post("/api/v1/project", project_body("shop", "1.0.0", [host], timeouts={
        "start": 0, "stop": "60", "test": 86401, "health": 30, "restart": 5}))
    assert bad.status == 400
    assert set(bad.json["fields"]) == {"timeouts.start", "timeouts.stop", "timeouts.test",
                                       "timeouts.health", "timeouts.restart"}
    assert "rollout.health_timeout" in bad.json["fields"]["timeouts.health"]
    assert api.post("/api/v1/project", project_body("shop", "1.0.0", [host],
                                                    timeouts=[1])).json["fields"] == {
        "timeouts": "must be an object of seconds per script (start, stop, test, pre_deploy, post_deploy)"}
    created = api.post("/api/v1/project", project_body("shop", "1.0.0", [host],
                                                       timeouts={"start": 120, "post_deploy": 86400}))
    assert created.status == 201, created.json
    assert api.get("/api/v1/project/shop").json["timeouts"] == {
        "start": 120, "stop": 600, "test": 600, "pre_deploy": 600, "post_deploy": 86400}
    client = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/" + host)
    script = client.get(f"/api/v1/{host}/deploy").body
    script = script.decode() if isinstance(script, bytes) else script
    timeouts = script.split("P_TIMEOUTS=(\n", 1)[1].split(")", 1)[0].split()
    assert timeouts == ["[start]=120", "[stop]=600", "[test]=600", "[pre_deploy]=600",
                        "[post_deploy]=86400"]
