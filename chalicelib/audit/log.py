"""What is an admin action, and writing its audit entry with its event in one transaction.

``chalicelib.events.record`` stores every event through ``save_event``: when the event is an
admin action (``is_admin_action``) its ``AuditEntry`` is written in the **same**
TransactWriteItems as the event, so an action that recorded its event cannot lose its audit
entry (and no entry exists for an event that was not stored). Everything else is one PutItem,
as before.

An admin action is an event whose ``kind`` is in ``ADMIN_KINDS`` recorded by a person or a
CI key (an ARN), never by one of fabu's own actors (``fabu``, ``fabu:tick``, ``fabu-builder``
...: ``is_system_actor``), so a rollout the tick pauses, a scheduled update the scheduler
applies or an automatic promotion is no admin action. ``ON_BEHALF`` names the kinds a system
actor records for the admin who caused them (a CI upload's check: ``build.ready`` with
``uploaded_by``); that admin is the entry's actor.

Actions that record no event call ``record``: the local stack's host keys, which
``fabu local host-key`` mints and revokes in the principals file and then reports through
``POST /api/v1/audit`` (``record_from_client``: the signed caller is the actor). The entry's ``detail`` is the event's, bounded (``MAX_DETAIL_CHARS``) and with
every value under a secret-like key (``SECRET_KEY_RE``) replaced by ``********`` unless it is
a reference (``ssm:``, ``secretsmanager:``); ``request_id`` is the API request's id, bound by
the HTTP middleware (``bound_request``).
"""
import contextlib
import contextvars
import datetime
import json
import re
import secrets
import uuid
from collections.abc import Iterator

from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib import config
from chalicelib.audit.model import AT_FORMAT, STAGE_WIDE, AuditEntry, shard_key, to_dict
from chalicelib.errors import ValidationError
from chalicelib.projects.schema import SECRET_REF_PREFIXES
from chalicelib.times import utcnow

#: Event kinds that are admin actions (when an admin, not fabu itself, records them).
ADMIN_KINDS = frozenset({
    # projects: POST/PUT/DELETE /api/v1/project[/{id}], DELETE .../scheduled
    "project.created", "project.updated", "project.deleted", "project.update_scheduled",
    "project.update_cancelled",
    # rollout controls: POST .../promote|pause|resume|rollback
    "rollout.promoted", "rollout.freeze_override", "rollout.paused", "rollout.resumed",
    "rollout.rollback_requested", "rollout.cancelled",
    # the stage's freeze: POST/DELETE /api/v1/freeze
    "stage.frozen", "stage.thawed",
    # promotion of a release from another project: POST .../promote-release
    "release.promoted",
    # CI uploads: POST .../artifact (and .../artifact/complete: ``ON_BEHALF``)
    "artifact.upload_requested",
    # reports made on demand: POST /api/v1/reports
    "report.generated",
    # host keys of the local stack (``fabu local host-key``: ``record``)
    "key.minted", "key.revoked",
})
#: Kinds fabu records for the admin who caused them: kind → the detail field naming that admin.
ON_BEHALF = {"build.ready": "uploaded_by"}
#: fabu's own actors: ``fabu``, ``fabu:<job>``, ``fabu-<job>``.
SYSTEM_ACTOR_RE = re.compile(r"fabu(?:[:-][A-Za-z0-9:._-]*)?")
#: Detail keys whose values are never kept (inline secrets, tokens, passwords).
SECRET_KEY_RE = re.compile(r"(?i).*(secret|password|passwd|token|credential|private_key"
                           r"|authorization|api_key).*")
REDACTED = "********"
#: Longest ``detail`` kept (JSON characters); past it, the detail is summarised (``truncated``).
MAX_DETAIL_CHARS = 2048
#: Longest string value kept in a summarised detail, and longest ``message``.
MAX_VALUE_CHARS, MAX_MESSAGE_CHARS = 200, 500

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("fabu_audit_request",
                                                                        default=None)


@contextlib.contextmanager
def bound_request(request_id: str | None) -> Iterator[None]:
    """Entries written inside the block carry ``request_id`` (the API request's id)."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


def is_system_actor(actor: str | None) -> bool:
    """True for fabu's own actors (and no actor at all)."""
    return not actor or bool(SYSTEM_ACTOR_RE.fullmatch(actor))


def admin_actor(kind: str, actor: str | None, detail: dict | None) -> str | None:
    """The admin who did the event (``kind``, ``actor``, ``detail``), or None: no admin action."""
    if kind in ADMIN_KINDS and not is_system_actor(actor):
        return actor
    field = ON_BEHALF.get(kind)
    if field is not None:
        behalf = (detail or {}).get(field)
        if isinstance(behalf, str) and not is_system_actor(behalf):
            return behalf
    return None


def project_of(scope: str) -> str:
    """An event's scope as the entry's ``project``: the stage's own scopes (``fabu:stage``,
    ``fabu:reports``: a ``:``, which project names never have) are ``-``."""
    return STAGE_WIDE if ":" in scope else scope


def bounded(detail: dict | None) -> dict:
    """``detail`` with secrets hidden, at most ``MAX_DETAIL_CHARS`` of JSON (else summarised)."""
    clean = _redacted(detail or {})
    if len(_json(clean)) <= MAX_DETAIL_CHARS:
        return clean
    small: dict = {"truncated": True}
    for key, value in clean.items():
        if isinstance(value, str):
            value = value[:MAX_VALUE_CHARS]
        elif isinstance(value, (list, dict)):
            value = f"<{len(value)} {'items' if isinstance(value, list) else 'fields'}>"
        candidate = dict(small, **{str(key)[:MAX_VALUE_CHARS]: value})
        if len(_json(candidate)) > MAX_DETAIL_CHARS:
            break
        small = candidate
    return small


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _redacted(value: object, key: str = "") -> object:
    if isinstance(value, dict):
        return {k: _redacted(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, key) for v in value]
    if key and SECRET_KEY_RE.fullmatch(key) and value not in (None, "", True, False):
        if isinstance(value, str) and value.startswith(SECRET_REF_PREFIXES):
            return value
        return REDACTED
    if isinstance(value, datetime.datetime):
        return value.strftime(AT_FORMAT)
    return value


def new_entry(sk: str, at: datetime.datetime, actor: str, action: str, project: str,
              detail: dict | None = None, message: str | None = None) -> AuditEntry:
    """An unsaved entry (``sk`` is its id: ``<at>#<random>``, the event's own for an event)."""
    return AuditEntry(shard_key(sk, at), sk, actor=actor, action=action, project=project,
                      detail=bounded(detail), request_id=_request_id.get(),
                      message=(message or "")[:MAX_MESSAGE_CHARS] or None, at=at,
                      expires_at=at + datetime.timedelta(days=config.audit_retention_days()))


def save_event(event: Model, condition: Condition) -> AuditEntry | None:
    """Store ``event`` (an ``Event``) under ``condition``; with its audit entry in one
    transaction when it is an admin action. Returns the entry (None: no admin action).

    Every error propagates (a failed condition too: the event's key is new by construction).
    """
    actor = admin_actor(event.kind, event.actor, event.detail)
    if actor is None:
        event.save(condition)
        return None
    entry = new_entry(event.sk, event.at, actor, event.kind, project_of(event.scope),
                      event.detail, event.message)
    connection = AuditEntry._get_connection().connection
    # The token makes botocore's own retry of a committed transaction a no-op success.
    with TransactWrite(connection=connection, client_request_token=uuid.uuid4().hex) as tx:
        tx.save(event, condition=condition)
        tx.save(entry, condition=AuditEntry.sk.does_not_exist())
    return entry


def record(action: str, actor: str, project: str = STAGE_WIDE, detail: dict | None = None, *,
           message: str | None = None, at: datetime.datetime | None = None) -> dict:
    """Store the entry of an admin action that records no event; return it as the API shows it."""
    moment = at or utcnow()
    entry = new_entry(f"{moment.strftime(AT_FORMAT)}#{secrets.token_hex(4)}", moment, actor,
                      action, project, detail, message)
    entry.save(AuditEntry.sk.does_not_exist())
    return to_dict(entry)


#: Admin actions done outside the API that the CLI reports (``POST /api/v1/audit``): the local
#: stack's host keys (``fabu local host-key``). On AWS, hosts are IAM identities (CloudTrail).
CLIENT_ACTIONS = ("key.minted", "key.revoked")
_CLIENT_FIELDS = ("action", "detail", "message")


def record_from_client(body: dict, actor: str) -> dict:
    """``POST /api/v1/audit`` ``{action, detail?, message?}``: the entry of an admin action the
    CLI did itself (``CLIENT_ACTIONS``; stage ``local`` only), ``actor`` the signed caller."""
    for key in body:
        if key not in _CLIENT_FIELDS:
            raise ValidationError(f"unknown field {key!r}: the body is {{action, detail?, message?}}",
                                  {key: "unknown field"})
    if not config.is_local():
        raise ValidationError("only the local stack has host keys of its own; on AWS, IAM "
                              "identities are audited by CloudTrail", {"action": "is local only"})
    action, detail, message = body.get("action"), body.get("detail") or {}, body.get("message")
    if action not in CLIENT_ACTIONS:
        raise ValidationError(f"action must be one of {', '.join(CLIENT_ACTIONS)}",
                              {"action": f"must be one of {', '.join(CLIENT_ACTIONS)}"})
    if not isinstance(detail, dict) or len(_json(detail)) > MAX_DETAIL_CHARS:
        raise ValidationError(f"detail must be a JSON object of at most {MAX_DETAIL_CHARS} "
                              "characters", {"detail": "is not a small JSON object"})
    if message is not None and (not isinstance(message, str) or len(message) > MAX_MESSAGE_CHARS):
        raise ValidationError(f"message must be text of at most {MAX_MESSAGE_CHARS} characters",
                              {"message": f"is not text of at most {MAX_MESSAGE_CHARS} characters"})
    return record(action, actor, STAGE_WIDE, detail, message=message)
