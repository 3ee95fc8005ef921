"""Notifications: queue the events worth telling people about, and deliver them off the hot path.

``events.record`` puts every wanted event on the stage's FIFO notify queue (``notify.queue``);
``deliver`` runs in the queue's Lambda (``notifier``) and sends the event to:

* the stage's SNS topic (``<prefix>-<stage>-notifications``),
* the project's own topic (``notify.sns_topic_arn``), and
* the project's webhooks (``notify.webhooks``: a Slack-compatible JSON body signed with
  ``X-Fabu-Signature: sha256=<hex HMAC-SHA256 of the body>``), plus the ``gates.after`` webhook
  for a rollout's final outcome.

Any failure raises, so SQS redelivers the whole message (targets that already succeeded may see
it again: receivers dedupe on the event ``id``). On the last attempt before the dead-letter queue,
a ``notify.failed`` event is recorded so that a give-up is never silent. See docs/notifications.md.
"""
import functools
import json
import os

from chalicelib import aws, config, events
from chalicelib.models import Project
from chalicelib.notify.queue import queue_url
from chalicelib.notify.webhooks import DeliveryError, describe_url, post_or_fail
from chalicelib.rollout import view as rollout_view

MAX_ATTEMPTS = 5  # infra/resources.json NotifyQueue maxReceiveCount (read from the queue when possible)
ACTOR = "fabu:notifier"

#: A rollout's final outcome: also posted to the project's ``gates.after`` webhook.
FINAL_KINDS = ("rollout.succeeded", "rollout.halted", "rollout.rolled_back", "rollout.cancelled")

_EMOJI = {"failed": ":x:", "lost": ":grey_question:", "halted": ":octagonal_sign:",
          "rolled_back": ":rewind:", "succeeded": ":white_check_mark:", "error": ":x:",
          "warn": ":warning:", "blocked": ":no_entry:"}


# ----------------------------------------------------------------------------- the message body

def _emoji(event):
    level = (event.get("detail") or {}).get("level")
    suffix = event["kind"].rsplit(".", 1)[-1]
    return _EMOJI.get(level if event["kind"] == "host.message" else suffix, ":information_source:")


def _text(event):
    what = event.get("message") or event["kind"]
    if event["kind"] == "host.message":
        what = f"{event.get('host')} says ({event['detail'].get('level')}): {what}"
    by = f" (by {event['actor']})" if event.get("actor") else ""
    return f"{_emoji(event)} [{event['project']}] {what}{by}"


def _fields(event):
    detail = event.get("detail") or {}
    pairs = [("kind", event["kind"]), ("project", event["project"]), ("host", event.get("host")),
             ("version", detail.get("version")), ("at", event["at"])]
    if detail.get("output_tail"):
        pairs.append(("output (tail)", detail["output_tail"][-500:]))
    return [{"title": k, "value": str(v), "short": k != "output (tail)"} for k, v in pairs if v]


def body_of(event):
    """The Slack-compatible JSON body of ``event``: ``text`` + fields, and the event itself."""
    return {"text": _text(event), "username": "fabu",
            "attachments": [{"fallback": _text(event), "fields": _fields(event)}],
            "id": event["id"], "kind": event["kind"], "project": event["project"], "event": event}


# ----------------------------------------------------------------------------- SNS

@functools.lru_cache(maxsize=None)
def _account():
    return aws.client("sts").get_caller_identity()["Account"]


def stage_topic_arn():
    """The stage topic's ARN (``FABU_NOTIFY_TOPIC_ARN`` overrides the name-derived one)."""
    return os.environ.get("FABU_NOTIFY_TOPIC_ARN") or "arn:aws:sns:%s:%s:%s" % (
        config.region(), _account(), config.notify_topic_name())


def publish(topic_arn, subject, message, attributes=None):
    """Publish to SNS; DeliveryError (naming the topic) when SNS refuses."""
    attrs = {k: {"DataType": "String", "StringValue": str(v)} for k, v in (attributes or {}).items() if v}
    try:
        aws.client("sns").publish(TopicArn=topic_arn, Subject=_subject(subject), Message=message,
                                  MessageAttributes=attrs)
    except Exception as exc:  # noqa: BLE001 - botocore errors, endpoint errors
        raise DeliveryError(f"SNS {topic_arn}: {exc}") from None


def _subject(text):
    """SNS subjects: at most 100 printable ASCII characters, no newlines."""
    clean = "".join(c if 32 <= ord(c) < 127 else " " for c in text).strip()
    return clean[:100] or "fabu"


# ----------------------------------------------------------------------------- deliver (queue side)

def _project_spec(project_id):
    try:
        return Project.get(project_id).spec or {}
    except Project.DoesNotExist:
        return {}  # deleted: only the stage topic hears about it


def _targets(event):
    """``[(description, send(body))]`` for ``event``: topics, webhooks, the after-gate."""
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
    for hook in notify.get("webhooks") or []:
        hook = {"url": hook} if isinstance(hook, str) else hook
        targets.append((f"webhook {describe_url(hook['url'])}",
                        functools.partial(post_or_fail, hook, body, event_id=event["id"])))
    after = (spec.get("gates") or {}).get("after")
    if after and event["kind"] in FINAL_KINDS:
        after = {"url": after} if isinstance(after, str) else after
        targets.append((f"after gate {describe_url(after['url'])}",
                        functools.partial(_after_gate, after, event)))
    return targets


def _after_gate(hook, event):
    """POST a rollout's outcome and its summary to the project's ``after`` gate (2xx or retry)."""
    detail = event.get("detail") or {}
    summary = rollout_view.summary(event["project"])
    if summary and summary.get("id") != detail.get("rollout_id"):
        summary = None  # a newer rollout began meanwhile: the event alone tells this outcome
    body = {"text": body_of(event)["text"], "kind": "gate.after",
            "outcome": event["kind"].split(".", 1)[1], "project": event["project"],
            "version": detail.get("version"), "rollout_id": detail.get("rollout_id"),
            "id": event["id"], "event": event, "summary": summary}
    post_or_fail(hook, body, event_id=event["id"], what="after gate ")


@functools.lru_cache(maxsize=None)
def max_attempts():
    """The notify queue's ``maxReceiveCount`` (the attempt after which SQS gives up)."""
    try:
        attrs = aws.client("sqs").get_queue_attributes(
            QueueUrl=queue_url(config.notify_queue_name()), AttributeNames=["RedrivePolicy"])
        return int(json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"])
    except Exception:  # noqa: BLE001 - no redrive policy readable: the template's value
        return MAX_ATTEMPTS


def deliver(message, attempt=1):
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
    if attempt >= max_attempts() and event["kind"] != "notify.failed":
        events.record(event["project"], "notify.failed", ACTOR,
                      {"event_id": event["id"], "event_kind": event["kind"], "attempts": attempt,
                       "failures": failures},
                      message="gave up delivering %s after %d attempts: %s" % (
                          event["kind"], attempt, "; ".join(f["error"] for f in failures)))
    raise DeliveryError("attempt %d: could not deliver %s: %s" % (
        attempt, event["id"], "; ".join("%s: %s" % (f["target"], f["error"]) for f in failures)))
