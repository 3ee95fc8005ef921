"""Release records and the build queue: one ``Release`` per (project, version).

A project created or updated with a new ``version`` gets a release record. With a ``source`` the
release is ``queued`` and a message goes to the SQS build queue (``chalicelib.build.worker``
consumes it); without one it is ``awaiting_artifact`` until CI uploads the tarball through
``POST /api/v1/project/{id}/artifact`` (``chalicelib.build.ci_upload``). Writes are conditional,
so a retried request or two updates racing each other queue one build. A release promoted from
another project (``chalicelib.rollout.promotions``) is written ``ready`` before the version
changes, so ``ensure_release`` finds it and queues nothing.
"""
import functools
import json
import secrets

from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, config, events
from chalicelib.build import provenance
from chalicelib.models import Release, save_if, update_if
from chalicelib.states import ReleaseState
from chalicelib.times import utcnow


@functools.lru_cache(maxsize=None)
def _queue_url(name):
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def enqueue_build(project: str, version: str, build_id: str) -> None:
    """Send the build queue the message the worker builds ``version`` of ``project`` from."""
    body = json.dumps({"project": project, "version": version, "build_id": build_id})
    aws.client("sqs").send_message(QueueUrl=_queue_url(config.build_queue_name()), MessageBody=body)


def to_dict(release: Release | None) -> dict | None:
    """The release as the API shows it (None stays None)."""
    if release is None:
        return None
    return {"project": release.project, "version": release.version, "state": release.state,
            "source": release.source, "ci_server": release.ci_server, "s3_key": release.s3_key,
            "sha256": release.sha256, "size": int(release.size) if release.size is not None else None,
            "error": release.error, "attempts": int(release.attempts or 0),
            "created_at": release.created_at.isoformat(), "updated_at": release.updated_at.isoformat(),
            "ready_at": release.ready_at.isoformat() if release.ready_at else None,
            "promoted_from": release.promoted_from,
            "built_from": provenance.describe(release.provenance)}


def get(project: str, version: str) -> Release | None:
    """The release of ``version`` of ``project``; None when there is none."""
    try:
        return Release.get(project, version)
    except DoesNotExist:
        return None


def history(project: str, limit: int = 20) -> list[Release]:
    """The project's ``limit`` newest releases, newest first: one Query on ``created-index``.

    Not the table's own order: version strings do not sort by age ("10.0" sorts before "9.0").
    """
    return list(Release.created_index.query(project, scan_index_forward=False, limit=limit))


def ensure_release(project: str, version: str, source: dict | None, ci_server: str | None,
                   actor: str | None) -> Release | None:
    """Create the release of ``version`` if new (or re-queue a failed build); queue its build."""
    build_id = _new_build_id()
    state = ReleaseState.QUEUED if source else ReleaseState.AWAITING_ARTIFACT
    release = Release(project, version, state=state, source=source, ci_server=ci_server,
                      build_id=build_id if source else None)
    if not save_if(release, Release.version.does_not_exist()):
        return _requeue_failed(project, version, source, ci_server, actor)
    if source:
        enqueue_build(project, version, build_id)
        events.record(project, "build.queued", actor, {"version": version, "build_id": build_id},
                      message=f"build of {version} queued")
    else:
        events.record(project, "release.awaiting_artifact", actor, {"version": version},
                      message=f"release {version} waits for a CI upload")
    return release


def _requeue_failed(project, version, source, ci_server, actor):
    """Same version submitted again: only a failed build is retried; anything else is kept."""
    release = get(project, version)
    if release is None or release.state != ReleaseState.FAILED or not source:
        return release
    build_id = _new_build_id()
    if not update_if(release, [Release.state.set(ReleaseState.QUEUED), Release.build_id.set(build_id),
                               Release.source.set(source), Release.ci_server.set(ci_server),
                               Release.error.remove(), Release.updated_at.set(utcnow())],
                     condition=Release.state == ReleaseState.FAILED):
        return get(project, version)
    enqueue_build(project, version, build_id)
    events.record(project, "build.queued", actor, {"version": version, "build_id": build_id,
                                                   "retry": True},
                  message=f"build of {version} queued again after a failure")
    return release


def _new_build_id():
    return f"b-{secrets.token_hex(8)}"
