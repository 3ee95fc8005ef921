"""The SQS build worker end to end against moto and a local git repo: claims, retries, duplicates."""
import datetime
import hashlib

import pytest

from chalicelib import config, events
from chalicelib.build import releases, worker
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from chalicelib.times import utcnow
from tests.support.builds import aws_env, free_port  # noqa: F401 (fixture)


def _queue(project, version, source, build_id="b-1"):
    Release(project, version, state=ReleaseState.QUEUED, source=source, build_id=build_id).save()
    return {"project": project, "version": version, "build_id": build_id}


def _kinds(project):
    return [e["kind"] for e in events.page(project, newest_first=False, limit=100)[0]]


def _object(aws, key):
    return aws.client("s3").get_object(Bucket=config.release_bucket(), Key=key)["Body"].read()


def test_build_makes_a_ready_release_with_its_tarball(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    worker.handle_build_message(msg, attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == ReleaseState.READY and release.error is None and release.ready_at
    assert release.s3_key == "releases/web/1.0.tgz"
    body = _object(aws_env, release.s3_key)
    assert (release.sha256, release.size) == (hashlib.sha256(body).hexdigest(), len(body))
    assert _kinds("web") == ["build.started", "build.ready"]


def test_same_source_built_twice_has_the_same_sha256(aws_env, git_repo):
    source = {"type": "git", "url": git_repo.as_uri(), "ref": "v1"}
    worker.handle_build_message(_queue("web", "1.0", source), attempt=1)
    worker.handle_build_message(_queue("api", "1.0", source), attempt=1)
    assert releases.get("web", "1.0").sha256 == releases.get("api", "1.0").sha256


def test_duplicate_delivery_makes_one_artifact(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    worker.handle_build_message(msg, attempt=1)
    first = releases.get("web", "1.0")
    worker.handle_build_message(msg, attempt=2)
    again = releases.get("web", "1.0")
    assert (again.state, again.updated_at, again.attempts) == (ReleaseState.READY, first.updated_at, 1)
    assert _kinds("web").count("build.started") == 1


def test_message_while_another_worker_builds_is_a_no_op(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    releases.get("web", "1.0").update(actions=[Release.state.set(ReleaseState.BUILDING)])
    worker.handle_build_message(msg, attempt=2)
    assert releases.get("web", "1.0").state == ReleaseState.BUILDING
    assert _kinds("web") == []


def test_a_dead_workers_build_is_taken_over_after_its_lease(aws_env, git_repo, monkeypatch):
    monkeypatch.setenv("FABU_BUILD_LEASE_SECONDS", "600")
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    long_ago = utcnow() - datetime.timedelta(seconds=600 + 60)
    releases.get("web", "1.0").update(actions=[Release.state.set(ReleaseState.BUILDING),
                                               Release.updated_at.set(long_ago)])
    worker.handle_build_message(msg, attempt=2)
    assert releases.get("web", "1.0").state == ReleaseState.READY


def test_superseded_build_is_ignored(aws_env, git_repo):
    msg = _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"})
    releases.get("web", "1.0").update(actions=[Release.build_id.set("b-newer")])
    worker.handle_build_message(msg, attempt=1)
    assert releases.get("web", "1.0").state == ReleaseState.QUEUED


def test_missing_ref_fails_at_once_with_an_actionable_message(aws_env, git_repo):
    msg = _queue("web", "9.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v9"})
    worker.handle_build_message(msg, attempt=1)
    release = releases.get("web", "9.0")
    assert release.state == ReleaseState.FAILED
    assert release.error == f"git ref 'v9' not found in {git_repo.as_uri()}"
    failed = [e for e in events.page("web")[0] if e["kind"] == "build.failed"]
    assert failed[0]["detail"]["error"] == release.error


def test_oversized_source_fails(aws_env, git_repo, monkeypatch):
    monkeypatch.setenv("FABU_MAX_ARTIFACT_BYTES", "100")
    worker.handle_build_message(
        _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"}), attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == ReleaseState.FAILED and "larger than the 100-byte limit" in release.error
    assert aws_env.client("s3").list_objects_v2(Bucket=config.release_bucket())["KeyCount"] == 0


def test_unreachable_host_is_retried_then_fails_on_the_last_attempt(aws_env, monkeypatch):
    monkeypatch.setenv("FABU_BUILD_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("FABU_SOURCE_TIMEOUT_SECONDS", "5")
    url = f"http://127.0.0.1:{free_port()}/app.tgz"
    msg = _queue("web", "1.0", {"type": "http", "url": url})
    with pytest.raises(worker.BuildRetry):
        worker.handle_build_message(msg, attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == ReleaseState.QUEUED
    assert release.error.startswith("attempt 1 failed, will retry: could not connect to 127.0.0.1")
    with pytest.raises(worker.BuildRetry):  # the last receive: SQS moves it to the DLQ
        worker.handle_build_message(msg, attempt=3)
    release = releases.get("web", "1.0")
    assert release.state == ReleaseState.FAILED and release.error.endswith("(gave up after 3 attempts)")
    assert _kinds("web") == ["build.started", "build.retrying", "build.started", "build.failed"]


def test_malformed_message_is_dropped_without_a_retry(aws_env):
    worker.handle_build_message({"project": "web"}, attempt=1)
    worker.handle_build_message(["not", "a", "dict"], attempt=1)
    assert _kinds("web") == []


def test_release_without_a_usable_source_fails_at_once(aws_env):
    worker.handle_build_message(_queue("web", "1.0", None), attempt=1)
    release = releases.get("web", "1.0")
    assert release.state == ReleaseState.FAILED
    assert release.error.startswith("unknown source type ''; use one of ftp, ftps, git")
    assert _kinds("web") == ["build.started", "build.failed"]


def test_source_date_epoch_sets_every_mtime_of_the_tarball(aws_env, git_repo, monkeypatch):
    import io
    import tarfile
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    worker.handle_build_message(
        _queue("web", "1.0", {"type": "git", "url": git_repo.as_uri(), "ref": "v1"}), attempt=1)
    body = _object(aws_env, releases.get("web", "1.0").s3_key)
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}


def test_a_built_release_is_pinned_to_its_object_version_and_hosts_download_exactly_it(
        api, signed_client, aws_env, git_repo):
    import re

    import requests

    from chalicelib.rollout import tick
    from tests.conftest import base_project
    host_name = "web-1.example.com"
    created = api.post("/api/v1/project", base_project(
        hosts=[host_name], source={"type": "git", "url": git_repo.as_uri(), "ref": "v1"}))
    assert created.status == 201, created
    queued = releases.get("web", "1.0.0")
    worker.handle_build_message({"project": "web", "version": "1.0.0",
                                 "build_id": queued.build_id}, attempt=1)
    release = releases.get("web", "1.0.0")
    s3 = aws_env.client("s3")
    head = s3.head_object(Bucket=config.release_bucket(), Key=release.s3_key)
    assert release.state == ReleaseState.READY and release.s3_version == head["VersionId"]
    # Anyone with write access to the bucket replaces the key: hosts still get the built bytes.
    s3.put_object(Bucket=config.release_bucket(), Key=release.s3_key, Body=b"tampered")
    tick.run()
    host = signed_client(f"arn:aws:iam::000000000000:user/fabu-hosts/{host_name}")
    script = host.get(f"/api/v1/{host_name}/deploy")
    text = script.body.decode() if isinstance(script.body, bytes) else script.body
    (url,) = re.findall(r"P_URL='([^']+)'", text)
    body = requests.get(url, timeout=10).content
    assert hashlib.sha256(body).hexdigest() == release.sha256
