"""The ``fabu`` command against the real local stack (``chalice local`` over HTTP).

Commands are signed through botocore's credential chain from environment keys, exactly as a user
or a CI job runs them. Most run in-process through click's runner (a process start costs about a
second); the tests that need the process boundary (the installed console script, ``watch`` beside
a thread that plays the ticker and the hosts) run ``.venv/bin/fabu`` itself.
"""
import json
import threading
import time

import pytest

from tests.cli.support import PROJECT_YAML, fabu, ready_release, write_yaml
from tests.conftest import ADMIN_KEY, ADMIN_SECRET, base_project, free_port


def test_create_from_yaml_then_show_and_list(live, tmp_path):
    code, out, err = fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML),
                          process=True)
    assert code == 0, err
    assert "created project shop" in err and "1.0.0" in out

    code, out, err = fabu(live, "-o", "json", "show", "shop")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["hosts"] == ["shop-1.example.com", "shop-2.example.com", "shop-3.example.com"]
    assert shown["rollout"]["settings"]["waves"] == [1, "100%"]

    code, out, err = fabu(live, "list")
    assert code == 0, err
    assert "shop" in out and "1.0.0" in out


def test_update_from_the_edited_yaml_takes_the_id_from_its_name(live, tmp_path):
    path = write_yaml(tmp_path, PROJECT_YAML)
    assert fabu(live, "project", "create", "-f", path)[0] == 0
    write_yaml(tmp_path, PROJECT_YAML.replace("version: 1.0.0", "version: 1.0.1"))
    code, out, err = fabu(live, "project", "update", "-f", path)
    assert code == 0, err
    assert "updated project shop" in err
    assert live.request("GET", "/api/v1/project/shop").json()["version"] == "1.0.1"


def test_update_from_json_with_a_stale_etag_is_a_conflict(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"version": "1.1.0"}))
    code, out, err = fabu(live, "project", "update", "shop", "-f", str(change), "--if-match", '"1"')
    assert code == 0, err
    assert "1.1.0" in out
    code, out, err = fabu(live, "project", "update", "shop", "-f", str(change), "--if-match", '"1"')
    assert code == 1
    assert "HTTP 409" in err and "Traceback" not in err


def test_bad_project_is_shown_field_by_field(live, tmp_path):
    bad = PROJECT_YAML.replace("name: shop", "name: Not A Slug").replace(
        "shop-1.example.com", "project")
    code, out, err = fabu(live, "project", "create", "-f", write_yaml(tmp_path, bad))
    assert code == 1
    response = live.request("POST", "/api/v1/project", base_project(name="Not A Slug", hosts=["project"]))
    said = response.json()
    assert f"HTTP 400: {said['error'].split(' (')[0]}" in err
    assert "  name: must be a slug" in err
    assert "  hosts[0]: " in err and "reserved" in err
    assert "Traceback" not in err


def test_host_key_on_a_project_route_is_explained(live):
    key, secret = live.add_host("web-1.example.com")
    code, out, err = fabu(live, "list", key=key, secret=secret)
    assert code == 1
    assert "HTTP 403" in err
    assert "host web-1.example.com may only call /api/v1/web-1.example.com" in err
    assert f"signed with access key {key} (from env)" in err
    assert "FABU_ADMIN_ARNS" in err and "--profile" in err


def test_unknown_key_is_explained_as_a_signature_problem(live):
    code, out, err = fabu(live, "list", key="AKIANOTAKEY000000000", secret="nope")
    assert code == 1
    assert "HTTP 403" in err and "did not accept the signature" in err


def test_connection_refused_asks_whether_make_run_runs(live):
    code, out, err = fabu(live, "list", endpoint=f"http://127.0.0.1:{free_port()}", process=True)
    assert code == 3
    assert "connection refused" in err and "is `make run` running?" in err
    assert "Traceback" not in err


def test_no_credentials_is_a_usage_error_with_a_hint(live):
    code, out, err = fabu(live, "list", env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    assert code == 2
    assert "no AWS credentials found" in err and ".fabu/credentials" in err


def test_profile_from_a_shared_credentials_file(live, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[fabu-admin]\naws_access_key_id = {ADMIN_KEY}\n"
                     f"aws_secret_access_key = {ADMIN_SECRET}\nregion = us-east-1\n")
    env = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_DEFAULT_REGION": "",
           "AWS_SHARED_CREDENTIALS_FILE": str(creds)}
    code, out, err = fabu(live, "--profile", "fabu-admin", "list", env=env)
    assert code == 0, err
    assert "no projects" in out


def test_unknown_project_is_a_404_with_the_apis_words(live):
    code, out, err = fabu(live, "show", "nothing-here")
    assert code == 1
    assert "HTTP 404: no project named 'nothing-here'" in err


def test_local_host_key_mints_credentials_the_api_accepts(live):
    code, out, err = fabu(live, "local", "host-key", "db-1.example.com",
                          env={"FABU_PRINCIPALS": str(live.principals_path)})
    assert code == 0, err
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#"))
    assert env["FABU_HOST"] == "db-1.example.com" and env["FABU_API_URL"] == live.url
    assert env["FABU_REGION"] == "us-east-1"
    poll = live.request("GET", "/api/v1/db-1.example.com", key=env["AWS_ACCESS_KEY_ID"],
                        secret=env["AWS_SECRET_ACCESS_KEY"])
    assert poll.status_code == 204


def test_local_host_key_refuses_a_bad_host_name(live):
    code, out, err = fabu(live, "local", "host-key", "Not_A_Host",
                          env={"FABU_PRINCIPALS": str(live.principals_path)})
    assert code == 2 and "RFC 1123" in err


def test_agent_install_prints_cron_env_and_puppet(live):
    code, out, err = fabu(live, "--region", "eu-west-1", "agent", "install", "web-7.example.com",
                          "--access-key-id", "AKIAHOST")
    assert code == 0, err
    assert "*/5 * * * * deploy /opt/fabu/bin/fabu-agent.sh" in out.splitlines()
    assert f"FABU_API_URL={live.url}" in out.splitlines()
    assert "FABU_REGION=eu-west-1" in out.splitlines()
    assert "FABU_HOST=web-7.example.com" in out.splitlines()
    assert "AWS_ACCESS_KEY_ID=AKIAHOST" in out.splitlines()
    assert "node 'web-7.example.com' {" in out and "class { 'fabu::agent':" in out


class _Hosts:
    """Hosts speaking the host protocol over HTTP with their own keys; ``failing`` fail post-deploy."""

    def __init__(self, live, names, failing=()):
        self.live, self.failing = live, set(failing)
        self.keys = {name: live.add_host(name) for name in names}

    def run_once(self, host):
        key, secret = self.keys[host]
        poll = self.live.request("GET", "/api/v1/" + host, key=key, secret=secret)
        if poll.status_code != 200:
            return
        script = self.live.request("GET", f"/api/v1/{host}/deploy", key=key, secret=secret)
        for item in poll.json()["pending"]:
            if item["deploy_id"] not in script.text:
                continue
            phases = ["rollback"] if item["kind"] == "rollback" else ["pre-deploy", "do-deploy", "post-deploy"]
            for phase in phases:
                failed = host in self.failing and phase == "post-deploy"
                self.live.request("POST", f"/api/v1/{host}/report", {
                    "project": item["project"], "version": item["version"],
                    "deploy_id": item["deploy_id"], "phase": phase,
                    "status": "failed" if failed else "ok", "exit_code": 1 if failed else 0,
                    "output": "smoke test: /healthz answered 500" if failed else phase,
                    "running_version": item["version"]}, key=key, secret=secret)
                if failed:
                    break


def _drive(live, hosts, stop):
    """What `make run` and the hosts' cron do: tick, every host polls; until ``stop`` is set."""
    while not stop.is_set():
        live.tick()
        for host in hosts.keys:
            hosts.run_once(host)
        time.sleep(0.2)


@pytest.mark.parametrize("failing, code, final", [
    ((), 0, "rollout of 1.0.0 succeeded"),
    (("shop-1.example.com", "shop-2.example.com", "shop-3.example.com"), 4, "halted"),
])
def test_watch_follows_a_rollout_to_its_end_and_exits_with_its_outcome(live, tmp_path, failing,
                                                                       code, final):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    ready_release("shop", "1.0.0")
    hosts = _Hosts(live, ["shop-1.example.com", "shop-2.example.com", "shop-3.example.com"], failing)
    stop = threading.Event()
    driver = threading.Thread(target=_drive, args=(live, hosts, stop), daemon=True)
    driver.start()
    try:
        got, out, err = fabu(live, "watch", "shop", "--interval", "0.3", "--timeout", "60",
                             timeout=90, process=True)
    finally:
        stop.set()
        driver.join(timeout=30)
    assert got == code, err
    assert final in out
    assert "wave 0 (canary)" in err and "wave 1" in err
    if failing:  # why it ended: the canary's failed phase and its output
        assert "shop-" in err and ": post-deploy failed (exit 1):" in err
        assert "    | smoke test: /healthz answered 500" in err


def test_watch_gives_up_after_its_timeout(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    code, out, err = fabu(live, "watch", "shop", "--interval", "0.2", "--timeout", "1")
    assert code == 9
    assert "gave up after 1s: rollout of 1.0.0 waiting release" in out


def test_pause_resume_and_the_events_they_leave(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    code, out, err = fabu(live, "pause", "shop")
    assert code == 0, err
    assert "rollout  paused of 1.0.0" in out
    code, out, err = fabu(live, "pause", "shop")
    assert code == 1 and "HTTP 409: cannot pause a rollout that is paused" in err
    assert fabu(live, "resume", "shop")[0] == 0
    code, out, err = fabu(live, "events", "shop", "--limit", "5")
    assert code == 0, err
    lines = out.splitlines()
    paused = next(i for i, line in enumerate(lines) if "rollout.paused" in line)
    resumed = next(i for i, line in enumerate(lines) if "rollout.resumed" in line)
    assert paused < resumed  # oldest first
    code, out, err = fabu(live, "events", "shop", "--since", "yesterday")
    assert code == 1 and "  since: is not an ISO 8601 time" in err


def test_promote_releases_the_next_wave_until_the_last(live, tmp_path):
    manual = PROJECT_YAML + "  auto_promote: false\n"
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, manual))[0] == 0
    ready_release("shop", "1.0.0")
    code, out, err = fabu(live, "-o", "json", "promote", "shop")
    assert code == 0, err
    assert json.loads(out)["state"] == "running" and json.loads(out)["wave"] == 0
    code, out, err = fabu(live, "-o", "json", "promote", "shop")
    assert code == 0, err
    assert json.loads(out)["wave"] == 1
    code, out, err = fabu(live, "promote", "shop", "--full")
    assert code == 1 and "HTTP 409: the rollout of 1.0.0 is already at its last wave" in err
    code, out, err = fabu(live, "rollback", "shop", "--to", "0.9.0")
    assert code == 1 and "  to: no ready release of 0.9.0" in err
    code, out, err = fabu(live, "delete", "shop")
    assert code == 1 and "HTTP 409" in err and "rollout in progress" in err
    code, out, err = fabu(live, "delete", "shop", "--force")
    assert code == 0 and "deleted project shop" in out
    assert live.request("GET", "/api/v1/project/shop").status_code == 404
