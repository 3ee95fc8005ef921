"""The stage-wide deploy freeze: while it holds, no rollout of any project starts a wave.

``POST /api/v1/freeze`` (``freeze``) stores one ``models.Freeze`` item ``{reason, by, since,
until?}``; ``GET`` (``status``) shows it; ``DELETE`` (``thaw``) ends it. A freeze with ``until``
ends by itself: the first tick after it thaws it and records the thaw (``expire``). While
frozen, the rollout engine starts no wave (wave 0 included, auto-promote, scheduled starts) and
says ``frozen: <reason> (by <arn>)``; rollbacks, pauses, hosts of waves already released and
lease expiry go on. A promote with ``?override_freeze=true&reason=...`` lets one wave through
(``override``), recorded as ``rollout.freeze_override``.

Freeze and thaw are the events ``stage.frozen``/``stage.thawed`` of the stage's own scope
``SCOPE`` (no project name holds a ':'), which the notifier sends to the stage's SNS topic.
"""
import datetime

from chalicelib import events
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.models import Freeze, Rollout, delete_if, save_if
from chalicelib.rollout import store
from chalicelib.times import format_time, parse_time, utcnow

#: The event scope of the stage's own events (freeze, thaw).
SCOPE = "fabu:stage"
TICK_ACTOR = "fabu:tick"
MAX_REASON = 500
#: A freeze's ``until`` is at most this far ahead (an open-ended freeze leaves ``until`` out).
MAX_UNTIL_DAYS = 366
_FIELDS = ("reason", "until", "replace")


def get() -> Freeze | None:
    """The stored freeze (expired or not), read consistently; None when there is none."""
    try:
        return Freeze.get(SCOPE, "freeze", consistent_read=True)
    except Freeze.DoesNotExist:
        return None


def is_active(item: Freeze | None, now: datetime.datetime) -> bool:
    """True when ``item`` is a freeze that holds at ``now`` (its ``until``, if any, is ahead)."""
    return item is not None and (item.until is None or item.until > now)


def to_dict(item: Freeze | None) -> dict:
    """A freeze as the API shows it; ``{"frozen": false}`` without one."""
    if item is None:
        return {"frozen": False}
    return {"frozen": True, "reason": item.reason, "by": item.by,
            "since": format_time(item.since), "until": format_time(item.until)}


def hold_reason(item: Freeze) -> str:
    """The reason every held rollout shows."""
    return f"frozen: {item.reason} (by {item.by})"


#: How many of the stage's latest freeze/thaw events ``status`` shows.
HISTORY = 20


def status(now: datetime.datetime | None = None) -> dict:
    """``GET /api/v1/freeze``: the freeze in force (or ``{"frozen": false}``) and the latest
    ``HISTORY`` freezes and thaws (one Query)."""
    item = get()
    shown = to_dict(item if is_active(item, now or utcnow()) else None)
    history, _ = events.page(SCOPE, limit=HISTORY)
    return dict(shown, history=history)


def current(now: datetime.datetime | None = None) -> Freeze | None:
    """The freeze in force at ``now``, or None (one GetItem)."""
    item = get()
    return item if is_active(item, now or utcnow()) else None


def _check(body: dict, now: datetime.datetime) -> tuple[str, datetime.datetime | None, bool]:
    fields = {}
    for key in body:
        if key not in _FIELDS:
            fields[key] = "unknown field"
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        fields["reason"] = "is required: say why the stage is frozen"
    elif len(reason) > MAX_REASON:
        fields["reason"] = f"is too long (at most {MAX_REASON} characters)"
    elif any(ord(c) < 32 and c not in "\t" for c in reason):
        fields["reason"] = "must be one line (no control characters)"
    until = None
    if body.get("until") is not None:
        try:
            until = parse_time(body["until"])
        except ValueError as exc:
            fields["until"] = str(exc)
        else:
            if until <= now:
                fields["until"] = "must be in the future"
            elif until > now + datetime.timedelta(days=MAX_UNTIL_DAYS):
                fields["until"] = f"must be at most {MAX_UNTIL_DAYS} days ahead (leave it out " \
                                  "for a freeze that lasts until it is deleted)"
    replace = body.get("replace", False)
    if not isinstance(replace, bool):
        fields["replace"] = "must be true or false"
    if fields:
        path, message = next(iter(fields.items()))
        raise ValidationError(f"invalid freeze: {path} {message}", fields)
    return reason.strip(), until, replace


def freeze(body: dict, actor: str, *, replace: bool = False) -> tuple[dict, bool]:
    """Freeze the stage: ``(the freeze, created)``. A freeze in force is a 409 naming it unless
    ``replace`` (``"replace": true`` or ``?replace=true``), which replaces it (created False)."""
    now = utcnow()
    reason, until, replace_body = _check(body, now)
    replace = replace or replace_body
    existing = get()
    if existing is not None and not is_active(existing, now):
        expire(now, TICK_ACTOR)
        existing = get()
    if existing is not None and not replace:
        raise Conflict(f"the stage is already frozen: {existing.reason} (by {existing.by} since "
                       f"{format_time(existing.since)}); send \"replace\": true to replace it "
                       "or DELETE /api/v1/freeze to thaw it", {"replace": "the stage is already frozen"})
    if existing is None:
        item = Freeze(SCOPE, "freeze", reason=reason, by=actor, since=now, until=until)
        if not save_if(item, Freeze.project.does_not_exist()):
            raise Conflict("someone else froze the stage at the same moment: read it and retry")
    else:
        item = existing
        item.reason, item.by, item.since, item.until = reason, actor, now, until
        if not save_if(item):
            raise Conflict("someone else changed the freeze at the same moment: read it and retry")
    shown = to_dict(item)
    suffix = f" until {shown['until']}" if until else ""
    events.record(SCOPE, "stage.frozen", actor,
                  {"reason": reason, "until": shown["until"], "replaced": existing is not None},
                  message=f"stage frozen{suffix}: {reason}")
    return shown, existing is None


def thaw(actor: str) -> dict:
    """End the freeze (404 when the stage is not frozen); returns ``{"frozen": false, "was": ...}``."""
    now = utcnow()
    item = get()
    if item is None or not is_active(item, now):
        if item is not None:
            expire(now, TICK_ACTOR)
        raise NotFound("the stage is not frozen")
    was = to_dict(item)
    if not delete_if(item):
        raise Conflict("someone else changed the freeze at the same moment: read it and retry")
    events.record(SCOPE, "stage.thawed", actor, {"reason": item.reason, "frozen_by": item.by,
                                                 "since": was["since"]},
                  message=f"stage thawed (frozen since {was['since']} by {item.by}: {item.reason})")
    return {"frozen": False, "was": was}


def expire(now: datetime.datetime, actor: str = TICK_ACTOR) -> bool:
    """Thaw a freeze whose ``until`` has passed (recorded as ``stage.thawed``); True if it did."""
    item = get()
    if item is None or is_active(item, now):
        return False
    if not delete_if(item):
        return False  # replaced or thawed meanwhile: whoever did it recorded it
    events.record(SCOPE, "stage.thawed", actor, {"reason": item.reason, "frozen_by": item.by,
                                                 "until": format_time(item.until), "expired": True},
                  message=f"stage thawed: the freeze ended at {format_time(item.until)} "
                          f"(by {item.by}: {item.reason})")
    return True


def for_tick(now: datetime.datetime) -> Freeze | None:
    """The tick's one read: thaw an expired freeze, and answer the one in force (or None)."""
    item = get()
    if item is not None and not is_active(item, now):
        expire(now)
        return None
    return item


def override(rollout: Rollout, actor: str, reason: object) -> str:
    """Check a promote's ``?reason=`` of ``?override_freeze=true`` (1..500 characters) and
    record ``rollout.freeze_override``; returns the checked reason. The caller holds the lock."""
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("override_freeze=true needs a reason: ?reason=<why this promote "
                              "goes through the freeze>", {"reason": "is required with override_freeze"})
    if len(reason) > MAX_REASON:
        raise ValidationError(f"reason is too long (at most {MAX_REASON} characters)",
                              {"reason": f"is too long (at most {MAX_REASON} characters)"})
    item = current()
    detail = to_dict(item)
    store.record(rollout, "rollout.freeze_override", actor,
                 f"{actor} let a promote of {rollout.version} through the freeze: {reason.strip()}",
                 reason=reason.strip(), freeze=detail)
    return reason.strip()
