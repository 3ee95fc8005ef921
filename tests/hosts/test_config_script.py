"""The deploy script's side of ``config``: run by real bash on a sandbox host.

Plain values are data in the script and reach every user script verbatim; secret values are
fetched from ``GET /api/v1/<host>/config`` (here a small stand-in of the API serving that route
and the reports, so that faults and output sizes can be chosen) and masked in everything the
script reports or prints. A host already on the version deploys it again for another config
(reusing its release) and skips it for the same one.
"""
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.hosts import FakeApi, HostSandbox, deploy_item

HOST = "web-1.example.com"
#: A start script writing each variable it is given to a file of its name (exactly, no newline).
DUMP = ('for v in GREETING TRICKY EMPTY DB_PASSWORD PEM FABU_CONFIG_REVISION; do '
        'printf "%s" "${!v-unset}" > "$v.env"; done')


class ConfigApi:
    """The API's config and report routes for one host: ``answer`` is what the config route
    says (status, body); every report body is kept."""

    def __init__(self, values=None, status=200):
        self.status, self.reports, self.asked = status, [], []
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in (values or {}).items()}
        self.body = json.dumps({"project": "web", "deploy_id": "d-1", "revision": 0,
                                "encoding": "base64", "values": encoded})
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                api.asked.append((self.path, self.headers.get("Authorization", "")))
                refused = '{"error": "deploy d-1 is not a deploy of this host"}'
                body = (api.body if api.status == 200 else refused).encode()
                self.send_response(api.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                api.reports.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake(tmp_path):
    api = FakeApi()
    yield api
    api.close()


def _host(tmp_path, fake):
    return HostSandbox(tmp_path / "host", fake, HOST)


def _env(host, project="web"):
    release = host.root / project / "current"
    return {p.name[:-4]: p.read_text() for p in release.glob("*.env")}


def test_plain_values_reach_every_user_script_verbatim(tmp_path, fake):
    tricky = "it's \"quoted\" $(touch pwned) `id` $HOME \\n\nsecond line\ttab ünï ${x:-y} *"
    host = _host(tmp_path, fake)
    health = '[ "$TRICKY" = "$(cat TRICKY.env)" ]'
    item = deploy_item(fake, "web", "1.0.0", scripts={"start": DUMP, "health": health},
                       config={"GREETING": "hello", "TRICKY": tricky, "EMPTY": ""},
                       config_revision=3)
    result = host.deploy([item])
    assert result.returncode == 0, result.stdout + result.stderr
    assert _env(host) == {"GREETING": "hello", "TRICKY": tricky, "EMPTY": "", "DB_PASSWORD": "unset",
                          "PEM": "unset", "FABU_CONFIG_REVISION": "3"}
    assert not (host.root / "web" / "current" / "pwned").exists() and not (host.base / "pwned").exists()
    assert [p for p, _ in host.phases()] == ["pre-deploy", "do-deploy", "post-deploy"]
    assert fake.requests_to(f"/api/v1/{HOST}/config") == []  # no references: nothing fetched


def test_a_new_config_of_the_running_version_deploys_it_again_reusing_its_release(tmp_path, fake):
    host = _host(tmp_path, fake)
    first = deploy_item(fake, "web", "1.0.0", scripts={"start": DUMP}, config={"GREETING": "a"})
    assert host.deploy([first]).returncode == 0
    assert _env(host)["GREETING"] == "a"
    # the same version and config: skipped, as before
    again = dict(first, deploy_id="d-2")
    result = host.deploy([again])
    assert result.returncode == 0 and "already running 1.0.0" in result.stdout
    assert host.phases()[-1] == ("pre-deploy", "skipped")
    # a new config: deployed again; its artifact URL is not even fetched (the release is reused)
    fake.artifacts.clear()
    revised = dict(first, deploy_id="d-3", config={"GREETING": "b"}, config_revision=1)
    result = host.deploy([revised])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "deploying config revision 1 of web 1.0.0" in result.stdout
    assert _env(host)["GREETING"] == "b" and _env(host)["FABU_CONFIG_REVISION"] == "1"
    assert host.releases("web") == ["1.0.0"] and host.current_version("web") == "1.0.0"
    assert host.phases()[-3:] == [("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok")]
    # and once more with that config: skipped
    assert host.deploy([dict(revised, deploy_id="d-4")]).returncode == 0
    assert host.phases()[-1] == ("pre-deploy", "skipped")


PEM = "-----BEGIN KEY-----\nAAAAsecretline1\nBBBBsecretline2\n-----END KEY-----"


def _secret_item(fake, scripts, **overrides):
    return deploy_item(fake, "web", "1.0.0", deploy_id="d-1", scripts=scripts,
                       config={"GREETING": "hello", "DB_PASSWORD": {"ssm": "/fabu/local/db"},
                               "PEM": {"secret": "fabu/local/pem"}, "PIN": {"ssm": "/fabu/local/pin"}},
                       **overrides)


def test_secrets_are_fetched_signed_kept_out_of_files_and_masked_in_every_report(tmp_path, fake):
    config_api = ConfigApi({"DB_PASSWORD": "hunter2-Sup3r", "PEM": PEM, "PIN": "42"})
    host = _host(tmp_path, fake)
    talk = ('echo "password=$DB_PASSWORD pin=$PIN"; printf "%s\\n" "$PEM"; '
            'echo "pem line: ${PEM#*$\'\\n\'}" >&2; ')
    item = _secret_item(fake, {"start": DUMP + "; " + talk, "health": talk, "post_deploy": talk})
    try:
        result = host.deploy([item], FABU_API_URL=config_api.url)
    finally:
        config_api.close()
    assert result.returncode == 0, result.stdout + result.stderr
    env = _env(host)
    assert env["DB_PASSWORD"] == "hunter2-Sup3r" and env["PEM"] == PEM and env["GREETING"] == "hello"
    path, authorization = config_api.asked[0]
    assert path == f"/api/v1/{HOST}/config?deploy_id=d-1" and authorization.startswith("AWS4-HMAC-SHA256")
    reported = json.dumps(config_api.reports)
    printed = result.stdout + result.stderr
    for secret in ("hunter2-Sup3r", "AAAAsecretline1", "BBBBsecretline2", "BEGIN KEY"):
        assert secret not in reported and secret not in printed, secret
    assert "password=*** pin=42" in reported  # values under 4 bytes are not masked (documented)
    # nothing of the answer is left on the host's disk (WORK is gone, the answer file first)
    files = [p for p in host.base.rglob("*") if p.is_file() and not p.name.endswith(".env")]
    assert not any(b"hunter2-Sup3r" in p.read_bytes() for p in files)


def test_a_cut_output_drops_its_partial_first_line_so_no_secret_shows_in_part(tmp_path, fake):
    """The last 64 KB are reported: a secret split by the cut is not shown by halves."""
    config_api = ConfigApi({"DB_PASSWORD": "0123456789abcdef" * 4, "PEM": PEM, "PIN": "1234"})
    host = _host(tmp_path, fake)
    # one 70 KB line holding the secret around the cut, then a short line
    start = ('head -c 5000 /dev/zero | tr "\\0" x; printf "%s" "$DB_PASSWORD"; '
             'head -c 65500 /dev/zero | tr "\\0" y; printf "\\nlast line %s\\n" "$PIN"')
    item = _secret_item(fake, {"start": start})
    try:
        result = host.deploy([item], FABU_API_URL=config_api.url)
    finally:
        config_api.close()
    assert result.returncode == 0, result.stdout + result.stderr
    report = next(r for r in config_api.reports if r["phase"] == "do-deploy")
    assert report["truncated"] is True
    assert report["output"].startswith("[fabu: output cut to its last 65536 of")
    assert "yyyy" not in report["output"] and "last line ***" in report["output"]
    assert "0123456789abcdef"[8:] not in report["output"]


def test_a_refused_fetch_fails_pre_deploy_with_the_reason_and_installs_nothing(tmp_path, fake):
    config_api = ConfigApi(status=403)
    host = _host(tmp_path, fake)
    item = _secret_item(fake, {"start": DUMP})
    try:
        result = host.deploy([item], FABU_API_URL=config_api.url)
    finally:
        config_api.close()
    assert result.returncode == 2
    report = config_api.reports[-1]
    assert (report["phase"], report["status"]) == ("pre-deploy", "failed")
    assert "config: could not fetch secrets: HTTP 403 " in report["output"]
    assert "is not a deploy of this host" in report["output"]
    assert host.releases("web") == [] and host.current_version("web") is None


def test_a_script_with_config_passes_shellcheck_with_upper_case_names_checked(tmp_path, fake):
    from tests.support.hosts import shellcheck
    item = _secret_item(fake, {"start": DUMP}, config_revision=2)
    item["config"]["TRICKY"] = "it's $(x) `y`\nz"
    result = shellcheck(_host(tmp_path, fake).render([item]), "--enable=check-unassigned-uppercase")
    assert result.returncode == 0, result.stdout
