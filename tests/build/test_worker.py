"""The build worker and the CI upload path, end to end against moto and a local git repo."""
import datetime
import hashlib

import pytest
import requests

from chalicelib import config, events
from chalicelib.build import releases
from chalicelib.build import worker as builds
from chalicelib.errors import Conflict
from chalicelib.models import Release, utcnow
from tests.support.builds import aws_env, free_port, make_git_repo  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("git"))


def _queue(project, version, source, build_id="b-1"):
    Release(project, version, state="queued", source=source, build_id=build_id).save()
    return {"project": project, "version": version, "build_id": build_id}


def _kinds(project):
    return [e["kind"] for e in events.page(project, newest_first=False, limit=100)[0]]


def _object(aws, key):
    return aws.client("s3").get_object(Bucket=config.release_bucket(), Key=key)["Body"].read()


def test_build_makes_a_ready_release_with_its_tarball(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    builds.handle_build_message(msg, attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == "ready" and release.error is None and release.ready_at
    assert release.s3_key == "releases/web/1.0.tgz"
    body = _object(aws_env, release.s3_key)
    assert (release.sha256, release.size) == (hashlib.sha256(body).hexdigest(), len(body))
    assert _kinds("web") == ["build.started", "build.ready"]


def test_same_source_built_twice_has_the_same_sha256(aws_env, git_repo):
    source = {"type": "git", "url": git_repo.as_uri(), "ref": "v1"}
    builds.handle_build_message(_queue("web", "1.0", source), attempt=1)
    builds.handle_build_message(_queue("api", "1.0", source), attempt=1)
    assert releases.get("web", "1.0").sha256 == releases.get("api", "1.0").sha256


def test_duplicate_delivery_makes_one_artifact(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    builds.handle_build_message(msg, attempt=1)
    first = releases.get("web", "1.0")
    builds.handle_build_message(msg, attempt=2)
    again = releases.get("web", "1.0")
    assert (again.state, again.updated_at, again.attempts) == ("ready", first.updated_at, 1)
    assert _kinds("web").count("build.started") == 1


def test_message_while_another_worker_builds_is_a_no_op(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    releases.get("web", "1.0").update(actions=[Release.state.set("building")])
    builds.handle_build_message(msg, attempt=2)
    assert releases.get("web", "1.0").state == "building"
    assert _kinds("web") == []


def test_a_dead_workers_build_is_taken_over_after_its_lease(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    long_ago = utcnow() - datetime.timedelta(seconds=builds._lease_seconds() + 60)
    releases.get("web", "1.0").update(actions=[Release.state.set("building"),
                                               Release.updated_at.set(long_ago)])
    builds.handle_build_message(msg, attempt=2)
    assert releases.get("web", "1.0").state == "ready"


def test_superseded_build_is_ignored(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    releases.get("web", "1.0").update(actions=[Release.build_id.set("b-newer")])
    builds.handle_build_message(msg, attempt=1)
    assert releases.get("web", "1.0").state == "queued"


def test_missing_ref_fails_at_once_with_an_actionable_message(aws_env, git_repo):
    msg = _queue("web", "9.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v9"})
    builds.handle_build_message(msg, attempt=1)
    release = releases.get("web", "9.0")
    assert release.state == "failed"
    assert release.error == f"git ref 'v9' not found in {git_repo.as_uri()}"
    failed = [e for e in events.page("web")[0] if e["kind"] == "build.failed"]
    assert failed[0]["detail"]["error"] == release.error


def test_oversized_source_fails(aws_env, git_repo, monkeypatch):
    monkeypatch.setenv("FABU_MAX_ARTIFACT_BYTES", "100")
    builds.handle_build_message(
        _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"}), attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == "failed" and "larger than the 100-byte limit" in release.error
    assert aws_env.client("s3").list_objects_v2(Bucket=config.release_bucket())["KeyCount"] == 0


def test_unreachable_host_is_retried_then_fails_on_the_last_attempt(aws_env, monkeypatch):
    monkeypatch.setenv("FABU_BUILD_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("FABU_SOURCE_TIMEOUT_SECONDS", "5")
    url = f"http://127.0.0.1:{free_port()}/app.tgz"
    msg = _queue("web", "1.0", {"type": "http", "url": url})
    with pytest.raises(builds.BuildRetry):
        builds.handle_build_message(msg, attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == "queued"
    assert release.error.startswith("attempt 1 failed, will retry: could not connect to 127.0.0.1")
    with pytest.raises(builds.BuildRetry):  # the last receive: SQS moves it to the DLQ
        builds.handle_build_message(msg, attempt=3)
    release = releases.get("web", "1.0")
    assert release.state == "failed" and release.error.endswith("(gave up after 3 attempts)")
    assert _kinds("web") == ["build.started", "build.retrying", "build.started", "build.failed"]


# --- CI uploads ------------------------------------------------------------------------------

TARBALL = b"a tarball built by CI"
RIGHT = hashlib.sha256(TARBALL).hexdigest()


def _upload(aws, project, version, sha256):
    grant = builds.request_ci_upload(project, version, sha256, ci_server="jenkins.example.com")
    answer = requests.put(grant["upload_url"], data=TARBALL, timeout=10)
    assert answer.status_code == 200
    return grant


def test_ci_upload_with_the_right_checksum_becomes_ready(aws_env):
    grant = _upload(aws_env, "web", "2.0", RIGHT)
    assert grant["s3_key"] == "releases/web/2.0.tgz" and grant["expires_in"] > 0
    assert releases.get("web", "2.0").state == "awaiting_artifact"
    done = builds.complete_ci_upload("web", "2.0")
    assert (done["state"], done["sha256"], done["size"]) == ("ready", RIGHT, len(TARBALL))
    assert done["ci_server"] == "jenkins.example.com"
    assert builds.complete_ci_upload("web", "2.0")["state"] == "ready"  # idempotent
    with pytest.raises(Conflict, match="immutable"):
        builds.request_ci_upload("web", "2.0", RIGHT)


def test_ci_upload_with_a_wrong_checksum_fails_and_is_removed(aws_env):
    wrong = hashlib.sha256(b"something else").hexdigest()
    _upload(aws_env, "web", "2.0", wrong)
    done = builds.complete_ci_upload("web", "2.0")
    assert done["state"] == "failed" and RIGHT in done["error"] and wrong in done["error"]
    listing = aws_env.client("s3").list_objects_v2(Bucket=config.release_bucket())
    assert listing["KeyCount"] == 0
    _upload(aws_env, "web", "2.0", RIGHT)  # CI may try again after a failure
    assert builds.complete_ci_upload("web", "2.0")["state"] == "ready"


def test_ci_completion_before_the_upload_keeps_waiting(aws_env):
    builds.request_ci_upload("web", "2.0", RIGHT)
    with pytest.raises(Conflict, match="PUT the tarball"):
        builds.complete_ci_upload("web", "2.0")
    assert releases.get("web", "2.0").state == "awaiting_artifact"
