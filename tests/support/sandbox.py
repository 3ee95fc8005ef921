"""Sandbox hosts that run the real agent against the real API (``live``), and release setup.

``SandboxHost`` is ``tests.support.hosts.HostSandbox`` (temp ``FABU_ROOT``, ``dpkg-query``/
``dpkg`` shims first on ``PATH``) with host credentials minted by the live stack and written to
the host's own ``agent.env``, the way Puppet would install them. Releases come two ways:
``ci_upload`` is the user path (``POST /artifact``, PUT to the presigned URL,
``/artifact/complete``); ``stored_release`` is storage-boundary setup (the tarball in the release
bucket and a ``ready`` Release item, what the build worker leaves behind).
"""
import time

import requests

from tests.support.hosts import HostSandbox, make_tarball

REGION = "us-east-1"


class _LiveApi:
    """The bit of ``FakeApi`` that ``HostSandbox`` reads: where the API is."""

    def __init__(self, url):
        self.url = url


class SandboxHost(HostSandbox):
    """One host of the live stack: its own keys in ``agent.env``, its own ``FABU_ROOT``."""

    def __init__(self, base, live, host, packages=None):
        base.mkdir(parents=True, exist_ok=True)
        super().__init__(base, _LiveApi(live.url), host, packages)
        self.key, self.secret = live.add_host(host)
        self.agent_env = self.base / "agent.env"
        self.write_agent_env(FABU_API_URL=live.url, FABU_REGION=REGION, FABU_HOST=host,
                             FABU_ROOT=str(self.root), FABU_SPLAY="0",
                             AWS_ACCESS_KEY_ID=self.key, AWS_SECRET_ACCESS_KEY=self.secret)

    def write_agent_env(self, **values):
        """(Re)write the host's ``agent.env``: ``KEY='value'`` lines (the agent reads it as data)."""
        self.agent_env.write_text("# written by tests/support/sandbox.py\n" + "".join(
            f"{name}='{value}'\n" for name, value in values.items()))

    def env(self, **extra):
        """Only what cron would give the agent (PATH, HOME) plus the file it reads."""
        env = super().env(**extra)
        for name in ("FABU_API_URL", "FABU_REGION", "FABU_HOST", "FABU_ROOT", "FABU_SPLAY",
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            if name not in extra:
                env.pop(name, None)
        env["FABU_AGENT_ENV"] = str(self.agent_env)
        return env

    def reports(self):
        raise NotImplementedError("the live API stores reports: use stored_reports(deploy_id)")

    def current_target(self, project):
        """Where ``current`` points (relative, as the script writes it), or None."""
        link = self.root / project / "current"
        return str(link.readlink()) if link.is_symlink() else None


def project_body(name, version, hosts, **overrides):
    """A ``POST /api/v1/project`` body with start/stop scripts and no source (CI uploads)."""
    body = {"name": name, "version": version, "hosts": list(hosts),
            "scripts": {"start": 'echo "started $FABU_PROJECT $FABU_VERSION" > started.txt',
                        "stop": "rm -f started.txt"},
            "rollout": {"waves": ["100%"], "bake_seconds": 0, "max_failures": 0}}
    for key, value in overrides.items():
        if key in ("scripts", "rollout") and isinstance(value, dict):
            body[key] = dict(body[key], **value)
        else:
            body[key] = value
    return body


def release_files(project, version):
    return {"app.txt": f"{project} {version}\n", "bin/run.sh": "#!/bin/sh\necho run\n"}


def ci_upload(live, project, version, files=None):
    """The CI path a user's pipeline takes; returns the tarball's (bytes, sha256)."""
    body, sha256 = make_tarball(files or release_files(project, version))
    asked = live.request("POST", f"/api/v1/project/{project}/artifact",
                         {"version": version, "sha256": sha256})
    assert asked.status_code == 201, asked.text
    put = requests.put(asked.json()["upload_url"], data=body, timeout=30)
    assert put.status_code == 200, put.text
    done = live.request("POST", f"/api/v1/project/{project}/artifact/complete", {"version": version})
    assert done.status_code == 200 and done.json()["state"] == "ready", done.text
    return body, sha256


def stored_release(project, version, files=None, body=None):
    """Storage-boundary setup: the tarball in the release bucket and its ``ready`` Release."""
    from chalicelib import config
    from chalicelib.build import worker as builds
    from chalicelib.models import Release
    from tests.conftest import boto_client
    import hashlib
    if body is None:
        body, _ = make_tarball(files or release_files(project, version))
    key = builds.artifact_key(project, version)
    boto_client("s3").put_object(Bucket=config.release_bucket(), Key=key, Body=body)
    Release(project, version, state="ready", s3_key=key, sha256=hashlib.sha256(body).hexdigest(),
            size=len(body)).save()
    return body


def stored_reports(deploy_id):
    """``{phase: report}`` the API stored for one deploy (storage-boundary read; a test's table
    is small, so one filtered Scan finds them whatever the table's key is)."""
    from chalicelib.models import Report
    return {r.phase: r for r in Report.scan(Report.deploy_id == deploy_id, consistent_read=True)}


def events_of(live, project):
    """Event kinds of a project, oldest first, as ``GET /api/v1/project/{id}/events`` lists them."""
    response = live.request("GET", f"/api/v1/project/{project}/events?limit=200&order=asc")
    assert response.status_code == 200, response.text
    return [event["kind"] for event in response.json()["events"]]


def project_view(live, project):
    response = live.request("GET", f"/api/v1/project/{project}")
    assert response.status_code == 200, response.text
    return response.json()


def host_row(live, project, host):
    view = project_view(live, project)
    return next(row for row in view["hosts_view"]["hosts"] if row["host"] == host)


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
