"""Drive one rollout one step, in isolation: the drive message and the ``rollout_driver`` Lambda.

The minute tick (``chalicelib.rollout.tick``) does the stage-wide work once (scheduled updates,
fleet sync, ONE freeze read, ONE alarms snapshot) and then sends one **drive message** per
active rollout to the stage's ``drive`` queue (``config.drive_queue_name()``). Each message is
handled by its own invocation of the ``rollout_driver`` Lambda (``handle``), so a slow rollout
(a gate that does not answer) holds only its own invocation. The message (``message``) is small
and bounded (a few KB; above ``MAX_BODY`` the tick drives that rollout itself): the project and
rollout id, the tick's ``now``, when it was sent and when it expires, the freeze as the tick
read it (or ``"unread"``) and the states of the rollout's own alarms (at most 10) from the
tick's snapshot: the driver never calls ``DescribeAlarms`` and never reads the freeze again.

``handle`` drops a message that expired (``EXPIRY_SECONDS`` after it was sent: a backlog never
replays old ticks), a rollout no longer active, and a **duplicate**: the driver's lock write
stamps ``driven_at`` (``engine.drive_one`` with ``ask_gates``), so a second delivery of the same
message finds ``driven_at`` at or after the message's ``sent`` and does nothing; two deliveries
at the same moment race for the rollout's lock (a ``seq``-conditional write) and the loser
answers ``busy``. ``step`` is the isolated step shared with the tick's in-process pool: an
exception is logged with its traceback, told once on the rollout (``failures.record``) and
cleared after a step succeeds again; it never raises, so SQS never retries a rollout's own
failure (the next tick sends a fresh message anyway).
"""
import dataclasses
import datetime
import json
import logging
import time

from pynamodb.exceptions import DoesNotExist

from chalicelib import config
from chalicelib.models import Freeze, Rollout
from chalicelib.rollout import alarms, engine, failures, freeze
from chalicelib.times import utcnow

log = logging.getLogger("fabu.tick")

#: The message format's version (a driver refuses a format it does not know).
FORMAT = 1
#: A message is dropped when it is handled more than this long after the tick sent it.
EXPIRY_SECONDS = 50
#: At most this many bytes a message: one billed SQS request (64 KiB), a quarter of SQS's
#: 256 KiB limit. Real messages are a few KB (10 alarms of <= 255 + 500 characters at most).
MAX_BODY = 65_536
#: The ``rollout_driver`` event source's ``ScalingConfig.MaximumConcurrency`` (see the docs).
MAX_CONCURRENCY = 100
DEFAULT_BUDGET, MAX_BUDGET = 40, 45
#: A step is not started with less time than this left in its budget.
MIN_STEP_SECONDS = 1.0
#: Outcomes of a step or message that did not drive the rollout to the end of a step.
ERROR, SKIPPED, UNFINISHED = "error", "skipped", "unfinished"
EXPIRED, DUPLICATE, INACTIVE, INVALID = "expired", "duplicate", "inactive", "invalid"
_UNREAD = engine.UNREAD


def budget_seconds() -> int:
    """A tick's (and a driven step's) time budget: ``FABU_TICK_BUDGET_SECONDS`` within
    [1, ``MAX_BUDGET``], under the rollout lock's 55 s and the Lambdas' 60 s timeout."""
    return min(max(config.int_setting("FABU_TICK_BUDGET_SECONDS", DEFAULT_BUDGET), 1), MAX_BUDGET)


# ----------------------------------------------------------------------------- the message

def message(rollout: Rollout, now: datetime.datetime, sent: datetime.datetime,
            snapshot: alarms.Snapshot | None, frozen: Freeze | None | str) -> str:
    """The drive message of ``rollout`` (JSON): the tick's ``now``, ``sent`` (wall clock) and
    its expiry, the freeze as read and the rollout's own alarm states from ``snapshot``."""
    body = {"format": FORMAT, "project": rollout.project, "rollout_id": rollout.rollout_id,
            "now": now.isoformat(), "sent": sent.isoformat(),
            "expires": (sent + datetime.timedelta(seconds=EXPIRY_SECONDS)).isoformat(),
            "frozen": _freeze_of(frozen), "alarms": _alarms_of(rollout, snapshot)}
    return json.dumps(body, separators=(",", ":"))


def _freeze_of(frozen: Freeze | None | str) -> dict | str | None:
    if frozen is None or frozen == _UNREAD:
        return frozen
    return {"reason": frozen.reason, "by": frozen.by, "since": frozen.since.isoformat(),
            "until": frozen.until.isoformat() if frozen.until else None}


def _alarms_of(rollout: Rollout, snapshot: alarms.Snapshot | None) -> dict | None:
    """``{"found": [[name, state, reason]], "unread": {name: why}}`` of the rollout's own alarms
    (empty when it does not watch them now); None: the tick read no alarms at all."""
    if snapshot is None:
        return None
    names = alarms.names_of(rollout) if alarms.watching(rollout) else []
    found = [[a.name, a.state, a.reason] for a in (snapshot.found.get(n) for n in names) if a]
    unread = {n: snapshot.unread.get(n, "not read (outside the tick)")
              for n in names if n not in snapshot.found}
    return {"found": found, "unread": unread}


@dataclasses.dataclass(frozen=True)
class Drive:
    """A parsed drive message."""
    project: str
    rollout_id: str
    now: datetime.datetime
    sent: datetime.datetime
    expires: datetime.datetime
    frozen: Freeze | None | str
    snapshot: alarms.Snapshot | None


def parse(body: str) -> Drive:
    """The drive message in ``body``; ``ValueError`` naming the bad field."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"format: must be {FORMAT}")
    for field in ("project", "rollout_id"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise ValueError(f"{field}: must be a non-empty string")
    moments = {field: _moment(data, field) for field in ("now", "sent", "expires")}
    return Drive(data["project"], data["rollout_id"], moments["now"], moments["sent"],
                 moments["expires"], _frozen_from(data.get("frozen")),
                 _snapshot_from(data.get("alarms")))


def _moment(data: dict, field: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(data[field])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{field}: must be an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{field}: needs a time zone")
    return moment


def _frozen_from(value: object) -> Freeze | None | str:
    if value is None or value == _UNREAD:
        return value
    if not isinstance(value, dict) or not isinstance(value.get("reason"), str):
        raise ValueError("frozen: must be null, \"unread\" or the freeze read")
    until = value.get("until")
    return Freeze(freeze.SCOPE, "freeze", reason=value["reason"], by=str(value.get("by", "")),
                  since=_moment(value, "since"), until=_moment(value, "until") if until else None)


def _snapshot_from(value: object) -> alarms.Snapshot | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("alarms: must be null or {found, unread}")
    snap = alarms.Snapshot()
    try:
        for name, state, reason in value.get("found", []):
            snap.found[name] = alarms.Alarm(name, state, reason)
        snap.unread.update(value.get("unread", {}))
    except (TypeError, ValueError):
        raise ValueError("alarms: found must be [name, state, reason] triples") from None
    snap.requested = set(snap.found) | set(snap.unread)
    return snap


# ----------------------------------------------------------------------------- driving

def handle(body: str) -> dict:
    """Drive the rollout of one drive message one step (the ``rollout_driver`` Lambda).

    Returns ``{"project", "rollout_id", "outcome", "error"?}`` (also logged): ``outcome`` is the
    rollout's state after the step, ``busy``, ``raced``, ``error``, ``skipped``, or why the
    message was dropped (``expired``, ``duplicate``, ``inactive``, ``invalid``). Never raises:
    a retry by SQS would only repeat what the next tick asks for anyway.
    """
    try:
        drive = parse(body)
    except ValueError as exc:
        log.error("drive message dropped: %s (%.200s)", exc, body)
        return {"outcome": INVALID, "error": str(exc)}
    shown = {"project": drive.project, "rollout_id": drive.rollout_id}
    wall = utcnow()
    if wall > drive.expires:
        log.warning("drive message of %s dropped: expired %.1f s ago (sent %s; a later tick "
                    "sends a new one)", drive.project, (wall - drive.expires).total_seconds(),
                    drive.sent.isoformat())
        return dict(shown, outcome=EXPIRED)
    try:
        rollout = Rollout.get(drive.project, drive.rollout_id, consistent_read=True)
    except DoesNotExist:
        return dict(shown, outcome=INACTIVE)
    except Exception as exc:  # noqa: BLE001 - logged; the next tick sends a new message
        log.exception("driver: the rollout %s of %s could not be read", drive.rollout_id,
                      drive.project)
        return dict(shown, outcome=ERROR, error=failures.describe(exc))
    if not rollout.active_pk:
        return dict(shown, outcome=INACTIVE)
    if rollout.driven_at is not None and rollout.driven_at >= drive.sent:
        log.info("drive message of %s dropped: already driven at %s (a duplicate delivery)",
                 drive.project, rollout.driven_at.isoformat())
        return dict(shown, outcome=DUPLICATE)
    now = drive.now + (wall - drive.sent)  # the tick's clock, moved on by the delivery's delay
    deadline = time.monotonic() + budget_seconds()
    state, error = step(rollout, now, engine.TICK_ACTOR, deadline, drive.snapshot, drive.frozen)
    answer = dict(shown, outcome=state, **({"error": error} if error else {}))
    log.info("driver: %s", answer)
    return answer


def step(rollout: Rollout, now: datetime.datetime, actor: str, deadline: float,
         snapshot: alarms.Snapshot | None = None,
         frozen: Freeze | None | str = _UNREAD) -> tuple[str, str | None]:
    """One rollout's step in isolation: ``(outcome, error description or None)``; never raises.
    ``deadline`` is a ``time.monotonic()`` value (no step starts with less than
    ``MIN_STEP_SECONDS`` left)."""
    if deadline - time.monotonic() < MIN_STEP_SECONDS:
        return SKIPPED, None
    try:
        state = engine.drive_one(rollout, now, actor, ask_gates=True, deadline=deadline,
                                 alarm_states=snapshot, frozen=frozen)
    except Exception as exc:  # noqa: BLE001 - isolation: logged, told once, retried next tick
        log.exception("tick: driving the rollout %s of %s failed", rollout.rollout_id,
                      rollout.project)
        description = failures.describe(exc)
        try:
            failures.record(rollout, exc, actor)
        except Exception:  # noqa: BLE001 - the store is failing too: the log has both
            log.exception("tick: could not record the failure of the rollout of %s",
                          rollout.project)
        return ERROR, description
    if state not in (engine.BUSY, engine.RACED) and rollout.error:
        try:
            failures.clear(rollout, actor)
        except Exception:  # noqa: BLE001 - the step itself succeeded; cleared next time
            log.exception("tick: could not clear the last error of the rollout of %s",
                          rollout.project)
    return state, None
