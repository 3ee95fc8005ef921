"""Which events become notifications, and putting them on the notify queue (never delivering).

``events.record`` calls ``enqueue`` for every stored event. A wanted event goes to the stage's
FIFO notify queue (``MessageGroupId`` = project, so order is kept per project;
``MessageDeduplicationId`` = the event id); ``notifications.deliver`` sends it on, off the hot
path, in the queue's own Lambda.
"""
import functools
import hashlib
import json
import logging

from chalicelib import aws, config

log = logging.getLogger("fabu.notify")

#: Event kinds delivered (exact names, or a prefix ending in "."), minus the exclusions below.
DELIVERED = ("project.created", "project.updated", "project.deleted", "project.update_scheduled",
             "project.update_applied", "build.queued", "build.ready", "build.failed",
             "release.awaiting_artifact", "release.promoted", "release.promotion_failed", "rollout.", "host.failed", "host.lost", "host.blocked",
             "host.drifted", "host.kept_out", "fleet.", "host.message", "host.interrupted", "host.rolled_back", "host.rollback_failed",
             "gate.", "notify.failed", "stage.")
#: Too frequent to be news: one per host (summed up by ``rollout.wave_done``) or per tick.
NOT_DELIVERED = ("rollout.waiting", "host.succeeded", "build.started", "build.retrying")
# (``host.joined``, ``host.left``, ``host.draining`` and ``host.registered`` are not in
# ``DELIVERED``: an Auto Scaling fleet makes them every hour; the timeline keeps them)


def wanted(kind: str) -> bool:
    """True when events of ``kind`` are delivered (the documented list, not heartbeats)."""
    if kind in NOT_DELIVERED:
        return False
    return any(kind == k or (k.endswith(".") and kind.startswith(k)) for k in DELIVERED)


@functools.lru_cache(maxsize=None)
def queue_url(name: str) -> str:
    """The URL of the queue ``name`` (looked up once per process)."""
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def enqueue(event: dict) -> bool:
    """Queue ``event`` for delivery if it is wanted; never waits on a receiver.

    A failure to enqueue is logged, not raised: the event itself is already stored, and the
    caller (a host's report, an operator's request) must not fail because of a notice.
    """
    if not wanted(event["kind"]):
        return False
    try:
        aws.client("sqs").send_message(
            QueueUrl=queue_url(config.notify_queue_name()), MessageBody=json.dumps({"event": event}),
            MessageGroupId=event["project"], MessageDeduplicationId=_dedup_id(event["id"]))
        return True
    except Exception:  # noqa: BLE001 - see the docstring: never break the writer
        log.exception("could not queue event %s of %s for delivery", event["id"], event["project"])
        return False


def _dedup_id(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:64]  # at most 128 chars, no '#'
