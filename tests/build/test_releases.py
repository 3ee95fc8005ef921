"""Release records: one per (project, version), a build queued once, a failed build re-queued."""
import datetime
import json

from chalicelib import events
from chalicelib.build import releases
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from chalicelib.times import utcnow
from tests.conftest import boto_client, drain
from tests.support.builds import aws_env  # noqa: F401 (fixture)

SOURCE = {"type": "git", "url": "https://git.example.com/web.git", "ref": "v1"}


def _queued(aws):
    return [json.loads(m["Body"]) for m in drain(boto_client("sqs"), aws["resources"]["BuildQueue"])]


def _kinds(project):
    return [e["kind"] for e in events.page(project, newest_first=False, limit=100)[0]]


def test_a_new_version_with_a_source_is_queued_once(aws_env, aws):
    release = releases.ensure_release("web", "1.0", SOURCE, "ci.example.com", "alice")
    assert (release.state, release.source, release.ci_server) == (ReleaseState.QUEUED, SOURCE,
                                                                  "ci.example.com")
    again = releases.ensure_release("web", "1.0", SOURCE, None, "alice")  # a retried request
    assert (again.state, again.build_id) == (ReleaseState.QUEUED, release.build_id)
    assert _queued(aws) == [{"project": "web", "version": "1.0", "build_id": release.build_id}]
    assert _kinds("web") == ["build.queued"]


def test_a_version_without_source_waits_for_ci(aws_env, aws):
    release = releases.ensure_release("web", "1.0", None, None, "alice")
    assert (release.state, release.build_id) == (ReleaseState.AWAITING_ARTIFACT, None)
    assert _queued(aws) == []
    assert _kinds("web") == ["release.awaiting_artifact"]


def test_a_failed_build_is_queued_again_with_a_new_build_id(aws_env, aws):
    Release("web", "1.0", state=ReleaseState.FAILED, source=SOURCE, build_id="b-old",
            error="git ref 'v1' not found").save()
    release = releases.ensure_release("web", "1.0", SOURCE, None, "alice")
    assert release.state == ReleaseState.QUEUED and release.error is None
    assert release.build_id not in (None, "b-old")
    assert _queued(aws) == [{"project": "web", "version": "1.0", "build_id": release.build_id}]
    queued = events.page("web")[0][0]
    assert (queued["kind"], queued["detail"]["retry"]) == ("build.queued", True)
    assert queued["message"] == "build of 1.0 queued again after a failure"


def test_a_failed_ci_upload_is_not_rebuilt_without_a_source(aws_env, aws):
    Release("web", "1.0", state=ReleaseState.FAILED, build_id="u-1").save()
    assert releases.ensure_release("web", "1.0", None, None, "alice").state == ReleaseState.FAILED
    assert _queued(aws) == []


def test_history_is_the_newest_releases_by_creation_even_past_version_string_order(aws_env):
    # Bug fix: the Query used to take the `limit` greatest version *strings* ("9.0" > "10.0"),
    # so the newest release could be missing from a project's history; it now reads the
    # created-index, newest first, and never more than `limit` items.
    start = utcnow() - datetime.timedelta(hours=1)
    for i, version in enumerate(["8.0", "9.0", "10.0"]):
        Release("web", version, state=ReleaseState.READY,
                created_at=start + datetime.timedelta(minutes=i)).save()
    assert [r.version for r in releases.history("web", limit=2)] == ["10.0", "9.0"]
    assert [r.version for r in releases.history("web")] == ["10.0", "9.0", "8.0"]
    assert releases.history("api") == []


def test_to_dict_is_what_the_api_shows(aws_env):
    Release("web", "1.0", state=ReleaseState.READY, size=12, sha256="0" * 64,
            s3_key="releases/web/1.0.tgz").save()
    shown = releases.to_dict(releases.get("web", "1.0"))
    assert {k: shown[k] for k in ("project", "version", "state", "size", "attempts", "ready_at")} == {
        "project": "web", "version": "1.0", "state": ReleaseState.READY, "size": 12, "attempts": 0,
        "ready_at": None}
    assert releases.to_dict(None) is None and releases.get("web", "2.0") is None
