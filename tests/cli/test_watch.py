"""``fabu watch`` when the release never comes: a real build failure (an http source answering
404) ends the watch with exit 10 and the build's error within one poll; and the wait is finite by
default."""
import http.server
import threading
import time

from tests.cli.support import fabu, write_yaml


class _NotFound(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_watch_exits_10_with_the_build_error_when_the_release_build_fails(live, tmp_path):
    from chalicelib.models import Release
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/shop-1.0.0.tgz"
    project = f"""\
name: shop
version: 1.0.0
source: {{type: http, url: "{url}"}}
hosts: [shop-1.example.com]
scripts: {{start: echo start}}
"""
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, project))[0] == 0
    stop, failed_at = threading.Event(), []

    def drive():  # what `make run` does every tick: the queued build runs, and fails
        while not stop.is_set():
            live.tick()
            if not failed_at and Release.get("shop", "1.0.0").state == "failed":
                failed_at.append(time.monotonic())
            time.sleep(0.2)
    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        code, out, err = fabu(live, "watch", "shop", "--interval", "0.3", timeout=120, process=True)
        ended = time.monotonic()
    finally:
        stop.set()
        driver.join(timeout=30)
        server.shutdown()
    assert code == 10, (out, err)
    assert f"release 1.0.0 of shop failed: {url} not found (HTTP 404)" in out
    assert "the rollout waits in waiting_release" in out
    assert "waiting for release 1.0.0" in err  # the progress line said what it waited for
    assert failed_at and ended - failed_at[0] < 10  # within one poll (+ a process start), not a tick
    shown = live.request("GET", "/api/v1/project/shop").json()
    assert shown["rollout"]["state"] == "waiting_release" and shown["release"]["state"] == "failed"


def test_the_default_timeout_is_an_hour(live, tmp_path):
    from tests.cli.support import PROJECT_YAML
    code, out, err = fabu(live, "watch", "--help")
    assert code == 0 and "[default: 3600; x>=0]" in " ".join(out.split())
    assert "10 its release failed" in " ".join(out.split())
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    code, out, err = fabu(live, "-o", "json", "watch", "shop", "--interval", "0.2", "--timeout", "0.5")
    assert code == 9 and '"state": "waiting_release"' in out
