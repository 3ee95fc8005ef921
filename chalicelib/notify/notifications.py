"""Notifications: queue the events worth telling people about, and deliver them off the hot path.

``enqueue`` is an ``events.HOOKS`` entry: it only puts the event on the stage's FIFO notify queue
(``MessageGroupId`` = project, so order is kept per project; ``MessageDeduplicationId`` = the
event id). ``deliver`` runs in the queue's Lambda (``notifier``) and sends the event to:

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
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request

from chalicelib import aws, config, events, secrets
from chalicelib.errors import FabuError
from chalicelib.models import Project

log = logging.getLogger("fabu.notify")

SIGNATURE_HEADER = "X-Fabu-Signature"
DEFAULT_TIMEOUT = 5
MAX_ATTEMPTS = 5  # infra/resources.json NotifyQueue maxReceiveCount (read from the queue when possible)
ACTOR = "fabu:notifier"

#: Event kinds delivered (exact names, or a prefix ending in "."), minus the exclusions below.
DELIVERED = ("project.created", "project.updated", "project.deleted", "project.update_scheduled",
             "project.update_applied", "build.queued", "build.ready", "build.failed",
             "release.awaiting_artifact", "rollout.", "host.failed", "host.lost", "host.blocked",
             "host.message", "host.interrupted", "host.rolled_back", "host.rollback_failed",
             "gate.", "notify.failed")
#: Too frequent to be news: one per host (summed up by ``rollout.wave_done``) or per tick.
NOT_DELIVERED = ("rollout.waiting", "host.succeeded", "build.started", "build.retrying")
#: A rollout's final outcome: also posted to the project's ``gates.after`` webhook.
FINAL_KINDS = ("rollout.succeeded", "rollout.halted", "rollout.rolled_back", "rollout.cancelled")

_EMOJI = {"failed": ":x:", "lost": ":grey_question:", "halted": ":octagonal_sign:",
          "rolled_back": ":rewind:", "succeeded": ":white_check_mark:", "error": ":x:",
          "warn": ":warning:", "blocked": ":no_entry:"}


class DeliveryError(FabuError):
    """A notification target could not be reached or refused the delivery."""
    status = 502


# ----------------------------------------------------------------------------- enqueue (hot path)

def wanted(kind):
    """True when events of ``kind`` are delivered (the documented list, not heartbeats)."""
    if kind in NOT_DELIVERED:
        return False
    return any(kind == k or (k.endswith(".") and kind.startswith(k)) for k in DELIVERED)


@functools.lru_cache(maxsize=None)
def _queue_url(name):
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def enqueue(event):
    """``events.HOOKS`` entry: queue ``event`` for delivery; never waits on a receiver.

    A failure to enqueue is logged, not raised: the event itself is already stored, and the
    caller (a host's report, an operator's request) must not fail because of a notice.
    """
    if not wanted(event["kind"]):
        return False
    try:
        aws.client("sqs").send_message(
            QueueUrl=_queue_url(config.notify_queue_name()), MessageBody=json.dumps({"event": event}),
            MessageGroupId=event["project"], MessageDeduplicationId=_dedup_id(event["id"]))
        return True
    except Exception:  # noqa: BLE001 - see the docstring: never break the writer
        log.exception("could not queue event %s of %s for delivery", event["id"], event["project"])
        return False


def _dedup_id(event_id):
    return hashlib.sha256(event_id.encode()).hexdigest()[:64]  # at most 128 chars, no '#'


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


# ----------------------------------------------------------------------------- signed POSTs

def signature(body_bytes, secret):
    """``sha256=<hex>``: the value of ``X-Fabu-Signature`` for ``body_bytes``."""
    return "sha256=" + hmac.new(secret.encode(), body_bytes, hashlib.sha256).hexdigest()


def _secret_of(hook):
    secret = hook.get("secret") or os.environ.get("FABU_WEBHOOK_SECRET") or None
    if secret and secrets.is_reference(secret):
        return secrets.resolve(secret)
    return secret


def describe_url(url):
    """The URL without its path (a Slack webhook's path is its credential)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer, not an approval: it fails the delivery


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_signed(hook, body, *, event_id=None):
    """POST ``body`` as JSON to ``hook["url"]``, signed; the HTTP status, or DeliveryError.

    Any answer (2xx or not) is returned; a timeout, a refused connection or a broken answer
    raises ``DeliveryError`` naming the target (never its secret or path).
    """
    data = json.dumps(body, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "fabu-notifier"}
    secret = _secret_of(hook)
    if secret:
        headers[SIGNATURE_HEADER] = signature(data, secret)
    else:
        log.warning("webhook %s has no secret and FABU_WEBHOOK_SECRET is unset: sent unsigned",
                    describe_url(hook["url"]))
    if event_id:
        headers["X-Fabu-Event-Id"] = event_id
    request = urllib.request.Request(hook["url"], data=data, headers=headers, method="POST")
    timeout = int(hook.get("timeout_seconds") or DEFAULT_TIMEOUT)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad URLs
        raise DeliveryError(f"{describe_url(hook['url'])}: {getattr(exc, 'reason', exc)}") from None


def _webhook(hook, body, event_id):
    status = post_signed(hook, body, event_id=event_id)
    if not 200 <= status < 300:
        raise DeliveryError(f"{describe_url(hook['url'])} answered HTTP {int(status)}")


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
                        functools.partial(_webhook, hook, body, event["id"])))
    after = (spec.get("gates") or {}).get("after")
    if after and event["kind"] in FINAL_KINDS:
        from chalicelib.rollout import gates  # gates posts through this module: import late, no cycle
        targets.append((f"after gate {describe_url(after['url'] if isinstance(after, dict) else after)}",
                        functools.partial(gates.after_rollout, event["project"], spec, event)))
    return targets


@functools.lru_cache(maxsize=None)
def max_attempts():
    """The notify queue's ``maxReceiveCount`` (the attempt after which SQS gives up)."""
    try:
        attrs = aws.client("sqs").get_queue_attributes(
            QueueUrl=_queue_url(config.notify_queue_name()), AttributeNames=["RedrivePolicy"])
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
