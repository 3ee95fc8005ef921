"""Turn a release's source into its tarball (the SQS build worker), or accept one built by CI.

Worker: ``handle_build_message({"project", "version", "build_id"}, attempt=n)`` claims the release
with a conditional update (``queued → building``), fetches the source into a scratch directory,
packs it reproducibly into ``releases/<project>/<version>.tgz`` and marks it ``ready`` with its
sha256 and size, or ``failed`` with a message a user can act on. A message for a release that is
ready, failed, superseded by a newer build, or being built by a live worker is a no-op, so a
duplicate delivery makes one artifact. Errors a retry may fix (timeouts, refused connections,
AWS hiccups) put the release back to ``queued`` and re-raise so SQS delivers again; on the last
attempt (``FABU_BUILD_MAX_ATTEMPTS``, the queue's ``maxReceiveCount``) the release fails and the
message goes on to the dead-letter queue. A worker that died mid-build leaves a ``building``
release whose lease (``FABU_BUILD_LEASE_SECONDS``) expires, and the redelivered message takes over.

CI: ``request_ci_upload`` hands out a presigned PUT URL for the same key; ``complete_ci_upload``
streams the uploaded object, checks it against the announced sha256, and marks the release
ready or failed. Every transition is an event (``build.*``), which is what notifications follow.
"""
import datetime
import logging
import os
import re
import tempfile
from pathlib import Path

import botocore.exceptions
from pynamodb.exceptions import PutError, UpdateError

from chalicelib import aws, config, events, secrets, versions
from chalicelib.build import packaging
from chalicelib.build import releases
from chalicelib.build import sources
from chalicelib.errors import Conflict, FabuError, NotFound, ValidationError
from chalicelib.models import Release, condition_failed, utcnow

log = logging.getLogger(__name__)

ACTOR = "fabu-builder"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class BuildRetry(FabuError):
    """A build failed in a way a later attempt may fix; raised so SQS delivers the message again."""


def artifact_key(project, version):
    """Where a release's tarball lives in the release bucket."""
    return f"releases/{project}/{version}.tgz"


def max_artifact_bytes():
    return config.int_setting("FABU_MAX_ARTIFACT_BYTES", 1024 ** 3)


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


# --- the worker ------------------------------------------------------------------------------

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
        artifact = _build(release)
    except (sources.SourceError, packaging.PackagingError, secrets.SecretError) as exc:
        if getattr(exc, "retryable", False):
            _retry_or_fail(release, build_id, attempt, str(exc), exc)
        else:
            _fail(release, build_id, str(exc))
        return
    except Exception as exc:  # AWS throttling, a full disk, a bug: let SQS try again
        log.exception("build %s of %s %s crashed", build_id, project, version)
        _retry_or_fail(release, build_id, attempt, f"internal error: {exc}", exc)
        return
    _mark_ready(release, build_id, artifact, {"build_id": build_id})


def _build(release):
    """Fetch the source into a scratch dir and stream its tarball to S3."""
    with tempfile.TemporaryDirectory(prefix="fabu-build-") as scratch:
        tree = Path(scratch) / "tree"
        tree.mkdir()
        sources.fetch(release.source or {}, tree, timeout=_source_timeout(),
                      max_bytes=_max_source_bytes())
        return packaging.build_tarball(
            tree, bucket=config.release_bucket(), key=artifact_key(release.project, release.version),
            max_bytes=max_artifact_bytes(), mtime=_source_date_epoch())


def _claim(release, build_id, attempt):
    """queued → building, or take over a building release whose worker's lease ran out."""
    stale = utcnow() - datetime.timedelta(seconds=_lease_seconds())
    claimable = (Release.state == "queued") | (
        (Release.state == "building") & (Release.updated_at < stale))
    return _update(release, build_id, claimable, [
        Release.state.set("building"), Release.attempts.set(attempt),
        Release.updated_at.set(utcnow())])


def _retry_or_fail(release, build_id, attempt, message, exc):
    if attempt >= _max_attempts():
        _fail(release, build_id, f"{message} (gave up after {attempt} attempts)")
        raise BuildRetry(message) from exc  # the last receive: SQS moves the message to the DLQ
    _update(release, build_id, Release.state == "building", [
        Release.state.set("queued"), Release.error.set(f"attempt {attempt} failed, will retry: "
                                                       f"{message}"),
        Release.updated_at.set(utcnow())])
    events.record(release.project, "build.retrying", ACTOR,
                  {"version": release.version, "build_id": build_id, "attempt": attempt,
                   "error": message}, message=f"build of {release.version} will be retried: {message}")
    raise BuildRetry(message) from exc


def _fail(release, build_id, message, condition=None):
    done = _update(release, build_id, _building_unless(condition), [
        Release.state.set("failed"), Release.error.set(message), Release.updated_at.set(utcnow())])
    if done:
        events.record(release.project, "build.failed", ACTOR,
                      {"version": release.version, "build_id": build_id, "error": message},
                      message=f"build of {release.version} failed: {message}")


def _mark_ready(release, build_id, artifact, detail, condition=None):
    now = utcnow()
    done = _update(release, build_id, _building_unless(condition), [
        Release.state.set("ready"), Release.s3_key.set(artifact.key),
        Release.sha256.set(artifact.sha256), Release.size.set(artifact.size),
        Release.error.remove(), Release.ready_at.set(now), Release.updated_at.set(now)])
    if done:
        events.record(release.project, "build.ready", ACTOR,
                      {"version": release.version, "sha256": artifact.sha256, "size": artifact.size,
                       "s3_key": artifact.key, "ci_server": release.ci_server, **detail},
                      message=f"release {release.version} is ready ({artifact.size} bytes)")
    return done


def _building_unless(condition):
    # Conditions cannot be used in a boolean context (`or`), so pick explicitly.
    return Release.state == "building" if condition is None else condition


def _update(release, build_id, condition, actions):
    """Apply `actions` if the release still belongs to `build_id` and `condition` holds."""
    try:
        release.update(actions=actions, condition=(Release.build_id == build_id) & condition)
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


# --- the CI path -----------------------------------------------------------------------------

def _check_version(version):
    """400 unless ``version`` is a version string (anything else is no DynamoDB key: a 500)."""
    if not isinstance(version, str) or not version:
        raise ValidationError("version is required", {"version": "is required"})
    if not versions.is_valid(version):
        raise ValidationError(f"version {version[:60]!r} is not a version such as 1.4.2",
                              {"version": "must be a version such as 1.4.2"})


def request_ci_upload(project, version, sha256, ci_server=None, actor=None) -> dict:
    """A presigned PUT URL for the release tarball a CI server built itself.

    The release (created here if new) waits in ``awaiting_artifact`` with the announced sha256
    until ``complete_ci_upload`` has checked the uploaded bytes against it.
    """
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ValidationError("sha256 must be 64 hex digits", {"sha256": "is not a sha256 hex digest"})
    _check_version(version)
    if ci_server is not None and not isinstance(ci_server, str):
        raise ValidationError("ci_server must be a string", {"ci_server": "must be a string"})
    key = artifact_key(project, version)
    upload_id = "u-" + os.urandom(8).hex()
    _await_artifact(project, version, sha256.lower(), ci_server, key, upload_id)
    expires = config.int_setting("FABU_UPLOAD_URL_SECONDS", 3600)
    url = aws.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": config.release_bucket(), "Key": key}, ExpiresIn=expires)
    events.record(project, "artifact.upload_requested", actor,
                  {"version": version, "sha256": sha256.lower(), "ci_server": ci_server},
                  message=f"{ci_server or 'CI'} may upload {version}")
    return {"upload_url": url, "method": "PUT", "expires_in": expires, "s3_key": key,
            "version": version, "sha256": sha256.lower(), "ci_server": ci_server,
            "max_bytes": max_artifact_bytes()}


def _await_artifact(project, version, sha256, ci_server, key, upload_id):
    fields = dict(state="awaiting_artifact", sha256=sha256, ci_server=ci_server, s3_key=key,
                  build_id=upload_id)
    try:
        Release(project, version, **fields).save(Release.version.does_not_exist())
        return
    except PutError as exc:
        if not condition_failed(exc):
            raise
    release = releases.get(project, version)
    if release.state == "ready":
        raise Conflict(f"release {version} of {project} is already ready; versions are immutable, "
                       "upload under a new version")
    if release.state in ("queued", "building"):
        raise Conflict(f"release {version} of {project} is being built from its source")
    try:
        release.update(actions=[Release.state.set("awaiting_artifact"), Release.sha256.set(sha256),
                                Release.ci_server.set(ci_server), Release.s3_key.set(key),
                                Release.build_id.set(upload_id), Release.error.remove(),
                                Release.updated_at.set(utcnow())],
                       condition=Release.state == release.state)
    except UpdateError as exc:
        if condition_failed(exc):
            raise Conflict(f"release {version} of {project} changed meanwhile; try again") from None
        raise


def complete_ci_upload(project, version, actor=None) -> dict:
    """Check the uploaded tarball against its announced sha256; the release ends ready or failed.

    Calling it again on a ready release returns it unchanged; calling it before anything was
    uploaded is a Conflict and leaves the release waiting.
    """
    _check_version(version)
    release = releases.get(project, version)
    if release is None:
        raise NotFound(f"no release {version} of {project}")
    if release.state == "ready":
        return releases.to_dict(release)
    if release.state != "awaiting_artifact":
        raise Conflict(f"release {version} of {project} is {release.state}, not awaiting an upload")
    bucket = config.release_bucket()
    waiting = Release.state == "awaiting_artifact"
    try:
        artifact = packaging.verify_uploaded(bucket, release.s3_key, release.sha256,
                                             max_artifact_bytes())
    except (packaging.ChecksumMismatch, packaging.PackageTooLarge) as exc:
        _delete_quietly(bucket, release.s3_key)  # never leave bytes that failed their check
        _fail(release, release.build_id, str(exc), condition=waiting)
    except packaging.PackagingError as exc:
        raise Conflict(f"{exc}; PUT the tarball to the upload URL first") from None
    else:
        _mark_ready(release, release.build_id, artifact, {"uploaded_by": actor}, condition=waiting)
    return releases.to_dict(releases.get(project, version))


def _delete_quietly(bucket, key):
    try:
        aws.client("s3").delete_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError:
        log.warning("could not delete rejected upload s3://%s/%s", bucket, key)
