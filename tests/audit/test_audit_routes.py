"""Every admin route that changes something leaves an audit entry naming its caller.

The routes are read from the app itself: a non-GET route without a step here fails the test,
so a new admin route cannot ship unaudited. Each step is a real signed request by a second
admin (``alice``); its entry must carry her ARN, the action, the project and the request id.
"""
import datetime
import hashlib
import time
from urllib.parse import urlencode

import requests

from tests.cli.support import ready_release
from tests.conftest import base_project

ALICE = "arn:aws:iam::000000000000:user/fabu-admins/alice"
TARBALL = b"a tarball built by CI"
UTC = datetime.timezone.utc
#: The host protocol's own routes start here (hosts sign them; they are no admin action).
HOST_PREFIX = "/api/v1/{host}"


def _later(seconds):
    return (datetime.datetime.now(UTC) + datetime.timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _upload(alice):
    asked = alice.post("/api/v1/project/web/artifact",
                       {"version": "1.0.0", "sha256": hashlib.sha256(TARBALL).hexdigest()})
    assert requests.put(asked.json["upload_url"], data=TARBALL, timeout=10).status_code == 200
    return asked


def _promote_release(alice):
    created = alice.post("/api/v1/project", base_project(name="prod", promote_from={"project": "web"}))
    assert created.status == 201, created
    return alice.post("/api/v1/project/prod/promote-release",
                      {"version": "1.0.0", "force": True, "reason": "audit test"})


#: (method, route) → (call, action, project), in the order they run.
STEPS = {
    ("POST", "/api/v1/project"): (
        lambda a: a.post("/api/v1/project", base_project(deploy_at=_later(3600))),
        "project.created", "web"),
    ("POST", "/api/v1/project/{project_id}/artifact"): (_upload, "artifact.upload_requested", "web"),
    ("POST", "/api/v1/project/{project_id}/artifact/complete"): (
        lambda a: a.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"}),
        "build.ready", "web"),
    ("PUT", "/api/v1/project/{project_id}"): (
        lambda a: a.put("/api/v1/project/web", {"description": "the front"}),
        "project.updated", "web"),
    ("PUT", "/api/v1/project"): (
        lambda a: a.put("/api/v1/project", {"id": "web", "description": "later",
                                            "apply_at": _later(3600)}),
        "project.update_scheduled", "web"),
    ("DELETE", "/api/v1/project/{project_id}/scheduled"): (
        lambda a: a.delete("/api/v1/project/web/scheduled"), "project.update_cancelled", "web"),
    ("POST", "/api/v1/project/{project_id}/pause"): (
        lambda a: a.post("/api/v1/project/web/pause"), "rollout.paused", "web"),
    ("POST", "/api/v1/project/{project_id}/resume"): (
        lambda a: a.post("/api/v1/project/web/resume"), "rollout.resumed", "web"),
    ("POST", "/api/v1/project/{project_id}/promote"): (
        lambda a: a.post("/api/v1/project/web/promote"), "rollout.promoted", "web"),
    ("POST", "/api/v1/project/{project_id}/rollback"): (
        lambda a: a.post("/api/v1/project/web/rollback?to=0.9.0"), "rollout.rollback_requested",
        "web"),
    ("POST", "/api/v1/project/{project_id}/promote-release"): (
        _promote_release, "release.promoted", "prod"),
    ("POST", "/api/v1/freeze"): (
        lambda a: a.post("/api/v1/freeze", {"reason": "audit week"}), "stage.frozen", "-"),
    ("DELETE", "/api/v1/freeze"): (lambda a: a.delete("/api/v1/freeze"), "stage.thawed", "-"),
    ("POST", "/api/v1/reports"): (lambda a: a.post("/api/v1/reports", {}), "report.generated", "-"),
    ("POST", "/api/v1/audit"): (
        lambda a: a.post("/api/v1/audit", {"action": "key.minted", "detail": {"host": "web-1"}}),
        "key.minted", "-"),
    ("DELETE", "/api/v1/project/{project_id}"): (
        lambda a: a.delete("/api/v1/project/web?force=true"), "project.deleted", "web"),
}


def _admin_routes():
    from app import app
    return {(method, path) for path, methods in app.routes.items() for method in methods
            if method not in ("GET", "OPTIONS", "HEAD") and not path.startswith(HOST_PREFIX)}


def test_every_admin_route_that_changes_something_is_audited(api, signed_client):
    missing = _admin_routes() - set(STEPS)
    assert not missing, f"admin routes without an audit step (add one, and audit them): {missing}"
    ready_release("web", "0.9.0")                      # storage-boundary setup: a rollback target
    alice = signed_client(ALICE)
    for route, (call, action, project) in STEPS.items():
        if route not in _admin_routes():
            continue  # a step for a route this tree does not have (yet)
        since = datetime.datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        time.sleep(0.002)
        answer = call(alice)
        assert 200 <= answer.status < 300, (route, answer)
        got = api.get("/api/v1/audit?" + urlencode({"actor": ALICE, "since": since}))
        entries = got.json["entries"]
        mine = [e for e in entries if (e["action"], e["project"]) == (action, project)]
        assert mine, (route, [(e["action"], e["project"]) for e in entries])
        assert mine[0]["actor"] == ALICE and mine[0]["request_id"], mine[0]
