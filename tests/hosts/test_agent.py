"""The cron agent (agent/fabu-agent.sh), run as real bash against the fake API on 127.0.0.1."""
import os
import subprocess
import time

import pytest

from tests.support.hosts import AGENT, FakeApi, HostSandbox, deploy_item, shellcheck


@pytest.fixture(scope="module")
def api():
    server = FakeApi()
    yield server
    server.close()


_counter = iter(range(10**6))


@pytest.fixture
def host(tmp_path, api):
    n = next(_counter)
    return HostSandbox(tmp_path, api, f"agent-{n}.example.com")


def test_agent_passes_bash_n_and_shellcheck():
    text = AGENT.read_text()
    assert subprocess.run(["bash", "-n", str(AGENT)]).returncode == 0
    result = shellcheck(text)
    assert result.returncode == 0, result.stdout
    assert "| bash" not in text.replace("Never `curl | bash`", "")


def test_nothing_pending_is_one_quiet_poll(host, api):
    result = host.run_agent()
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert len(api.requests_to(f"/api/v1/{host.host}")) == 1
    assert api.requests_to(f"/api/v1/{host.host}/deploy") == []


def test_poll_is_signed_with_sigv4_for_execute_api(host, api):
    host.run_agent(AWS_SESSION_TOKEN="session-tok")
    _, _, headers = api.requests_to(f"/api/v1/{host.host}")[-1]
    assert headers["Authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDHOSTTEST/")
    assert "/us-east-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["x-amz-security-token"] == "session-tok"


def test_pending_deploy_is_downloaded_checked_and_run(host, api):
    api.pending[host.host] = [deploy_item(api, "web", "1.0", scripts={"start": "echo up"})]
    result = host.run_agent()
    assert result.returncode == 0, result.stderr
    assert host.current_version("web") == "1.0"
    assert host.phases() == [("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok")]
    assert "a deploy is pending" in result.stdout and "up" in result.stdout


def test_failed_user_check_is_the_agents_exit_code(host, api):
    api.pending[host.host] = [deploy_item(api, "web", "1.0", scripts={"start": "exit 4"})]
    assert host.run_agent().returncode == 1


@pytest.mark.parametrize("status, code, message", [
    (403, 3, "refused this host's credentials"),
    (401, 3, "refused this host's credentials"),
    (500, 3, "unexpected HTTP 500"),
    (404, 3, "unexpected HTTP 404"),
])
def test_unexpected_poll_status_is_a_clear_error(host, api, status, code, message):
    api.poll_status[host.host] = status
    result = host.run_agent()
    assert result.returncode == code
    assert message in result.stderr
    assert api.requests_to(f"/api/v1/{host.host}/deploy") == []


def test_unreachable_api_is_a_clear_error(host):
    result = host.run_agent(FABU_API_URL="http://127.0.0.1:9")
    assert result.returncode == 3
    assert "cannot reach http://127.0.0.1:9" in result.stderr


def test_incomplete_script_is_never_run(host, api):
    full = host.render([deploy_item(api, "web", "1.0", scripts={"start": "touch STARTED"})])
    api.scripts[host.host] = full[: len(full) // 2] + "\nmain\n"
    result = host.run_agent()
    assert result.returncode == 3
    assert "incomplete" in result.stderr
    assert host.reports() == [] and not (host.root / "web").exists()


def test_script_that_does_not_parse_is_never_run(host, api):
    api.scripts[host.host] = "touch STARTED\nif then\n# fabu-script-end\n"
    result = host.run_agent()
    assert result.returncode == 3 and "does not parse" in result.stderr
    assert not (host.base / "STARTED").exists()


def test_second_run_exits_at_once_while_the_first_deploys(host, api):
    api.pending[host.host] = [deploy_item(api, "web", "1.0", scripts={"start": "sleep 3"})]
    first = host.start_agent()
    deadline = time.monotonic() + 20
    while not api.requests_to(f"/api/v1/{host.host}/deploy"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    started = time.monotonic()
    second = host.run_agent()
    assert time.monotonic() - started < 2
    assert second.returncode == 0 and "another run holds" in second.stderr
    assert len(api.requests_to(f"/api/v1/{host.host}")) == 1
    first.wait(timeout=30)
    assert first.returncode == 0


def test_a_daemon_started_by_start_does_not_keep_the_lock(host, api):
    pid_file = host.base / "daemon.pid"
    daemon = f"nohup sleep 30 >/dev/null 2>&1 & echo $! > '{pid_file}'"
    api.pending[host.host] = [deploy_item(api, "web", "1.0", scripts={"start": daemon})]
    try:
        assert host.run_agent(timeout=20).returncode == 0
        api.pending[host.host] = []
        again = host.run_agent()
        assert again.returncode == 0 and "another run" not in again.stderr
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)   # the daemon this test started, by its id


def test_host_killed_mid_deploy_reports_interrupted_next_run(host, api):
    api.pending[host.host] = [deploy_item(api, "web", "1.0")]
    assert host.run_agent().returncode == 0
    flag = host.base / "slow"
    flag.touch()
    api.pending[host.host] = [deploy_item(api, "web", "2.0", deploy_id="d-2",
                                          scripts={"start": f"[ -e '{flag}' ] && sleep 60; true"})]
    agent = host.start_agent()
    marker = host.root / "web" / ".fabu-inflight"
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_bytes().endswith(b"\0do-deploy\0")):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(agent.pid, 9)      # the host dies: agent, script and user script at once
    agent.wait()
    flag.unlink()
    result = host.run_agent()
    assert result.returncode == 0, result.stderr
    interrupted = [r for r in host.reports() if r["status"] == "interrupted"]
    assert [(r["deploy_id"], r["phase"]) for r in interrupted] == [("d-2", "do-deploy")]
    assert host.current_version("web") == "2.0"


def test_configuration_from_agent_env_file(host, api):
    env_file = host.base / "agent.env"
    env_file.write_text(f"FABU_API_URL={api.url}/\nFABU_REGION=eu-west-1\n"
                        f"FABU_HOST={host.host}\nAWS_ACCESS_KEY_ID=AKIDFROMFILE\n"
                        "AWS_SECRET_ACCESS_KEY=file-secret\n")
    result = host.run_agent(FABU_AGENT_ENV=str(env_file), FABU_API_URL=None, FABU_REGION=None,
                            AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
    assert result.returncode == 0, result.stderr
    _, _, headers = api.requests_to(f"/api/v1/{host.host}")[-1]
    assert "Credential=AKIDFROMFILE/" in headers["Authorization"]
    assert "/eu-west-1/execute-api/" in headers["Authorization"]


def test_missing_configuration_is_named(host):
    result = host.run_agent(FABU_API_URL=None)
    assert result.returncode == 2 and "FABU_API_URL is not set" in result.stderr


def test_instance_role_credentials_from_imdsv2(host, api):
    api.imds_credentials = {"AccessKeyId": "ASIAROLEKEY", "SecretAccessKey": "role-secret",
                            "Token": "role-session-token", "Expiration": "2026-11-26T18:00:00Z"}
    try:
        result = host.run_agent(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                                FABU_IMDS_URL=api.url)
    finally:
        api.imds_credentials = None
    assert result.returncode == 0, result.stderr
    _, _, headers = api.requests_to(f"/api/v1/{host.host}")[-1]
    assert "Credential=ASIAROLEKEY/" in headers["Authorization"]
    assert headers["x-amz-security-token"] == "role-session-token"


def test_no_keys_and_no_instance_metadata_is_named(host, api):
    result = host.run_agent(AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None,
                            FABU_IMDS_URL="http://127.0.0.1:9")
    assert result.returncode == 2 and "no instance metadata" in result.stderr


def _splay_of(name, splay):
    crc = int(subprocess.run(["cksum"], input=name, capture_output=True, text=True,
                             check=True).stdout.split()[0])
    return crc % (splay + 1)


def test_splay_is_a_deterministic_per_host_delay(tmp_path, api):
    names = [f"splay-{i}.example.com" for i in range(40)]
    zero = next(n for n in names if _splay_of(n, 1) == 0)
    one = next(n for n in names if _splay_of(n, 1) == 1)
    timings = {}
    for name in (zero, one):
        host = HostSandbox(tmp_path / name, api, name)
        started = time.monotonic()
        assert host.run_agent(FABU_SPLAY="1").returncode == 0
        timings[name] = time.monotonic() - started
    assert timings[zero] < 0.9 <= timings[one]
    # and the spread is even: 10k names over a 300 s window land in every 30 s bucket
    buckets = [0] * 10
    for i in range(10000):
        buckets[_crc_bucket(f"host-{i}.example.com")] += 1
    assert min(buckets) > 800


def _crc_bucket(name):
    # the agent's formula (cksum CRC mod 301) in pure Python, bucketed by 30 s
    crc = _posix_cksum(name.encode())
    return min(9, (crc % 301) // 30)


def _posix_cksum(data):
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    length = len(data)
    while length:
        crc ^= (length & 0xFF) << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
        length >>= 8
    return ~crc & 0xFFFFFFFF


def test_python_cksum_matches_the_tool():
    for name in ("a", "web-1.example.com", "x" * 300):
        assert _posix_cksum(name.encode()) == _splay_of(name, 2**40)


# --- agent.env is data (issue 13) ---------------------------------------------------------------

def _run_with_env_file(host, text, **env):
    """Run the agent with ``text`` as its agent.env (and no FABU_*/AWS_* from the environment
    unless given)."""
    env_file = host.base / "agent.env"
    env_file.write_text(text)
    plain = {"FABU_API_URL": None, "FABU_REGION": None, "FABU_HOST": None,
             "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}
    return host.run_agent(FABU_AGENT_ENV=str(env_file), **dict(plain, **env))


def _good_lines(host, api):
    return (f"FABU_API_URL={api.url}\nFABU_REGION=us-east-1\nFABU_ROOT={host.root}\n"
            "AWS_ACCESS_KEY_ID=AKIDFROMFILE\nAWS_SECRET_ACCESS_KEY=file/secret+key=\n")


@pytest.mark.parametrize("value", [
    "$(touch {canary})", "`touch {canary}`", "x; touch {canary}", "x && touch {canary}",
    '"$(touch {canary})"', '"`touch {canary}`"', "x$(touch${{IFS}}{canary})", "'$(touch {canary})'",
    "x | touch {canary}", "$(touch {canary}",
])
def test_no_config_value_ever_runs_as_a_command(host, api, value):
    canary = host.base / "pwned"
    line = "FABU_HOST=" + value.format(canary=canary)
    result = _run_with_env_file(host, _good_lines(host, api) + line + "\n")
    assert not canary.exists()
    assert result.returncode == 2, result.stderr
    assert "line 6" in result.stderr or "FABU_HOST must be a host name" in result.stderr
    assert api.requests_to(f"/api/v1/{host.host}") == []


def test_a_command_line_in_the_config_is_an_error_naming_the_line(host, api):
    canary = host.base / "pwned"
    result = _run_with_env_file(host, f"# fabu\n\ntouch {canary}\n" + _good_lines(host, api))
    assert result.returncode == 2 and not canary.exists()
    assert "line 3: not KEY=VALUE" in result.stderr


def test_an_unknown_key_is_an_error_naming_the_line_and_the_key(host, api):
    result = _run_with_env_file(host, _good_lines(host, api) + "LD_PRELOAD=/tmp/evil.so\n")
    assert result.returncode == 2
    assert "line 6: unknown key LD_PRELOAD" in result.stderr


def test_config_values_may_be_quoted_commented_and_win_over_the_environment(host, api):
    text = ("# /etc/fabu/agent.env\r\n\r\n"
            f"FABU_API_URL='{api.url}/'\r\n"
            '  FABU_REGION="eu-west-1"  \n'
            f"export FABU_HOST={host.host}\n"
            "AWS_ACCESS_KEY_ID='AKIDFROMFILE'\n"
            "AWS_SECRET_ACCESS_KEY='a $ecret with `chars` and \"quotes\"'\n"
            "FABU_SPLAY=0")                                    # no newline at the end
    result = _run_with_env_file(host, text, FABU_REGION="us-west-2", AWS_ACCESS_KEY_ID="AKIDENV",
                                AWS_SECRET_ACCESS_KEY="env-secret")
    assert result.returncode == 0, result.stderr
    _, _, headers = api.requests_to(f"/api/v1/{host.host}")[-1]
    assert "Credential=AKIDFROMFILE/" in headers["Authorization"]
    assert "/eu-west-1/execute-api/" in headers["Authorization"]


def test_a_world_writable_config_is_refused(host, api):
    env_file = host.base / "agent.env"
    env_file.write_text(_good_lines(host, api))
    env_file.chmod(0o666)
    result = host.run_agent(FABU_AGENT_ENV=str(env_file))
    assert result.returncode == 2 and "is writable by every user" in result.stderr


@pytest.mark.parametrize("url", [
    "http://example.com", "http://example.com:8000/api", "http://10.0.0.8", "http://127.0.0.1.example.com",
    "http://localhost.example.com", "http://127.0.0.1@example.com/", "http://127.0.0.256",
    "http://[::2]:80", "ftp://127.0.0.1", "example.com",
])
def test_a_plain_http_url_outside_loopback_is_refused(host, api, url):
    result = host.run_agent(FABU_API_URL=url)
    assert result.returncode == 2
    assert "FABU_API_URL" in result.stderr and ("https://" in result.stderr or "'…@'" in result.stderr)
    assert api.requests_to(f"/api/v1/{host.host}") == []


def test_http_to_example_com_says_why(host):
    result = host.run_agent(FABU_API_URL="http://example.com")
    assert result.returncode == 2
    assert ("FABU_API_URL 'http://example.com' is plain http:// to 'example.com'" in result.stderr
            and "use https://" in result.stderr)


@pytest.mark.parametrize("template", ["http://localhost:{port}", "http://127.0.0.1:{port}/",
                                      "HTTP://LOCALHOST:{port}"])
def test_plain_http_to_this_machine_is_allowed(host, api, template):
    url = template.format(port=api.url.rsplit(":", 1)[1])
    result = host.run_agent(FABU_API_URL=url)
    assert result.returncode == 0, result.stderr
    assert len(api.requests_to(f"/api/v1/{host.host}")) == 1


@pytest.mark.parametrize("url", ["https://127.0.0.1:9", "http://127.3.4.5:9", "http://[::1]:9"])
def test_https_anywhere_and_http_to_loopback_pass_the_check(host, url):
    result = host.run_agent(FABU_API_URL=url)
    assert result.returncode == 3 and "cannot reach" in result.stderr     # checked, then tried


def test_the_current_parameter_is_bounded_and_names_what_is_left_for_later(host, api):
    from urllib.parse import parse_qs
    long_version = "1.0.0-" + "b" * 100
    for n in range(40):  # 40 entries of ~113 characters: about 4500, over the 2000 allowed
        release = host.root / f"app-{n:02d}" / "releases" / long_version
        release.mkdir(parents=True)
        (release / ".fabu-version").write_text(long_version + "\n")
        (host.root / f"app-{n:02d}" / "current").symlink_to(f"releases/{long_version}")
    (host.root / "empty" / "releases").mkdir(parents=True)  # a project with no current release
    (host.root / "not_a_project").mkdir()                    # not a project name: left out
    result = host.run_agent()
    assert result.returncode == 0 and result.stdout == ""
    assert "did not fit in this poll (2000 characters); they are sent on later runs" in result.stderr
    [query] = api.requests_query(f"/api/v1/{host.host}")
    [value] = parse_qs(query)["current"]
    assert len(value) <= 2000 and ":" not in query  # sent percent-encoded
    entries = dict(e.split(":", 1) for e in value.split(","))
    assert 10 <= len(entries) < 41
    assert set(entries.values()) <= {long_version, ""}
    assert all(name.startswith("app-") or name == "empty" for name in entries)
