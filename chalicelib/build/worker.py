"""The SQS build worker: turn a queued release's source into its tarball.

``handle_build_message({"project", "version", "build_id"}, attempt=n)`` claims the release with a
conditional update (``queued → building``), fetches the source into a scratch directory, packs it
reproducibly into ``releases/<project>/<version>.tgz`` (with a ``REVISION`` file at its root) and
marks it ``ready`` with its sha256, size and provenance (``chalicelib.build.provenance``), or
``failed`` with a message a user can act on. A message for a release that is ready, failed,
superseded by a newer build, or being built by a live worker is a no-op, so a duplicate delivery
makes one artifact. Errors a retry may fix (timeouts, refused connections, AWS hiccups) put the
release back to ``queued`` and re-raise so SQS delivers again; on the last attempt
(``FABU_BUILD_MAX_ATTEMPTS``, the queue's ``maxReceiveCount``) the release fails and the message
goes on to the dead-letter queue. A worker that died mid-build leaves a ``building`` release whose
lease (``FABU_BUILD_LEASE_SECONDS``) expires, and the redelivered message takes over. Every
transition is an event (``build.*``)."""
import datetime
import logging
import tempfile
from pathlib import Path

from chalicelib import config, events, secrets
from chalicelib.build import packaging, provenance, releases, sources
from chalicelib.build.transitions import (ACTOR, artifact_key, fail, guarded_update, mark_ready,
                                          max_artifact_bytes)
from chalicelib.errors import FabuError
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from chalicelib.times import utcnow

log = logging.getLogger(__name__)


class BuildRetry(FabuError):
    """A build failed in a way a later attempt may fix; raised so SQS delivers the message again."""


def handle_build_message(body: dict, *, attempt: int = 1) -> None:
    """Build the release a queue message names; see the module docstring for the guarantees."""
    try:
        project, version, build_id = body["project"], body["version"], body["build_id"]
    except (KeyError, TypeError):
        log.error("dropping malformed build message %r", body)
        return
    release = releases.get(project, version)
    if release is None or release.build_id != build_id:
        log.info("build %s of %s %s is gone or superseded; nothing to do", build_id, project, version)
        return
    if not _claim(release, build_id, attempt):
        log.info("build %s of %s %s is done or running elsewhere; nothing to do",
                 build_id, project, version)
        return
    events.record(project, "build.started", ACTOR,
                  {"version": version, "build_id": build_id, "attempt": attempt},
                  message=f"building {version} (attempt {attempt})")
    try:
        artifact, found = _build(release)
    except (sources.SourceError, packaging.PackagingError, secrets.SecretError) as exc:
        if getattr(exc, "retryable", False):
            _retry_or_fail(release, build_id, attempt, str(exc), exc)
        else:
            fail(release, build_id, str(exc))
        return
    except Exception as exc:  # AWS throttling, a full disk, a bug: let SQS try again
        log.exception("build %s of %s %s crashed", build_id, project, version)
        _retry_or_fail(release, build_id, attempt, f"internal error: {exc}", exc)
        return
    mark_ready(release, build_id, artifact, {"build_id": build_id}, provenance=found)


def _build(release):
    """Fetch the source into a scratch dir (what it resolved to, and for git the commits since
    the previous release), write its ``REVISION`` file and stream its tarball to S3."""
    source = release.source or {}
    previous = (provenance.previous_git(release)
                if str(source.get("type") or "").lower() == "git" else None)
    with tempfile.TemporaryDirectory(prefix="fabu-build-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        found = sources.resolve(source, tree, timeout=_source_timeout(),
                                max_bytes=_max_source_bytes(),
                                since=provenance.since_for(previous, source.get("url") or ""))
        found = provenance.write_revision_file(tree, provenance.finish(found, previous))
        return packaging.build_tarball(
            tree, bucket=config.release_bucket(), key=artifact_key(release.project, release.version),
            max_bytes=max_artifact_bytes(), mtime=_source_date_epoch()), found


def _claim(release, build_id, attempt):
    """queued → building, or take over a building release whose worker's lease ran out."""
    stale = utcnow() - datetime.timedelta(seconds=_lease_seconds())
    claimable = (Release.state == ReleaseState.QUEUED) | (
        (Release.state == ReleaseState.BUILDING) & (Release.updated_at < stale))
    return guarded_update(release, build_id, claimable, [
        Release.state.set(ReleaseState.BUILDING), Release.attempts.set(attempt),
        Release.updated_at.set(utcnow())])


def _retry_or_fail(release, build_id, attempt, message, exc):
    if attempt >= _max_attempts():
        fail(release, build_id, f"{message} (gave up after {attempt} attempts)")
        raise BuildRetry(message) from exc  # the last receive: SQS moves the message to the DLQ
    guarded_update(release, build_id, Release.state == ReleaseState.BUILDING, [
        Release.state.set(ReleaseState.QUEUED),
        Release.error.set(f"attempt {attempt} failed, will retry: {message}"),
        Release.updated_at.set(utcnow())])
    events.record(release.project, "build.retrying", ACTOR,
                  {"version": release.version, "build_id": build_id, "attempt": attempt,
                   "error": message}, message=f"build of {release.version} will be retried: {message}")
    raise BuildRetry(message) from exc


def _max_source_bytes():
    return config.int_setting("FABU_MAX_SOURCE_BYTES", 4 * max_artifact_bytes())


def _source_timeout():
    return config.int_setting("FABU_SOURCE_TIMEOUT_SECONDS", 60)


def _max_attempts():
    return config.int_setting("FABU_BUILD_MAX_ATTEMPTS", 5)


def _lease_seconds():
    return config.int_setting("FABU_BUILD_LEASE_SECONDS", 900)


def _source_date_epoch():
    return config.int_setting("SOURCE_DATE_EPOCH", 0)
