"""A fleet simulator: many hosts speaking the host protocol over the API, in Python (fast).

Each simulated host polls ``GET /api/v1/<host>`` with its own SigV4 identity, fetches the deploy
script when something is pending (it checks the script names each deploy, it does not run it)
and reports the phases the script would report, succeeding or failing per a per-host policy.
A host can be ``down`` (stops polling: silent) or ``hung`` (takes the script and never reports:
its lease expires). Nothing here touches storage: only the API.
"""
import datetime
import hashlib

HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/%s"
DEPLOY_PHASES = ("pre-deploy", "do-deploy", "post-deploy")


def ready_release(project, version, body=b"tarball"):
    """Test setup at the storage boundary: the build worker would have produced this."""
    from chalicelib.models import Release
    Release(project, version, state="ready", s3_key="releases/%s/%s.tgz" % (project, version),
            sha256=hashlib.sha256(body).hexdigest(), size=len(body)).save()


def hosts_named(prefix, count):
    return ["%s-%03d.example.com" % (prefix, i) for i in range(count)]


def later(seconds):
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)


class Fleet:
    """Simulated hosts. ``fail[host] = phase`` makes that host's deploys fail at ``phase``."""

    def __init__(self, signed_client, hosts):
        self.hosts = list(hosts)
        self.clients = {host: signed_client(HOST_ARN % host) for host in self.hosts}
        self.running = {}      # (host, project) -> version
        self.fail = {}         # host -> phase at which its deploys fail
        self.down = set()      # hosts that stopped polling
        self.hung = set()      # hosts that take a script and never report
        self.handed = []       # every (host, project, version, kind, deploy_id) handed out
        self.blocked = {}      # host -> last blocked list seen on poll

    def poll(self, host):
        """One cron run of ``host``: poll, fetch and 'run' the script, report. Returns items."""
        response = self.clients[host].get("/api/v1/" + host)
        assert response.status in (200, 204), response
        if response.status == 204:
            self.blocked.pop(host, None)
            return []
        self.blocked[host] = response.json.get("blocked", [])
        pending = response.json["pending"]
        if not pending:
            return []
        script = self.clients[host].get("/api/v1/%s/deploy" % host)
        assert script.status == 200, script
        text = script.body.decode() if isinstance(script.body, bytes) else script.body
        leased = [item for item in pending if item["deploy_id"] in text]
        for item in leased:
            self.handed.append((host, item["project"], item["version"], item["kind"],
                                item["deploy_id"]))
            if host not in self.hung:
                self._run(host, item)
        return leased

    def _run(self, host, item):
        project, version = item["project"], item["version"]
        before = self.running.get((host, project))
        if item["kind"] == "rollback":
            self.running[(host, project)] = version
            self._report(host, item, "rollback", "ok", version)
            return
        failing = self.fail.get(host)
        for phase in DEPLOY_PHASES:
            if phase == failing:
                self._report(host, item, phase, "failed", version if phase == "post-deploy" else before,
                             exit_code=1)
                self._report(host, item, "rollback", "ok", before)  # the script rolls itself back
                if before:
                    self.running[(host, project)] = before
                else:
                    self.running.pop((host, project), None)
                return
            if phase == "do-deploy":
                self.running[(host, project)] = version
            self._report(host, item, phase, "ok", self.running.get((host, project)))

    def _report(self, host, item, phase, status, running, exit_code=0):
        body = {"project": item["project"], "version": item["version"],
                "deploy_id": item["deploy_id"], "phase": phase, "status": status,
                "exit_code": exit_code, "output": "%s %s" % (phase, status),
                "running_version": running or ""}
        response = self.clients[host].post("/api/v1/%s/report" % host, body)
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
