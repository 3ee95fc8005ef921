"""``make demo``: a fleet of sandbox hosts and two rollouts to watch, on top of ``make run``.

Against the running local stack (``FABU_API_URL``, default http://127.0.0.1:8000; admin from
``.fabu/credentials`` unless the environment names other credentials), it

1. makes a git repository at ``<demo dir>/repo`` with two tags: ``v1.0.0`` (a healthy app) and
   ``v2.0.0`` (whose ``check.sh`` fails),
2. mints host keys into the principals file (``FABU_PRINCIPALS``, default
   ``.fabu/principals.json``) for ``FABU_DEMO_HOSTS`` hosts (12) and runs the real
   ``agent/fabu-agent.sh`` for each of them every ``FABU_DEMO_AGENT_SECONDS`` (3), each in its
   own ``FABU_ROOT`` under ``<demo dir>/<host>/`` (the demo dir is ``FABU_DEMO_DIR``, default
   ``.fabu/demo``; it is wiped at the start),
3. creates the project ``demo`` whose ``source`` is that repository (the build worker, run by
   ``make run``'s ticker, builds it), rolled out in waves ``[1, "25%", "100%"]`` with a short
   bake (``FABU_DEMO_BAKE_SECONDS``, 5), and waits until version 1.0.0 has ``succeeded``,
4. updates it to 2.0.0, whose ``test`` script fails on the canary: the host rolls itself back,
   the rollout halts and rolls back to 1.0.0.

It exits 0 once it has seen "succeeded" then "rolled back"; 1 when a rollout ends otherwise or
``FABU_DEMO_TIMEOUT`` (300 s) runs out; 3 when the API cannot be reached. Ctrl-C stops the hosts.
Watch it in the UI, or with ``fabu watch demo`` in another terminal.
"""
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "agent" / "fabu-agent.sh"
PROJECT = "demo"
HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/%s"
CANARY_CHECK_FAILS = 'echo "check: /healthz answered 500 on $(hostname)" >&2\nexit 1\n'

_APP_SH = """\
#!/usr/bin/env bash
# The demo app. The project's scripts run it from its own release dir: 'start' records the
# running version beside the releases, 'stop' clears it.
#
# The pattern to copy: a script names its OWN release with FABU_VERSION, which is always the
# version of the release the script belongs to (FABU_RELEASE_DIR) - during a rollback too, where
# the release being restarted is the older one. What the host moves away from and to in this
# step is FABU_PREVIOUS_VERSION and FABU_TARGET_VERSION: for log lines and migrations, never to
# name the release being started.
set -eu
state="$FABU_RELEASE_DIR/../../app.state"
own=$(cat VERSION)   # the release's own idea of its version: FABU_VERSION must agree
if [ "$own" != "$FABU_VERSION" ]; then
    echo "app.sh: FABU_VERSION is $FABU_VERSION but this release is $own" >&2
    exit 1
fi
case "${1:-}" in
    start)
        echo "$FABU_VERSION started $(date -u +%FT%TZ)" > "$state"
        echo "started $FABU_VERSION (host: ${FABU_PREVIOUS_VERSION:-nothing} -> $FABU_TARGET_VERSION)" ;;
    stop)
        rm -f -- "$state"
        echo "stopped $FABU_VERSION (host: $FABU_PREVIOUS_VERSION -> ${FABU_TARGET_VERSION:-nothing})" ;;
    *) echo "usage: app.sh start|stop" >&2; exit 2 ;;
esac
"""


def say(message):
    print("demo: %s" % message, flush=True)


def _setting(name, default):
    return float(os.environ.get(name) or default)


class Settings:
    """The demo's knobs, from the environment (the test uses short ones)."""

    def __init__(self):
        self.api_url = (os.environ.get("FABU_API_URL") or "http://127.0.0.1:8000").rstrip("/")
        self.region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.dir = Path(os.environ.get("FABU_DEMO_DIR") or ROOT / ".fabu" / "demo").resolve()
        self.principals = os.environ.get("FABU_PRINCIPALS") or str(ROOT / ".fabu" / "principals.json")
        self.hosts = ["demo-%02d.fabu.test" % i for i in range(1, int(_setting("FABU_DEMO_HOSTS", 12)) + 1)]
        self.agent_seconds = _setting("FABU_DEMO_AGENT_SECONDS", 3)
        self.bake_seconds = int(_setting("FABU_DEMO_BAKE_SECONDS", 5))
        self.timeout = _setting("FABU_DEMO_TIMEOUT", 300)
        self.poll_seconds = _setting("FABU_DEMO_POLL_SECONDS", 1)


# --- the source repository ---------------------------------------------------------------------

def make_repo(path):
    """A git repository with tags v1.0.0 (healthy) and v2.0.0 (its check fails); returns its URL."""
    from dulwich import porcelain
    path.mkdir(parents=True)
    repo = porcelain.init(str(path))
    author = b"fabu demo <demo@fabu.test>"
    for version, check in (("1.0.0", "echo check ok\n"), ("2.0.0", CANARY_CHECK_FAILS)):
        files = {"app.sh": _APP_SH, "check.sh": "#!/usr/bin/env bash\n" + check,
                 "VERSION": version + "\n"}
        for name, text in files.items():
            (path / name).write_text(text)
            (path / name).chmod(0o755 if name.endswith(".sh") else 0o644)
        porcelain.add(repo, [str(path / name) for name in files])
        porcelain.commit(repo, message=("demo %s" % version).encode(), author=author, committer=author)
        porcelain.tag_create(repo, ("v%s" % version).encode())
    return path.as_uri()


def project_body(settings, repo_url):
    return {"name": PROJECT, "version": "1.0.0",
            "source": {"type": "git", "url": repo_url, "ref": "v1.0.0"},
            "hosts": settings.hosts,
            "scripts": {"start": "bash ./app.sh start", "stop": "bash ./app.sh stop",
                        "test": "bash ./check.sh"},
            # A start, stop or test that hangs is ended (its whole process group) and fails.
            "timeouts": {"start": 60, "stop": 60, "test": 120},
            "rollout": {"waves": [1, "25%", "100%"], "bake_seconds": settings.bake_seconds,
                        "max_failures": 0, "auto_promote": True, "auto_rollback": True,
                        "canary_hosts": [settings.hosts[0]], "deploy_timeout": 120}}


# --- the sandbox hosts -------------------------------------------------------------------------

def _env_line(name, value):
    """One ``agent.env`` line: the agent reads the file as data, a '...' value literally."""
    text = str(value)
    if "'" in text or "\n" in text:
        raise SystemExit(f"demo: cannot write {name}={text!r} into agent.env (no ' or newline)")
    return f"{name}='{text}'\n"


class Fleet:
    """Sandbox hosts running the real cron agent every few seconds, each in its own FABU_ROOT."""

    def __init__(self, settings):
        self.settings = settings
        self._stop = threading.Event()
        self._thread = None
        self._running = {}

    def prepare(self):
        from chalicelib.auth import principals
        for host in self.settings.hosts:
            home = self.settings.dir / host
            (home / "root").mkdir(parents=True)
            minted = principals.add_principal(HOST_ARN % host, path=self.settings.principals)
            env_file = home / "agent.env"
            env_file.write_text("".join(_env_line(name, value) for name, value in (
                ("FABU_API_URL", self.settings.api_url), ("FABU_REGION", self.settings.region),
                ("FABU_HOST", host), ("AWS_ACCESS_KEY_ID", minted.access_key_id),
                ("AWS_SECRET_ACCESS_KEY", minted.secret_access_key),
                ("FABU_ROOT", home / "root"), ("FABU_SPLAY", 0))))
            env_file.chmod(0o600)
        say("%d sandbox hosts under %s (agent every %gs; logs in <host>/agent.log)"
            % (len(self.settings.hosts), self.settings.dir, self.settings.agent_seconds))

    def start(self):
        self._thread = threading.Thread(target=self._cron, name="demo-cron", daemon=True)
        self._thread.start()

    def _cron(self):
        while not self._stop.is_set():
            for host in self.settings.hosts:
                proc = self._running.get(host)
                if proc is None or proc.poll() is not None:
                    self._running[host] = self._run_agent(host)
            self._stop.wait(self.settings.agent_seconds)

    def _run_agent(self, host):
        home = self.settings.dir / host
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "LANG": "C.UTF-8", "FABU_AGENT_ENV": str(home / "agent.env")}
        log = open(home / "agent.log", "ab")
        try:
            return subprocess.Popen(["bash", str(AGENT)], env=env, stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for proc in self._running.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self._running.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def versions(self):
        """What each host runs: ``current/.fabu-version`` of the demo project."""
        seen = {}
        for host in self.settings.hosts:
            marker = self.settings.dir / host / "root" / PROJECT / "current" / ".fabu-version"
            version = marker.read_text().strip() if marker.exists() else "-"
            seen[version] = seen.get(version, 0) + 1
        return seen


# --- the API side ------------------------------------------------------------------------------

def _use_local_admin():
    """Sign as the local admin of ``make run`` unless the environment names credentials."""
    credentials = ROOT / ".fabu" / "credentials"
    named = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID")
    if not named and credentials.exists():
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)
        os.environ["AWS_PROFILE"] = "fabu-admin"


def _reset_project(client):
    from fabu_cli.client import ApiError
    try:
        client.delete("/api/v1/project/%s" % PROJECT, params={"force": "true"})
        say("deleted the project %s of an earlier demo" % PROJECT)
    except ApiError as exc:
        if exc.status != 404:
            raise


def wait_for(client, version, settings, deadline):
    """Follow the rollout of ``version`` with progress bars until it reaches a final state."""
    from fabu_cli import render
    finals = ("succeeded", "rolled_back", "halted", "failed", "cancelled", "superseded")
    with render.WaveBars(console=render.out) as bars:
        while time.monotonic() < deadline:
            body = client.get("/api/v1/project/%s" % PROJECT).body
            rollout = body.get("rollout") or {}
            if rollout.get("version") == version:
                bars.update(rollout)
                if rollout.get("state") in finals:
                    return rollout["state"], body
            time.sleep(settings.poll_seconds)
    return "timed out", {}


def run(settings, client, fleet):
    from fabu_cli.watch import explain_failures
    deadline = time.monotonic() + settings.timeout
    client.get("/api/v1/project")  # fails early (and clearly) when the API is not there
    _reset_project(client)
    repo_url = make_repo(settings.dir / "repo")
    say("source repository %s (tags v1.0.0, v2.0.0)" % repo_url)
    fleet.prepare()
    fleet.start()
    client.post("/api/v1/project", project_body(settings, repo_url))
    say("created project %s at 1.0.0: waves [1, 25%%, 100%%], bake %ds; follow it in the UI or "
        "with `fabu watch %s`" % (PROJECT, settings.bake_seconds, PROJECT))
    first, _ = wait_for(client, "1.0.0", settings, deadline)
    say("rollout of 1.0.0: %s; hosts run %s" % (first.replace("_", " "), fleet.versions()))
    if first != "succeeded":
        return 1
    client.put("/api/v1/project/%s" % PROJECT, {
        "version": "2.0.0", "source": {"type": "git", "url": repo_url, "ref": "v2.0.0"}})
    say("updated %s to 2.0.0, whose check fails on the canary %s" % (PROJECT, settings.hosts[0]))
    second, body = wait_for(client, "2.0.0", settings, deadline)
    say("rollout of 2.0.0: %s; hosts run %s" % (second.replace("_", " "), fleet.versions()))
    explain_failures(client, PROJECT, body)
    if second != "rolled_back":
        return 1
    say("done: 1.0.0 succeeded, then 2.0.0 rolled back (see `fabu events %s`)" % PROJECT)
    return 0


def main():
    sys.path.insert(0, str(ROOT))
    from fabu_cli.client import ApiError, Client, ClientError, ConnectionFailed
    settings = Settings()
    _use_local_admin()
    client = Client(endpoint=settings.api_url, region=settings.region)
    if settings.dir.exists():
        shutil.rmtree(settings.dir)
    fleet = Fleet(settings)
    try:
        return run(settings, client, fleet)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except ConnectionFailed as exc:
        say("%s: is `make run` running?" % exc)
        return 3
    except ApiError as exc:
        say("the API refused %s %s: HTTP %d: %s %s" % (exc.method, exc.path, exc.status,
                                                      exc.message, exc.fields or ""))
        return 1
    except ClientError as exc:
        say(str(exc))
        return 2
    finally:
        fleet.stop()


if __name__ == "__main__":
    sys.exit(main())
