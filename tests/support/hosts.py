"""Sandbox hosts for the deploy-script and agent tests: a fake fabu API, tarballs, dpkg shims.

``FakeApi`` is a stdlib HTTP server on 127.0.0.1 that plays the host routes of the contract
(poll, deploy script, report), serves release tarballs at "presigned" URLs and answers like EC2's
instance metadata service. It checks no signature (curl's ``--aws-sigv4`` signs for any key); it
records every request so tests can assert what a host sent. ``HostSandbox`` is one host: its own
``FABU_ROOT`` under a temp dir and ``dpkg-query``/``dpkg`` shims first on ``PATH``. The last
section saves what the host routes read (``HostState`` items, ``ready`` releases) in moto.
"""
import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from chalicelib.hosts.script import render_deploy_script

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "agent" / "fabu-agent.sh"
SHELLCHECK = REPO / ".venv" / "bin" / "shellcheck"
REGION = "us-east-1"
GENERATED_AT = "2026-11-26T12:00:00Z"

_DPKG_QUERY_SHIM = r"""#!/usr/bin/env bash
# Test shim of dpkg-query -W -f='${Status} ${Version}' [--] NAME over "$FABU_TEST_DPKG_DB".
name=${!#}
while read -r pkg version; do
    if [[ $pkg == "$name" ]]; then
        printf 'install ok installed %s' "$version"
        exit 0
    fi
done < "$FABU_TEST_DPKG_DB"
printf 'dpkg-query: no packages found matching %s\n' "$name" >&2
exit 1
"""

_DPKG_SHIM = r"""#!/usr/bin/env bash
# Test shim of dpkg --compare-versions A OP B (ordering by sort -V, close enough for tests).
[[ $1 == --compare-versions ]] || { echo "dpkg shim: only --compare-versions" >&2; exit 2; }
a=$2 op=$3 b=$4
if [[ $a == "$b" ]]; then c=0
elif [[ $(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n 1) == "$a" ]]; then c=-1
else c=1; fi
case $op in
    lt) ((c < 0)) ;; le) ((c <= 0)) ;; eq) ((c == 0)) ;; ge) ((c >= 0)) ;; gt) ((c > 0)) ;;
    *) echo "dpkg shim: bad op $op" >&2; exit 2 ;;
esac
"""


def make_tarball(files, entries=()):
    """A .tgz of ``{path: text}`` (mode 0755 for paths ending in .sh), then of ``entries``
    (see ``entry``); returns (bytes, sha256)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            tar.addfile(info, io.BytesIO(data))
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    body = buf.getvalue()
    return body, hashlib.sha256(body).hexdigest()


_TAR_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
              "hardlink": tarfile.LNKTYPE, "chardev": tarfile.CHRTYPE, "blockdev": tarfile.BLKTYPE,
              "fifo": tarfile.FIFOTYPE}


def entry(name, kind="file", *, mode=0o644, link="", data=b"", uid=4321, gid=4321):
    """One raw tarball entry for ``make_tarball(entries=...)``: any type, mode, owner or link,
    exactly as a hostile (or careless) build could write it."""
    info = tarfile.TarInfo(name)
    info.type = _TAR_TYPES[kind]
    info.mode = mode
    info.linkname = link
    info.uid, info.gid = uid, gid
    info.uname = info.gname = "builder"
    if kind in ("chardev", "blockdev"):
        info.devmajor, info.devminor = 1, 3      # /dev/null's numbers
    if kind == "file":
        info.size = len(data)
        return info, data
    return info, None


class FakeApi:
    """The host side of the fabu API, in a thread on a free 127.0.0.1 port."""

    def __init__(self):
        self.pending = {}          # host -> list of deploy items (render input)
        self.scripts = {}          # host -> raw script text served instead of rendering
        self.poll_status = {}      # host -> forced status of the poll
        self.report_status = {}    # host -> forced status of every report POST
        self.artifacts = {}        # name -> bytes
        self.reports = {}          # host -> list of report bodies
        self.requests = []         # (method, path, headers)
        self.imds_credentials = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def add_artifact(self, name, body):
        self.artifacts[name] = body
        return f"{self.url}/artifacts/{name}"

    def reports_of(self, host):
        with self._lock:
            return list(self.reports.get(host, []))

    def requests_to(self, path):
        """The requests to ``path``, whatever their query string (``requests_query`` has it)."""
        with self._lock:
            return [r for r in self.requests if r[1].split("?", 1)[0] == path]

    def requests_query(self, path):
        """The query strings (``""`` when none) of the requests to ``path``, in order."""
        return [r[1].partition("?")[2] for r in self.requests_to(path)]

    def _record(self, method, path, headers):
        with self._lock:
            self.requests.append((method, path, dict(headers)))

    def _add_report(self, host, body):
        with self._lock:
            self.reports.setdefault(host, []).append(body)


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            api._record("GET", self.path, self.headers)
            parts = self.path.split("?", 1)[0].strip("/").split("/")
            if parts[:1] == ["artifacts"] and parts[1] in api.artifacts:
                return self._send(200, api.artifacts[parts[1]], "application/gzip")
            if len(parts) == 3 and parts[:2] == ["api", "v1"]:
                return self._poll(parts[2])
            if len(parts) == 4 and parts[:2] == ["api", "v1"] and parts[3] == "deploy":
                return self._deploy(parts[2])
            if self.path.startswith("/latest/meta-data/iam/security-credentials/"):
                return self._imds(self.path.rsplit("/", 1)[1])
            self._send(404, b"not found")

        def do_PUT(self):
            api._record("PUT", self.path, self.headers)
            if self.path == "/latest/api/token" and api.imds_credentials:
                return self._send(200, b"imds-token")
            self._send(404, b"not found")

        def do_POST(self):
            api._record("POST", self.path, self.headers)
            parts = self.path.strip("/").split("/")
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if len(parts) == 4 and parts[:2] == ["api", "v1"] and parts[3] == "report":
                if parts[2] in api.report_status:
                    return self._send(api.report_status[parts[2]], b"refused")
                try:
                    report = json.loads(body.decode("utf-8"))
                except ValueError as exc:
                    return self._send(400, f"bad JSON: {exc}".encode())
                api._add_report(parts[2], report)
                return self._send(200, b'{"ok": true}', "application/json")
            self._send(404, b"not found")

        def _poll(self, host):
            if host in api.poll_status:
                return self._send(api.poll_status[host], b'{"error": "forced"}')
            if api.pending.get(host) or host in api.scripts:
                return self._send(200, b'{"pending": true}', "application/json")
            self._send(204, b"")

        def _deploy(self, host):
            if host in api.scripts:
                text = api.scripts[host]
            else:
                text = render_deploy_script(host, api.pending.get(host, []),
                                            generated_at=GENERATED_AT)
            self._send(200, text.encode("utf-8"), "text/x-shellscript")

        def _imds(self, role):
            if not api.imds_credentials or self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
                return self._send(401, b"no token")
            if role == "":
                return self._send(200, b"fabu-host")
            creds = dict(api.imds_credentials, Code="Success", Type="AWS-HMAC")
            self._send(200, json.dumps(creds, indent=2).encode())

        def _send(self, status, body, content_type="text/plain"):
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

    return Handler


class HostSandbox:
    """One host: a temp ``FABU_ROOT``, dpkg shims on ``PATH``, and helpers to run bash there."""

    def __init__(self, base, api, host, packages=None):
        self.base = Path(base)
        self.api = api
        self.host = host
        self.root = self.base / "root"
        self.bin = self.base / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.dpkg_db = self.base / "dpkg.db"
        self.set_packages(packages or {})
        for name, text in (("dpkg-query", _DPKG_QUERY_SHIM), ("dpkg", _DPKG_SHIM)):
            shim = self.bin / name
            shim.write_text(text)
            shim.chmod(0o755)

    def set_packages(self, packages):
        self.dpkg_db.write_text("".join(f"{n} {v}\n" for n, v in packages.items()))

    def env(self, **extra):
        env = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "HOME": str(self.base),
            "LANG": "C.UTF-8",
            "FABU_API_URL": self.api.url,
            "FABU_REGION": REGION,
            "FABU_HOST": self.host,
            "FABU_ROOT": str(self.root),
            "FABU_SPLAY": "0",
            "FABU_AGENT_ENV": str(self.base / "no-agent.env"),
            "FABU_TEST_DPKG_DB": str(self.dpkg_db),
            "AWS_ACCESS_KEY_ID": "AKIDHOSTTEST",
            "AWS_SECRET_ACCESS_KEY": "host-secret",
            "TMPDIR": str(self.base),
        }
        env.update(extra)
        return {k: v for k, v in env.items() if v is not None}

    def render(self, items):
        return render_deploy_script(self.host, items, generated_at=GENERATED_AT)

    def run_script(self, text, timeout=60, **env):
        path = self.base / "deploy.sh"
        path.write_text(text)
        return subprocess.run(["bash", str(path)], env=self.env(**env), capture_output=True,
                              text=True, errors="replace", timeout=timeout, cwd=self.base)

    def deploy(self, items, **env):
        """Render ``items`` for this host and run the script; returns the CompletedProcess."""
        return self.run_script(self.render(items), **env)

    def start_agent(self, **env):
        return subprocess.Popen(["bash", str(AGENT)], env=self.env(**env), cwd=self.base,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, errors="replace",
                                start_new_session=True)

    def run_agent(self, timeout=60, **env):
        return subprocess.run(["bash", str(AGENT)], env=self.env(**env), capture_output=True,
                              text=True, errors="replace", timeout=timeout, cwd=self.base)

    def project_dir(self, project):
        return self.root / project

    def current_version(self, project):
        version = self.root / project / "current" / ".fabu-version"
        return version.read_text().rstrip("\n") if version.exists() else None

    def releases(self, project):
        releases = self.root / project / "releases"
        return sorted(p.name for p in releases.iterdir()) if releases.exists() else []

    def reports(self):
        return self.api.reports_of(self.host)

    def phases(self):
        """[(phase, status)] of every report this host sent, in order."""
        return [(r["phase"], r["status"]) for r in self.reports()]

    def snapshot(self):
        """Everything under FABU_ROOT: path -> symlink target or file bytes (None for dirs)."""
        tree = {}
        if not self.root.exists():
            return tree
        for path in sorted(self.root.rglob("*")):
            rel = str(path.relative_to(self.root))
            if path.is_symlink():
                tree[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                tree[rel] = ("dir", path.stat().st_mtime_ns)
            else:
                tree[rel] = ("file", path.read_bytes(), path.stat().st_mtime_ns)
        return tree


def deploy_item(api, project, version, *, files=None, scripts=None, deploy_id=None, entries=(),
                **overrides):
    """A deploy item (the renderer's input) whose tarball (``files`` then raw ``entries``) the
    fake API serves."""
    files = files if files is not None else {"app.txt": f"{project} {version}\n"}
    body, sha256 = make_tarball(files, entries)
    name = hashlib.sha256(f"{project}\0{version}\0{sha256}".encode()).hexdigest()[:16] + ".tgz"
    item = {
        "kind": "deploy",
        "project": project,
        "version": version,
        "deploy_id": deploy_id or f"d-{project}-{version}",
        "artifact": {"url": api.add_artifact(name, body), "sha256": sha256, "size": len(body)},
        "deb_dependencies": [],
        "scripts": scripts if scripts is not None else {},
        "health_timeout": 5,
        "health_interval": 1,
        "auto_rollback": True,
        "keep_releases": 5,
        "min_free_mb": 1,
    }
    item.update(overrides)
    return item


def rollback_item(project, version, *, reason="asked by the server", deploy_id=None, **overrides):
    item = {"kind": "rollback", "project": project, "version": version,
            "deploy_id": deploy_id or f"r-{project}-{version}", "artifact": None,
            "reason": reason, "scripts": {}}
    item.update(overrides)
    return item


def shellcheck(text, *options):
    """Run the repo's shellcheck (with ``options``) on bash ``text``; returns the CompletedProcess."""
    return subprocess.run([str(SHELLCHECK), "-s", "bash", *options, "-"], input=text,
                          capture_output=True, text=True)


# --- the host routes' data in the stage's tables (moto) -----------------------------------------

HOST = "web-1.example.com"
HOST_ARN = f"arn:aws:iam::000000000000:user/fabu-hosts/{HOST}"


def stored_item(host, project, status, **fields):
    """Save the ``HostState`` item of ``host`` in ``project`` (what the rollout engine leaves)."""
    from chalicelib.models import HostState, wave_key
    item = HostState(host, project, wave=0, status=status, wave_key=wave_key(0, status, host),
                     **fields)
    item.save()
    return item


def released_item(host, project, version, status="pending", deploy_id="d-1", **fields):
    """A deploy of ``version`` released to ``host`` (``pending`` unless told otherwise)."""
    return stored_item(host, project, status, target_version=version, deploy_id=deploy_id,
                       rollout_id="r-1", **fields)


def ready_release(project, version, body=b"tarball"):
    """A ``ready`` Release item (its tarball need not exist: the script only gets a URL)."""
    from chalicelib.models import Release
    Release(project, version, state="ready", s3_key=f"releases/{project}/{version}.tgz",
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()


def stored_beat(host, last_seen, every=3600):
    """Save ``host``'s beat as a poll at ``last_seen`` leaves it (next one due ``every`` s later)."""
    import datetime
    from chalicelib.hosts import beat
    beat.Beat(host, beat.BEAT, last_seen=last_seen,
              beat_due=last_seen + datetime.timedelta(seconds=every),
              expires_at=last_seen + beat.KEEP).save()
