"""Delivery of queued events: the notifier Lambda sends each one to SNS, webhooks and the after gate.

``events.record`` puts every wanted event on the stage's FIFO notify queue (``notify.queue``);
``deliver`` runs in the queue's Lambda (``notifier``) and sends the event to:

* the stage's SNS topic (``<prefix>-<stage>-notifications``),
* the project's own topic (``notify.sns_topic_arn``),
* the project's webhooks (spec ``notify.webhooks``: a Slack-compatible JSON body, signed and
  posted by ``chalicelib.notify.webhooks``), and
* for a rollout's final outcome, the project's ``gates.after`` webhook (``after_rollout``).

Any failure raises, so SQS redelivers the whole message (targets that already succeeded may see
it again: receivers dedupe on the event ``id``). On the last attempt before the dead-letter queue,
a ``notify.failed`` event is recorded so that a give-up is never silent. See docs/notifications.md.
"""
import functools
import json
import os
from collections.abc import Callable

from chalicelib import aws, config, events
from chalicelib.build import provenance
from chalicelib.models import Project
from chalicelib.notify.queue import queue_url
from chalicelib.notify.webhooks import DeliveryError, describe_url, post_or_fail
from chalicelib.rollout import view as rollout_view
from chalicelib.states import HostStatus, RolloutState

MAX_ATTEMPTS = 5  # infra/resources.json NotifyQueue maxReceiveCount (read from the queue when possible)
ACTOR = "fabu:notifier"

#: A rollout's final outcome: also posted to the project's ``gates.after`` webhook.
FINAL_KINDS = tuple(f"rollout.{state}" for state in (
    RolloutState.SUCCEEDED, RolloutState.HALTED, RolloutState.ROLLED_BACK, RolloutState.CANCELLED))

#: A new rollout: its notification says what is changing (``body_of``).
CHANGING_KINDS = ("rollout.scheduled", "rollout.started")

#: By the last part of the event kind (``host.failed`` → failed), or a host message's level.
_EMOJI = {HostStatus.FAILED: ":x:", HostStatus.LOST: ":grey_question:",
          RolloutState.HALTED: ":octagonal_sign:", HostStatus.ROLLED_BACK: ":rewind:",
          HostStatus.SUCCEEDED: ":white_check_mark:", "error": ":x:", "warn": ":warning:",
          "blocked": ":no_entry:"}

#: ``(description, send)``: one place an event goes; ``send()`` raises DeliveryError on failure.
Target = tuple[str, Callable[[], object]]


# ----------------------------------------------------------------------------- the message bodies

def _emoji(event: dict) -> str:
    level = (event.get("detail") or {}).get("level")
    suffix = event["kind"].rsplit(".", 1)[-1]
    return _EMOJI.get(level if event["kind"] == "host.message" else suffix, ":information_source:")


def _text(event: dict) -> str:
    what = event.get("message") or event["kind"]
    if event["kind"] == "host.message":
        what = f"{event.get('host')} says ({event['detail'].get('level')}): {what}"
    by = f" (by {event['actor']})" if event.get("actor") else ""
    return f"{_emoji(event)} [{event['project']}] {what}{by}"


def _fields(event: dict) -> list[dict]:
    detail = event.get("detail") or {}
    pairs = [("kind", event["kind"]), ("project", event["project"]), ("host", event.get("host")),
             ("version", detail.get("version")), ("at", event["at"])]
    if detail.get("output_tail"):
        pairs.append(("output (tail)", detail["output_tail"][-500:]))
    return [{"title": k, "value": str(v), "short": k != "output (tail)"} for k, v in pairs if v]


def body_of(event: dict) -> dict:
    """The Slack-compatible JSON body of ``event``: ``text`` + fields, and the event itself.

    A new rollout's (``CHANGING_KINDS``) also says what is changing: the release's revision and
    its first commits since the previous release (``provenance.whats_changing``, bounded).
    """
    body = {"text": _text(event), "username": "fabu",
            "attachments": [{"fallback": _text(event), "fields": _fields(event)}],
            "id": event["id"], "kind": event["kind"], "project": event["project"], "event": event}
    if event["kind"] in CHANGING_KINDS:
        version = (event.get("detail") or {}).get("version")
        changing = provenance.whats_changing(event["project"], version)
        if changing:
            text = provenance.changing_text(changing)
            body["changes"] = changing
            body["text"] = f"{body['text']}\n{text}"
            body["attachments"][0]["fields"].append(
                {"title": "what's changing", "value": text, "short": False})
    return body


def after_body(event: dict, summary: dict | None) -> dict:
    """The ``gates.after`` body of a rollout's final ``event``, with that rollout's ``summary``.

    ``summary`` is the project's newest rollout (as ``GET /api/v1/project/{id}`` shows it); when
    it is another rollout (a newer one began meanwhile) it is left out: the event alone tells.
    """
    detail = event.get("detail") or {}
    if summary and summary.get("id") != detail.get("rollout_id"):
        summary = None
    return {"text": _text(event), "kind": "gate.after",
            "outcome": event["kind"].split(".", 1)[1], "project": event["project"],
            "version": detail.get("version"), "rollout_id": detail.get("rollout_id"),
            "id": event["id"], "event": event, "summary": summary}


# ----------------------------------------------------------------------------- SNS

@functools.lru_cache(maxsize=None)
def _account() -> str:
    return aws.client("sts").get_caller_identity()["Account"]


def stage_topic_arn() -> str:
    """The stage topic's ARN (``FABU_NOTIFY_TOPIC_ARN`` overrides the name-derived one)."""
    return (os.environ.get("FABU_NOTIFY_TOPIC_ARN")
            or f"arn:aws:sns:{config.region()}:{_account()}:{config.notify_topic_name()}")


def publish(topic_arn: str, subject: str, message: str, attributes: dict | None = None) -> None:
    """Publish to SNS; DeliveryError (naming the topic) when SNS refuses."""
    attrs = {k: {"DataType": "String", "StringValue": str(v)} for k, v in (attributes or {}).items() if v}
    try:
        aws.client("sns").publish(TopicArn=topic_arn, Subject=_subject(subject), Message=message,
                                  MessageAttributes=attrs)
    except Exception as exc:  # noqa: BLE001 - botocore errors, endpoint errors
        raise DeliveryError(f"SNS {topic_arn}: {exc}") from None


def _subject(text: str) -> str:
    """SNS subjects: at most 100 printable ASCII characters, no newlines."""
    clean = "".join(c if 32 <= ord(c) < 127 else " " for c in text).strip()
    return clean[:100] or "fabu"


# ----------------------------------------------------------------------------- deliver (queue side)

def _project_spec(project_id: str) -> dict:
    try:
        return Project.get(project_id).spec or {}
    except Project.DoesNotExist:
        return {}  # deleted: only the stage topic hears about it


def _as_hook(hook: str | dict) -> dict:
    return {"url": hook} if isinstance(hook, str) else hook


def _targets(event: dict) -> list[Target]:
    """Every place ``event`` goes: topics, webhooks, the after gate."""
    body = body_of(event)
    message = json.dumps(body, sort_keys=True)
    attrs = {"project": event["project"], "kind": event["kind"], "host": event.get("host")}
    targets = [("SNS stage topic", lambda: publish(stage_topic_arn(), body["text"], message, attrs))]
    if event["kind"] == "notify.failed":
        return targets  # never back to the webhooks that just failed (no loops)
    spec = _project_spec(event["project"])
    notify = spec.get("notify") or {}
    if notify.get("sns_topic_arn"):
        arn = notify["sns_topic_arn"]
        targets.append((f"SNS {arn}", lambda: publish(arn, body["text"], message, attrs)))
    for hook in map(_as_hook, notify.get("webhooks") or []):
        targets.append((f"webhook {describe_url(hook['url'])}",
                        functools.partial(post_or_fail, hook, body, event_id=event["id"])))
    after = (spec.get("gates") or {}).get("after")
    if after and event["kind"] in FINAL_KINDS:
        after = _as_hook(after)
        targets.append((f"after gate {describe_url(after['url'])}",
                        functools.partial(after_rollout, after, event)))
    return targets


def after_rollout(hook: dict, event: dict) -> int:
    """POST a rollout's final ``event`` and its summary to the ``after`` gate ``hook``.

    The HTTP status when 2xx; DeliveryError otherwise, so the notifier retries it like any
    other delivery.
    """
    body = after_body(event, rollout_view.summary(event["project"]))
    return post_or_fail(hook, body, event_id=event["id"], what="after gate ")


@functools.lru_cache(maxsize=None)
def max_attempts() -> int:
    """The notify queue's ``maxReceiveCount`` (the attempt after which SQS gives up)."""
    try:
        attrs = aws.client("sqs").get_queue_attributes(
            QueueUrl=queue_url(config.notify_queue_name()), AttributeNames=["RedrivePolicy"])
        return int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
    except Exception:  # noqa: BLE001 - no redrive policy readable: the template's value
        return MAX_ATTEMPTS


def deliver(message: dict, attempt: int = 1) -> dict:
    """Send one queued event to every target; raise DeliveryError so SQS retries a failure.

    On the last attempt (``attempt >= max_attempts()``) a failure is also recorded as a
    ``notify.failed`` event before the message goes to the dead-letter queue.
    """
    event = message["event"]
    failures = []
    for description, send in _targets(event):
        try:
            send()
        except DeliveryError as exc:
            failures.append({"target": description, "error": exc.message})
    if not failures:
        return {"delivered": event["id"]}
    errors = "; ".join(f["error"] for f in failures)
    if attempt >= max_attempts() and event["kind"] != "notify.failed":
        events.record(event["project"], "notify.failed", ACTOR,
                      {"event_id": event["id"], "event_kind": event["kind"], "attempts": attempt,
                       "failures": failures},
                      message=f"gave up delivering {event['kind']} after {attempt} attempts: {errors}")
    targets = "; ".join(f"{f['target']}: {f['error']}" for f in failures)
    raise DeliveryError(f"attempt {attempt}: could not deliver {event['id']}: {targets}")
