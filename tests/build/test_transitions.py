"""How a build ends: only the build that owns the release may mark it ready or failed."""
from chalicelib import events
from chalicelib.build import releases, transitions
from chalicelib.build.packaging import Artifact
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from tests.support.builds import aws_env  # noqa: F401 (fixture)

ARTIFACT = Artifact(sha256="a" * 64, size=42, key="releases/web/1.0.tgz")


def _building(build_id="b-1"):
    Release("web", "1.0", state=ReleaseState.BUILDING, build_id=build_id).save()
    return releases.get("web", "1.0")


def test_artifact_key_and_the_size_limit(monkeypatch):
    assert transitions.artifact_key("web", "1:2.0-1") == "releases/web/1:2.0-1.tgz"
    assert transitions.max_artifact_bytes() == 1024 ** 3
    monkeypatch.setenv("FABU_MAX_ARTIFACT_BYTES", "100")
    assert transitions.max_artifact_bytes() == 100


def test_the_owning_build_marks_ready_with_its_event(aws_env):
    assert transitions.mark_ready(_building(), "b-1", ARTIFACT, {"build_id": "b-1"})
    release = releases.get("web", "1.0")
    assert (release.state, release.sha256, int(release.size), release.s3_key) == (
        ReleaseState.READY, "a" * 64, 42, "releases/web/1.0.tgz")
    ready = events.page("web")[0][0]
    assert (ready["kind"], ready["actor"], ready["message"]) == (
        "build.ready", "fabu-builder", "release 1.0 is ready (42 bytes)")


def test_a_superseded_build_changes_nothing_and_tells_no_one(aws_env):
    release = _building("b-1")
    release.update(actions=[Release.build_id.set("b-2")])
    assert not transitions.mark_ready(release, "b-1", ARTIFACT, {})
    assert not transitions.fail(release, "b-1", "boom")
    assert releases.get("web", "1.0").state == ReleaseState.BUILDING
    assert events.page("web")[0] == []


def test_fail_needs_the_state_it_is_given(aws_env):
    release = _building()
    assert not transitions.fail(release, "b-1", "boom",
                                condition=Release.state == ReleaseState.AWAITING_ARTIFACT)
    assert transitions.fail(release, "b-1", "boom")
    assert (releases.get("web", "1.0").state, releases.get("web", "1.0").error) == (
        ReleaseState.FAILED, "boom")
    assert [e["kind"] for e in events.page("web")[0]] == ["build.failed"]
