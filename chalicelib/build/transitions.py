"""How a build or a CI upload ends: the release's tarball key, its size limit, ready or failed.

Shared by the SQS worker (``chalicelib.build.worker``) and the CI upload path
(``chalicelib.build.ci_upload``). Every write is conditional on the release still belonging to
the build (or upload) id that makes it, so a superseded or taken-over build changes nothing;
each transition that happens records its ``build.*`` event, which is what notifications follow.
"""
from pynamodb.expressions.condition import Condition

from chalicelib import config, events
from chalicelib.build.packaging import Artifact
from chalicelib.build.provenance import describe
from chalicelib.models import Release, update_if
from chalicelib.states import ReleaseState
from chalicelib.times import utcnow

ACTOR = "fabu-builder"


def artifact_key(project: str, version: str) -> str:
    """Where a release's tarball lives in the release bucket."""
    return f"releases/{project}/{version}.tgz"


def max_artifact_bytes() -> int:
    """The largest tarball, built or uploaded (``FABU_MAX_ARTIFACT_BYTES``, default 1 GiB)."""
    return config.int_setting("FABU_MAX_ARTIFACT_BYTES", 1024 ** 3)


def guarded_update(release: Release, build_id: str, condition: Condition, actions: list) -> bool:
    """Apply `actions` if the release still belongs to `build_id` and `condition` holds."""
    return update_if(release, actions, condition=(Release.build_id == build_id) & condition)


def fail(release: Release, build_id: str, message: str, condition: Condition | None = None) -> bool:
    """``building`` (or `condition`) → ``failed`` with `message`, and a ``build.failed`` event."""
    done = guarded_update(release, build_id, _building_unless(condition), [
        Release.state.set(ReleaseState.FAILED), Release.error.set(message),
        Release.updated_at.set(utcnow())])
    if done:
        events.record(release.project, "build.failed", ACTOR,
                      {"version": release.version, "build_id": build_id, "error": message},
                      message=f"build of {release.version} failed: {message}")
    return done


def mark_ready(release: Release, build_id: str, artifact: Artifact, detail: dict,
               condition: Condition | None = None, provenance: dict | None = None) -> bool:
    """``building`` (or `condition`) → ``ready`` with the artifact, and a ``build.ready`` event.

    The artifact's S3 version id is recorded: hosts download that version, never whatever was
    written to the key later. ``provenance`` (a build's) is stored with it; the event names the
    revision either way.
    """
    now = utcnow()
    version = (Release.s3_version.set(artifact.version_id) if artifact.version_id
               else Release.s3_version.remove())
    extra = [Release.provenance.set(provenance)] if provenance is not None else []
    done = guarded_update(release, build_id, _building_unless(condition), [
        Release.state.set(ReleaseState.READY), Release.s3_key.set(artifact.key), version,
        Release.sha256.set(artifact.sha256), Release.size.set(artifact.size),
        Release.error.remove(), Release.ready_at.set(now), Release.updated_at.set(now), *extra])
    if done:
        built_from = describe(provenance if provenance is not None else release.provenance)
        events.record(release.project, "build.ready", ACTOR,
                      {"version": release.version, "sha256": artifact.sha256, "size": artifact.size,
                       "s3_key": artifact.key, "s3_version": artifact.version_id,
                       "ci_server": release.ci_server, "built_from": built_from, **detail},
                      message=f"release {release.version} is ready ({artifact.size} bytes"
                              f"{f', {built_from}' if built_from else ''})")
    return done


def _building_unless(condition):
    # Conditions cannot be used in a boolean context (`or`), so pick explicitly.
    return Release.state == ReleaseState.BUILDING if condition is None else condition
