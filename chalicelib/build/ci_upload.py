"""The CI upload path: a presigned PUT for a tarball CI built itself, then its verification.

``request_ci_upload`` creates the release (or resets a failed or waiting one) in
``awaiting_artifact`` with the announced sha256 and hands out a presigned PUT URL for its key,
valid ``FABU_UPLOAD_URL_SECONDS`` (default 15 minutes, at most 30); ``complete_ci_upload``
streams the uploaded object, checks it against that sha256 and marks the release ``ready`` with
the object's S3 *version id*, or ``failed`` with the uploaded version deleted. Hosts download
that version id, so bytes PUT to the key later (the URL may still be valid) never reach a host.
Both answer 404 for an unknown project; ``ci_server`` defaults to the project's.
"""
import logging
import os
import re

from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, config, events, versions
from chalicelib.build import packaging, provenance, releases
from chalicelib.build.transitions import artifact_key, fail, mark_ready, max_artifact_bytes
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.models import Project, Release, save_if, update_if
from chalicelib.states import RELEASE_BUILDING, ReleaseState
from chalicelib.times import utcnow

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
#: ``FABU_UPLOAD_URL_SECONDS``: default, and the range a setting is held to.
UPLOAD_URL_SECONDS = 900
UPLOAD_URL_SECONDS_RANGE = (60, 1800)


def request_ci_upload(project_id: str, body: dict, actor: str | None) -> dict:
    """A presigned PUT URL for the release tarball a CI server built itself.

    ``body`` is ``{"version", "sha256", "ci_server"?, "commit"?}``. The release (created here if
    new) waits in ``awaiting_artifact`` with the announced sha256 until ``complete_ci_upload`` has
    checked the uploaded bytes against it. ``commit: {sha, subject?, ref?, url?}`` becomes its
    provenance (``{"type": "ci", ...}``); the tarball is not repacked, so it gets no REVISION file.
    """
    project = _project(project_id)
    version, sha256 = body.get("version"), body.get("sha256")
    ci_server = body.get("ci_server") or project.spec.get("ci_server")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValidationError("sha256 must be 64 hex digits", {"sha256": "is not a sha256 hex digest"})
    check_version(version)
    if ci_server is not None and not isinstance(ci_server, str):
        raise ValidationError("ci_server must be a string", {"ci_server": "must be a string"})
    commit = provenance.from_ci(body.get("commit"))
    sha256 = sha256.lower()
    key = artifact_key(project_id, version)
    _await_artifact(project_id, version, sha256, ci_server, key, f"u-{os.urandom(8).hex()}",
                    commit)
    expires = upload_url_seconds()
    url = aws.client("s3").generate_presigned_url(
        "put_object", Params={"Bucket": config.release_bucket(), "Key": key}, ExpiresIn=expires)
    events.record(project_id, "artifact.upload_requested", actor,
                  {"version": version, "sha256": sha256, "ci_server": ci_server},
                  message=f"{ci_server or 'CI'} may upload {version}")
    return {"upload_url": url, "method": "PUT", "expires_in": expires, "s3_key": key,
            "version": version, "sha256": sha256, "ci_server": ci_server,
            "max_bytes": max_artifact_bytes(), "provenance": commit}


def complete_ci_upload(project_id: str, body: dict, actor: str | None) -> dict:
    """Check the uploaded tarball against its announced sha256; the release ends ready or failed.

    ``body`` is ``{"version"}``. Calling it again on a ready release returns it unchanged;
    calling it before anything was uploaded is a Conflict and leaves the release waiting.
    """
    _project(project_id)
    version = body.get("version")
    check_version(version)
    release = releases.get(project_id, version)
    if release is None:
        raise NotFound(f"no release {version} of {project_id}")
    if release.state == ReleaseState.READY:
        return releases.to_dict(release)
    if release.state != ReleaseState.AWAITING_ARTIFACT:
        raise Conflict(f"release {version} of {project_id} is {release.state}, "
                       "not awaiting an upload")
    if release.s3_key is None or release.sha256 is None:  # created by a project, never asked for
        raise Conflict(f"no upload was requested for release {version} of {project_id}; "
                       f"POST /api/v1/project/{project_id}/artifact first")
    bucket = config.release_bucket()
    waiting = Release.state == ReleaseState.AWAITING_ARTIFACT
    try:
        artifact = packaging.verify_uploaded(bucket, release.s3_key, release.sha256,
                                             max_artifact_bytes())
    except (packaging.ChecksumMismatch, packaging.PackageTooLarge) as exc:
        # Never leave bytes that failed their check. An AWS error here propagates (503): the
        # release keeps waiting and completing again checks (and deletes) again.
        _delete_version(bucket, release.s3_key, exc.version_id)
        fail(release, release.build_id, str(exc), condition=waiting)
    except packaging.PackagingError as exc:
        raise Conflict(f"{exc}; PUT the tarball to the upload URL first") from None
    else:
        mark_ready(release, release.build_id, artifact, {"uploaded_by": actor}, condition=waiting)
    return releases.to_dict(releases.get(project_id, version))


def upload_url_seconds() -> int:
    """How long an upload URL is valid: ``FABU_UPLOAD_URL_SECONDS`` held to 60..1800 s."""
    low, high = UPLOAD_URL_SECONDS_RANGE
    return max(low, min(high, config.int_setting("FABU_UPLOAD_URL_SECONDS", UPLOAD_URL_SECONDS)))


def check_version(version: object) -> None:
    """400 unless ``version`` is a version string (anything else is no DynamoDB key: a 500)."""
    if not isinstance(version, str) or not version:
        raise ValidationError("version is required", {"version": "is required"})
    if not versions.is_valid(version):
        raise ValidationError(f"version {version[:60]!r} is not a version such as 1.4.2",
                              {"version": "must be a version such as 1.4.2"})


def _project(project_id):
    """The project item (read here, not through the project service: no package circle)."""
    try:
        return Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None


def _await_artifact(project, version, sha256, ci_server, key, upload_id, commit):
    fields = dict(state=ReleaseState.AWAITING_ARTIFACT, sha256=sha256, ci_server=ci_server,
                  s3_key=key, build_id=upload_id, provenance=commit)
    if save_if(Release(project, version, **fields), Release.version.does_not_exist()):
        return
    release = releases.get(project, version)
    if release.state == ReleaseState.READY:
        raise Conflict(f"release {version} of {project} is already ready; versions are immutable, "
                       "upload under a new version")
    if release.state in RELEASE_BUILDING:
        raise Conflict(f"release {version} of {project} is being built from its source")
    if not update_if(release, [Release.state.set(ReleaseState.AWAITING_ARTIFACT),
                               Release.sha256.set(sha256), Release.ci_server.set(ci_server),
                               Release.s3_key.set(key), Release.build_id.set(upload_id),
                               Release.provenance.set(commit) if commit
                               else Release.provenance.remove(),
                               Release.error.remove(), Release.updated_at.set(utcnow())],
                     condition=Release.state == release.state):
        raise Conflict(f"release {version} of {project} changed meanwhile; try again")


def _delete_version(bucket, key, version_id):
    """Remove the rejected bytes themselves (their version, not just a delete marker)."""
    pinned = {"VersionId": version_id} if version_id else {}
    aws.client("s3").delete_object(Bucket=bucket, Key=key, **pinned)
    log.info("deleted rejected upload s3://%s/%s (version %s)", bucket, key, version_id)
