"""The agent's side of the Function URL front and of the default splay: real bash, a fake API.

The agent picks its SigV4 service from ``FABU_API_URL`` (``lambda`` for a Function URL's host,
``execute-api`` otherwise; ``FABU_SIGV4_SERVICE`` overrides), and so does the deploy script's
reporting; without ``FABU_SPLAY`` it waits a per-host delay of up to 80 % of ``FABU_INTERVAL``
(the cron interval), except when run from a terminal. ``fabu agent install`` prints a cron line
and an agent.env that agree on the interval.
"""
import os
import pty
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from tests.support.hosts import AGENT, FakeApi, HostSandbox, deploy_item

_counter = iter(range(10**6))


@pytest.fixture(scope="module")
def api():
    server = FakeApi()
    yield server
    server.close()


@pytest.fixture
def host(tmp_path, api):
    return HostSandbox(tmp_path, api, f"front-{next(_counter)}.example.com")


def _scopes(api, host):
    """The credential scope's service of every request ``host`` sent, in order."""
    return [headers["Authorization"].split("/")[3] for _, path, headers in api.requests
            if f"/api/v1/{host.host}" in path]


def test_a_function_url_is_signed_for_lambda_poll_script_and_reports(host, api):
    port = urlsplit(api.url).port
    api.pending[host.host] = [deploy_item(api, "web", "1.0", scripts={"start": "echo up"})]
    # curl resolves *.localhost to this machine: the local front's URL shape
    result = host.run_agent(FABU_API_URL=f"http://abc123.lambda-url.us-east-1.localhost:{port}/")
    assert result.returncode == 0, result.stderr
    assert host.phases() == [("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok")]
    assert set(_scopes(api, host)) == {"lambda"} and len(_scopes(api, host)) == 5


@pytest.mark.parametrize("url, setting, service", [
    ("{api}", None, "execute-api"),                                      # API Gateway / local API
    ("http://localhost:{port}", None, "execute-api"),
    ("http://fabu.lambda-url.eu-west-1.localhost:{port}", None, "lambda"),
    ("http://FABU.Lambda-URL.eu-west-1.localhost:{port}/", None, "lambda"),  # any case
    ("{api}", "lambda", "lambda"),                 # a custom domain in front of a Function URL
    ("http://fabu.lambda-url.eu-west-1.localhost:{port}", "execute-api", "execute-api"),
])
def test_the_service_comes_from_the_url_unless_set(host, api, url, setting, service):
    port = urlsplit(api.url).port
    result = host.run_agent(FABU_API_URL=url.format(api=api.url, port=port),
                            FABU_SIGV4_SERVICE=setting)
    assert result.returncode == 0, result.stderr
    assert _scopes(api, host) == [service]


def test_a_bad_service_and_plain_http_to_a_lookalike_are_refused(host, api):
    bad = host.run_agent(FABU_SIGV4_SERVICE="s3")
    assert bad.returncode == 2
    assert "FABU_SIGV4_SERVICE must be lambda (a Lambda Function URL) or execute-api" in bad.stderr
    lookalike = host.run_agent(FABU_API_URL="http://abc.lambda-url.us-east-1.on.aws")
    assert lookalike.returncode == 2 and "plain http://" in lookalike.stderr
    assert _scopes(api, host) == []


def _cksum(name):
    return int(subprocess.run(["cksum"], input=name, capture_output=True, text=True,
                              check=True).stdout.split()[0])


def _timed(host, stdin=subprocess.DEVNULL, **env):
    started = time.monotonic()
    done = subprocess.run(["bash", str(AGENT)], env=host.env(**env), stdin=stdin,
                          capture_output=True, text=True, timeout=60, cwd=host.base)
    return done, time.monotonic() - started


def test_without_fabu_splay_the_delay_is_80_percent_of_the_interval(tmp_path, api):
    names = [f"splay-{i}.example.com" for i in range(40)]
    # FABU_INTERVAL=3: a splay of 2 s; cksum mod 3 picks 0, 1 or 2 s per host
    zero = next(n for n in names if _cksum(n) % 3 == 0)
    two = next(n for n in names if _cksum(n) % 3 == 2)
    quick = HostSandbox(tmp_path / zero, api, zero)
    slow = HostSandbox(tmp_path / two, api, two)
    done, took = _timed(quick, FABU_SPLAY=None, FABU_INTERVAL="3")
    assert done.returncode == 0 and took < 1.5, (done.stderr, took)
    done, took = _timed(slow, FABU_SPLAY=None, FABU_INTERVAL="3")
    assert done.returncode == 0 and took >= 2, (done.stderr, took)
    # the same host from a terminal (someone running the agent by hand) does not wait
    controller, terminal = pty.openpty()
    try:
        done, took = _timed(slow, stdin=terminal, FABU_SPLAY=None, FABU_INTERVAL="3")
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 0 and took < 1.5, (done.stderr, took)
    # FABU_SPLAY=0 turns it off
    done, took = _timed(slow, FABU_SPLAY="0", FABU_INTERVAL="3")
    assert done.returncode == 0 and took < 1.5


@pytest.mark.parametrize("env, says", [
    ({"FABU_SPLAY": "300"}, "FABU_SPLAY (300 s) must be less than FABU_INTERVAL (300 s"),
    ({"FABU_SPLAY": "60", "FABU_INTERVAL": "60"}, "must be less than FABU_INTERVAL (60 s"),
    ({"FABU_INTERVAL": "0"}, "FABU_INTERVAL must be the cron line's interval in seconds"),
    ({"FABU_INTERVAL": "5m"}, "FABU_INTERVAL must be the cron line's interval in seconds"),
    ({"FABU_INTERVAL": "86401"}, "(1 to 86400; 300 for */5)"),
    ({"FABU_SPLAY": "-1"}, "FABU_SPLAY must be a whole number of seconds"),
])
def test_a_splay_that_runs_into_the_next_run_or_a_bad_interval_is_refused(host, api, env, says):
    done = host.run_agent(**env)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert _scopes(api, host) == []


def test_agent_env_may_set_the_interval_and_the_service(host, api):
    env_file = host.base / "agent.env"
    env_file.write_text(f"FABU_API_URL={api.url}\nFABU_REGION=us-east-1\nFABU_ROOT={host.root}\n"
                        "AWS_ACCESS_KEY_ID=AKIDFILE\nAWS_SECRET_ACCESS_KEY=secret\n"
                        "FABU_INTERVAL=60\nFABU_SPLAY=0\nFABU_SIGV4_SERVICE=lambda\n")
    done = host.run_agent(FABU_AGENT_ENV=str(env_file), FABU_SPLAY=None)
    assert done.returncode == 0, done.stderr
    assert _scopes(api, host) == ["lambda"]


def _install(*args):
    from click.testing import CliRunner
    from fabu_cli.commands import cli
    env = {"AWS_ACCESS_KEY_ID": "AKIAADMIN", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
           "AWS_PROFILE": None}
    return CliRunner().invoke(cli, ["--endpoint", "https://abc.lambda-url.eu-west-1.on.aws",
                                    "--region", "eu-west-1", "agent", "install",
                                    "web-7.example.com", *args], env=env, prog_name="fabu")


@pytest.mark.parametrize("args, cron, interval", [
    ((), "*/5 * * * * deploy /opt/fabu/bin/fabu-agent.sh", 300),
    (("--interval", "60"), "* * * * * deploy /opt/fabu/bin/fabu-agent.sh", 60),
    (("--interval", "900"), "*/15 * * * * deploy /opt/fabu/bin/fabu-agent.sh", 900),
    (("--interval", "3600"), "0 * * * * deploy /opt/fabu/bin/fabu-agent.sh", 3600),
])
def test_agent_install_prints_the_same_interval_in_cron_and_agent_env(args, cron, interval):
    done = _install(*args)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert cron in lines and f"FABU_INTERVAL={interval}" in lines
    assert not [line for line in lines if line.startswith("FABU_SPLAY=")]  # 80 % by default
    assert f"interval => {interval}," in done.output  # the Puppet class's cron minute


def test_agent_install_refuses_an_interval_cron_cannot_keep():
    done = _install("--interval", "420")
    assert done.exit_code == 2 and "420 is not an interval cron runs at evenly" in done.output
