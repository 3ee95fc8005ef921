"""The CI upload path: a presigned PUT, then the sha256 check; through the domain and the routes."""
import hashlib

import pytest
import requests

from chalicelib import config, events
from chalicelib.build import ci_upload, releases
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.models import Project
from chalicelib.states import ReleaseState
from tests.conftest import base_project
from tests.support.builds import aws_env  # noqa: F401 (fixture)

TARBALL = b"a tarball built by CI"
RIGHT = hashlib.sha256(TARBALL).hexdigest()


@pytest.fixture
def project(aws_env):
    """Storage-boundary setup: the project item a CI server uploads for."""
    Project("web", spec={"name": "web", "version": "2.0"}).save()
    return "web"


def _upload(project, version, sha256):
    grant = ci_upload.request_ci_upload(project, {"version": version, "sha256": sha256,
                                                  "ci_server": "jenkins.example.com"}, None)
    answer = requests.put(grant["upload_url"], data=TARBALL, timeout=10)
    assert answer.status_code == 200
    return grant


def _complete(project, version):
    return ci_upload.complete_ci_upload(project, {"version": version}, None)


def test_ci_upload_with_the_right_checksum_becomes_ready(project):
    grant = _upload(project, "2.0", RIGHT)
    assert grant["s3_key"] == "releases/web/2.0.tgz" and grant["expires_in"] > 0
    assert releases.get("web", "2.0").state == ReleaseState.AWAITING_ARTIFACT
    done = _complete("web", "2.0")
    assert (done["state"], done["sha256"], done["size"]) == (ReleaseState.READY, RIGHT, len(TARBALL))
    assert done["ci_server"] == "jenkins.example.com"
    assert _complete("web", "2.0")["state"] == ReleaseState.READY  # idempotent
    with pytest.raises(Conflict, match="immutable"):
        ci_upload.request_ci_upload("web", {"version": "2.0", "sha256": RIGHT}, None)


def test_ci_upload_with_a_wrong_checksum_fails_and_is_removed(project, aws_env):
    wrong = hashlib.sha256(b"something else").hexdigest()
    _upload(project, "2.0", wrong)
    done = _complete("web", "2.0")
    assert done["state"] == ReleaseState.FAILED and RIGHT in done["error"] and wrong in done["error"]
    listing = aws_env.client("s3").list_objects_v2(Bucket=config.release_bucket())
    assert listing["KeyCount"] == 0
    _upload(project, "2.0", RIGHT)  # CI may try again after a failure
    assert _complete("web", "2.0")["state"] == ReleaseState.READY


def test_ci_completion_before_the_upload_keeps_waiting(project):
    ci_upload.request_ci_upload("web", {"version": "2.0", "sha256": RIGHT}, None)
    with pytest.raises(Conflict, match="PUT the tarball"):
        _complete("web", "2.0")
    assert releases.get("web", "2.0").state == ReleaseState.AWAITING_ARTIFACT


def test_unknown_project_is_not_found(aws_env):
    with pytest.raises(NotFound, match="^no project named 'nope'$"):
        ci_upload.request_ci_upload("nope", {"version": "2.0", "sha256": RIGHT}, None)
    with pytest.raises(NotFound, match="^no project named 'nope'$"):
        _complete("nope", "2.0")


def test_ci_server_defaults_to_the_projects(aws_env):
    Project("web", spec={"name": "web", "version": "2.0", "ci_server": "ci.example.com"}).save()
    grant = ci_upload.request_ci_upload("web", {"version": "2.0", "sha256": RIGHT.upper()}, "me")
    assert (grant["ci_server"], grant["sha256"]) == ("ci.example.com", RIGHT)
    assert releases.get("web", "2.0").ci_server == "ci.example.com"
    asked = events.page("web")[0][0]
    assert (asked["kind"], asked["actor"], asked["message"]) == (
        "artifact.upload_requested", "me", "ci.example.com may upload 2.0")
    grant = ci_upload.request_ci_upload("web", {"version": "2.0", "sha256": RIGHT,
                                                "ci_server": "other.example.com"}, None)
    assert grant["ci_server"] == "other.example.com"


@pytest.mark.parametrize("body, message, field", [
    ({"version": "2.0", "sha256": "abc"}, "sha256 must be 64 hex digits", "sha256"),
    ({"version": "2.0"}, "sha256 must be 64 hex digits", "sha256"),
    ({"sha256": RIGHT}, "version is required", "version"),
    ({"version": 2, "sha256": RIGHT}, "version is required", "version"),
    ({"version": "2.0_rc1", "sha256": RIGHT},
     "version '2.0_rc1' is not a version such as 1.4.2", "version"),
    ({"version": "2.0", "sha256": RIGHT, "ci_server": 7}, "ci_server must be a string", "ci_server"),
])
def test_a_bad_request_is_a_400_naming_the_field(project, body, message, field):
    with pytest.raises(ValidationError) as err:
        ci_upload.request_ci_upload(project, body, None)
    assert (err.value.message, list(err.value.fields)) == (message, [field])
    assert releases.get("web", "2.0") is None


def test_completing_an_unknown_or_building_release_is_refused(project):
    with pytest.raises(NotFound, match="^no release 3.0 of web$"):
        _complete("web", "3.0")
    releases.ensure_release("web", "2.0", {"type": "git", "url": "file:///nowhere"}, None, None)
    with pytest.raises(Conflict, match="^release 2.0 of web is queued, not awaiting an upload$"):
        _complete("web", "2.0")
    with pytest.raises(Conflict, match="^release 2.0 of web is being built from its source$"):
        ci_upload.request_ci_upload("web", {"version": "2.0", "sha256": RIGHT}, None)


@pytest.mark.parametrize("version, ok", [("1.4.2", True), ("1:2.0-3~rc1", True), ("", False),
                                         (None, False), ("2.0_rc1", False), ("x" * 300, False)])
def test_check_version(version, ok):
    if ok:
        ci_upload.check_version(version)
    else:
        with pytest.raises(ValidationError):
            ci_upload.check_version(version)


# --- the routes ------------------------------------------------------------------------------

def test_routes_answer_404_for_an_unknown_project_and_201_with_the_grant(api):
    missing = api.post("/api/v1/project/nope/artifact", {"version": "2.0", "sha256": RIGHT})
    assert (missing.status, missing.json) == (404, {"error": "no project named 'nope'"})
    missing = api.post("/api/v1/project/nope/artifact/complete", {"version": "2.0"})
    assert (missing.status, missing.json) == (404, {"error": "no project named 'nope'"})
    assert api.post("/api/v1/project", base_project(ci_server="ci.example.com")).status == 201
    asked = api.post("/api/v1/project/web/artifact", {"version": "1.0.0", "sha256": RIGHT})
    assert asked.status == 201, asked
    assert (asked.json["ci_server"], asked.json["method"]) == ("ci.example.com", "PUT")
    assert requests.put(asked.json["upload_url"], data=TARBALL, timeout=10).status_code == 200
    done = api.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"})
    assert (done.status, done.json["state"]) == (200, ReleaseState.READY)


def test_completion_before_any_upload_was_requested_is_a_409_not_a_500(api):
    # Bug fix: a release made by a project without source has no key or sha256 yet; completing
    # it used to hand None to S3 (ParamValidationError, a 500).
    assert api.post("/api/v1/project", base_project()).status == 201
    done = api.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"})
    assert (done.status, done.json) == (409, {
        "error": "no upload was requested for release 1.0.0 of web; "
                 "POST /api/v1/project/web/artifact first"})
    assert releases.get("web", "1.0.0").state == ReleaseState.AWAITING_ARTIFACT


# --- short-lived upload URLs; hosts download the verified object version -----------------------

HOST = "web-1.example.com"


def _deploy_url(signed_client):
    """The artifact URL of the deploy script the host fetches now (after one tick)."""
    import re

    from chalicelib.rollout import tick
    tick.run()
    host = signed_client(f"arn:aws:iam::000000000000:user/fabu-hosts/{HOST}")
    script = host.get(f"/api/v1/{HOST}/deploy")
    assert script.status == 200, script
    text = script.body.decode() if isinstance(script.body, bytes) else script.body
    urls = re.findall(r"P_URL='([^']+)'", text)
    assert len(urls) == 1, text[:2000]
    return urls[0]


def test_a_host_downloads_the_verified_bytes_even_after_the_key_is_overwritten(api, signed_client):
    assert api.post("/api/v1/project", base_project(hosts=[HOST])).status == 201
    grant = api.post("/api/v1/project/web/artifact", {"version": "1.0.0", "sha256": RIGHT}).json
    assert requests.put(grant["upload_url"], data=TARBALL, timeout=10).status_code == 200
    done = api.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"})
    assert (done.status, done.json["state"]) == (200, ReleaseState.READY)
    # The upload URL is still valid for a while: whoever holds it writes other bytes to the key.
    assert requests.put(grant["upload_url"], data=b"not what CI verified", timeout=10).status_code == 200
    url = _deploy_url(signed_client)
    assert "versionId=" in url
    downloaded = requests.get(url, timeout=10)
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == RIGHT
    # Completing again changes nothing: the release stays pinned to what was verified.
    assert api.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"}).json["sha256"] == RIGHT


def test_a_rejected_upload_leaves_no_version_of_its_bytes_behind(api, aws_env):
    assert api.post("/api/v1/project", base_project(hosts=[HOST])).status == 201
    wrong = hashlib.sha256(b"something else").hexdigest()
    grant = api.post("/api/v1/project/web/artifact", {"version": "1.0.0", "sha256": wrong}).json
    assert requests.put(grant["upload_url"], data=TARBALL, timeout=10).status_code == 200
    done = api.post("/api/v1/project/web/artifact/complete", {"version": "1.0.0"})
    assert done.json["state"] == ReleaseState.FAILED
    listing = aws_env.client("s3").list_object_versions(Bucket=config.release_bucket())
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []


def test_upload_urls_are_short_lived(api, monkeypatch):
    import time
    from urllib.parse import parse_qs, urlsplit
    assert api.post("/api/v1/project", base_project()).status == 201
    for setting, seconds in [(None, 900), ("300", 300), ("86400", 1800), ("5", 60), ("soon", 900)]:
        if setting is None:
            monkeypatch.delenv("FABU_UPLOAD_URL_SECONDS", raising=False)
        else:
            monkeypatch.setenv("FABU_UPLOAD_URL_SECONDS", setting)
        grant = api.post("/api/v1/project/web/artifact", {"version": "1.0.0", "sha256": RIGHT}).json
        assert grant["expires_in"] == seconds, setting
        query = parse_qs(urlsplit(grant["upload_url"]).query)
        if "X-Amz-Expires" in query:  # SigV4: seconds from X-Amz-Date
            assert query["X-Amz-Expires"] == [str(seconds)]
        else:  # SigV2 (botocore's presign default for us-east-1): an absolute epoch
            assert abs(int(query["Expires"][0]) - (time.time() + seconds)) < 60, setting
