"""A fleet simulator: many hosts speaking the host protocol over the API, in Python (fast).

Each simulated host polls ``GET /api/v1/<host>`` with its own SigV4 identity, fetches the deploy
script when something is pending (it checks the script names each deploy, it does not run it)
and reports the phases the script would report, succeeding or failing per a per-host policy.
A host can be ``down`` (stops polling: silent) or ``hung`` (takes the script and never reports:
its lease expires). Nothing in ``Fleet`` touches storage: only the API.

The functions below it are the rollout tests' shared steps: create or update a project through
the API, run the tick at a later time, and read the rollout and its events back. ``SilentGate``
is a before-wave gate that accepts connections and never answers (until told to approve).
"""
import datetime
import hashlib
import json
import socket
import threading

from chalicelib.states import DeployKind, Phase, ReportStatus
from tests.conftest import base_project

DEPLOY_PHASES = (Phase.PRE_DEPLOY, Phase.DO_DEPLOY, Phase.POST_DEPLOY)


def host_arn(host):
    return f"arn:aws:iam::000000000000:user/fabu-hosts/{host}"


def ready_release(project, version, body=b"tarball"):
    """Test setup at the storage boundary: the build worker would have produced this."""
    from chalicelib.models import Release
    from chalicelib.states import ReleaseState
    Release(project, version, state=ReleaseState.READY, s3_key=f"releases/{project}/{version}.tgz",
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()


def hosts_named(prefix, count):
    return [f"{prefix}-{i:03d}.example.com" for i in range(count)]


#: The simulated fleet of the rollout tests (``tests/rollout/conftest.py``'s ``fleet``).
FLEET_HOSTS = hosts_named("web", 100)


def later(seconds):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


class Fleet:
    """Simulated hosts. ``fail[host] = phase`` makes that host's deploys fail at ``phase``."""

    def __init__(self, signed_client, hosts):
        self.hosts = list(hosts)
        self.clients = {host: signed_client(host_arn(host)) for host in self.hosts}
        self.running = {}      # (host, project) -> version
        self.fail = {}         # host -> phase at which its deploys fail
        self.down = set()      # hosts that stopped polling
        self.hung = set()      # hosts that take a script and never report
        self.handed = []       # every (host, project, version, kind, deploy_id) handed out
        self.blocked = {}      # host -> last blocked list seen on poll

    def poll(self, host):
        """One cron run of ``host``: poll, fetch and 'run' the script, report. Returns items."""
        response = self.clients[host].get(f"/api/v1/{host}")
        assert response.status in (200, 204), response
        if response.status == 204:
            self.blocked.pop(host, None)
            return []
        self.blocked[host] = response.json.get("blocked", [])
        pending = response.json["pending"]
        if not pending:
            return []
        script = self.clients[host].get(f"/api/v1/{host}/deploy")
        assert script.status == 200, script
        text = script.body.decode() if isinstance(script.body, bytes) else script.body
        leased = [item for item in pending if item["deploy_id"] in text]
        for item in leased:
            self.handed.append((host, item["project"], item["version"], item["kind"],
                                item["deploy_id"]))
            if host not in self.hung:
                self.run(host, item)
        return leased

    def run(self, host, item):
        """Run ``item``'s script on ``host`` as far as the reports go (a late report included)."""
        project, version = item["project"], item["version"]
        before = self.running.get((host, project))
        if item["kind"] == DeployKind.ROLLBACK:
            self.running[(host, project)] = version
            self._report(host, item, Phase.ROLLBACK, ReportStatus.OK, version)
            return
        failing = self.fail.get(host)
        for phase in DEPLOY_PHASES:
            if phase == failing:
                self._report(host, item, phase, ReportStatus.FAILED,
                             version if phase == Phase.POST_DEPLOY else before, exit_code=1)
                self._report(host, item, Phase.ROLLBACK, ReportStatus.OK, before)  # the script rolls itself back
                if before:
                    self.running[(host, project)] = before
                else:
                    self.running.pop((host, project), None)
                return
            if phase == Phase.DO_DEPLOY:
                self.running[(host, project)] = version
            self._report(host, item, phase, ReportStatus.OK, self.running.get((host, project)))

    def _report(self, host, item, phase, status, running, exit_code=0):
        body = {"project": item["project"], "version": item["version"],
                "deploy_id": item["deploy_id"], "phase": phase, "status": status,
                "exit_code": exit_code, "output": f"{phase} {status}",
                "running_version": running or ""}
        response = self.clients[host].post(f"/api/v1/{host}/report", body)
        assert response.status == 200, response

    def round(self, hosts=None):
        """Every live host runs its cron once; returns the items handed out this round."""
        handed = []
        for host in hosts or self.hosts:
            if host not in self.down:
                handed.extend((host, item) for item in self.poll(host))
        return handed

    def versions(self, project):
        return {host: self.running.get((host, project)) for host in self.hosts}

    def at(self, version, project="web"):
        """The hosts running ``version`` of ``project``, sorted."""
        return sorted(h for h, v in self.versions(project).items() if v == version)


# ----------------------------------------------------------------------------- test steps

def create(api, hosts, name="web", version="1.0.0", ready=True, **overrides):
    """Create a project through the API (its release ready unless ``ready=False``)."""
    response = api.post("/api/v1/project", base_project(name=name, version=version, hosts=hosts,
                                                        **overrides))
    assert response.status == 201, response
    if ready:
        ready_release(name, version)
    return response.json


def put(api, name="web", ready=True, **changes):
    """Update a project through the API (a new version's release ready unless scheduled)."""
    response = api.put(f"/api/v1/project/{name}", changes)
    assert response.status == 200, response
    if ready and "version" in changes and "apply_at" not in changes:
        ready_release(name, changes["version"])
    return response.json


def tick(seconds=0):
    """Run the minute tick ``seconds`` from now."""
    from chalicelib.rollout import tick as rollout_tick
    return rollout_tick.run(now=later(seconds))


def rollout_of(api, name="web"):
    """The project's rollout summary, as ``GET /api/v1/project/<name>`` shows it."""
    return api.get(f"/api/v1/project/{name}").json["rollout"]


def events_of(name, kind):
    """The project's events of one ``kind``, newest first."""
    from chalicelib import events
    items, _ = events.page(name, limit=1000)
    return [e for e in items if e["kind"] == kind]


def wave_counts(rollout):
    """Per-wave host counts by status of a rollout summary."""
    return [w["counts"] for w in rollout["waves"]]


class SilentGate:
    """A gate endpoint on 127.0.0.1 that accepts every connection, reads the request and never
    answers — until ``approve()``, after which new requests get ``200``. ``asked`` lists the
    path of every request read (``/<project>``), in arrival order; ``url(name)`` is a gate URL."""

    def __init__(self):
        self.asked = []
        self.approving = False
        self._lock = threading.Lock()
        self._held = []
        self._server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, name="gate"):
        return f"http://127.0.0.1:{self._server.getsockname()[1]}/{name}"

    def approve(self):
        self.approving = True

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.close()
        with self._lock:
            for conn in self._held:
                conn.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            path = head.split(b" ")[1].decode()
            with self._lock:
                self.asked.append((path, json.loads(body or b"{}")))
                self._held.append(conn)
            if self.approving:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                conn.close()
        except OSError:
            pass

    def paths(self):
        """The paths asked so far, in order."""
        with self._lock:
            return [path for path, _ in self.asked]
