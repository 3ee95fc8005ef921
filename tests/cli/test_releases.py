"""``fabu release upload|list`` (the CI path) and ``fabu report`` against the live stack.

A corrupted upload is made by an HTTP proxy the CLI process uses (``HTTP_PROXY``): it forwards
every request unchanged but flips one byte of the body of a PUT to the release bucket, as a
broken network or storage would: the AWS boundary, nothing of fabu's own.
"""
import datetime
import http.client
import http.server
import json
import threading
import urllib.parse

import pytest

from tests.cli.support import PROJECT_YAML, fabu, write_yaml

TARBALL = b"\x1f\x8b" + b"release bytes " * 100


class _Proxy(http.server.BaseHTTPRequestHandler):
    """A forward proxy that corrupts the bodies of PUTs to the release bucket."""
    corrupted: list = []

    def _forward(self):
        target = urllib.parse.urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.command == "PUT" and "-releases/releases/" in target.path:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
            self.corrupted.append(target.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection",
                                                                            "connection")}
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        conn.request(self.command, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = _forward

    def log_message(self, *args):
        pass


@pytest.fixture
def project(live, tmp_path):
    """The project of PROJECT_YAML (no source: its releases come from CI) and a tarball."""
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    tarball = tmp_path / "shop-1.0.0.tgz"
    tarball.write_bytes(TARBALL)
    return str(tarball)


def test_upload_puts_the_file_and_the_release_is_ready(live, project):
    import hashlib
    code, out, err = fabu(live, "release", "upload", "shop", "1.0.0", project, process=True)
    assert code == 0, err
    digest = hashlib.sha256(TARBALL).hexdigest()
    assert f"sha256 {digest}" in out and "release 1.0.0 of shop: ready" in out
    shown = live.request("GET", "/api/v1/project/shop").json()["release"]
    assert shown["state"] == "ready" and shown["sha256"] == digest and shown["size"] == len(TARBALL)
    code, out, err = fabu(live, "release", "list", "shop")
    assert code == 0 and "1.0.0" in out and "ready" in out and digest[:12] in out
    code, out, err = fabu(live, "release", "upload", "shop", "1.0.0", project)
    assert code == 1 and "HTTP 409" in err and "already ready" in err  # versions are immutable


def test_a_corrupted_upload_fails_its_check_and_exits_10(live, project):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Proxy.corrupted = []
    try:
        code, out, err = fabu(live, "release", "upload", "shop", "1.0.0", project, process=True,
                              env={"HTTP_PROXY": f"http://127.0.0.1:{server.server_port}",
                                   "NO_PROXY": ""})
    finally:
        server.shutdown()
    assert _Proxy.corrupted, "the upload did not go through the proxy"
    assert code == 10, (out, err)
    assert "release 1.0.0 of shop: failed: " in out and "sha256" in out
    assert live.request("GET", "/api/v1/project/shop").json()["release"]["state"] == "failed"


def test_upload_of_an_unknown_project_or_a_missing_file(live, tmp_path, project):
    code, out, err = fabu(live, "release", "upload", "nothing-here", "1.0.0", project)
    assert code == 1 and "HTTP 404: no project named 'nothing-here'" in err
    code, out, err = fabu(live, "release", "upload", "shop", "1.0.0", str(tmp_path / "none.tgz"))
    assert code == 2 and "does not exist" in err


def test_report_generates_reads_and_lists(live):
    from chalicelib import events
    now = datetime.datetime.now(datetime.timezone.utc)
    today = now.date().isoformat()
    code, out, err = fabu(live, "report")
    assert code == 1 and "HTTP 404: no report has been generated yet" in err
    start = max(now - datetime.timedelta(seconds=20), datetime.datetime.combine(
        now.date(), datetime.time(), datetime.timezone.utc))
    detail = {"rollout_id": "r1", "version": "1.0.0"}
    events.record("shop", "rollout.started", "fabu:tick", detail, at=start)
    events.record("shop", "rollout.succeeded", "fabu:tick", detail, at=now)
    code, out, err = fabu(live, "report", "--generate")
    assert code == 0, err
    assert f"report {today} (the day so far), generated" in out and "by arn:aws:iam::" in out
    assert "1 deploys, 100.0% succeeded" in out and "shop" in out
    code, out, err = fabu(live, "-o", "json", "report", today)
    assert code == 0 and json.loads(out)["totals"]["deploys"] == 1
    code, out, err = fabu(live, "report", "--list")
    assert code == 0 and out.startswith(today)
    tomorrow = (now.date() + datetime.timedelta(days=1)).isoformat()
    code, out, err = fabu(live, "report", tomorrow, "--generate")
    assert code == 1 and "HTTP 400" in err and "  date: is after today" in err
    code, out, err = fabu(live, "report", "--publish")
    assert code == 2 and "--publish goes with --generate" in err
