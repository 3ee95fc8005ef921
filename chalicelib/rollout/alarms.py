"""CloudWatch alarms that stop a release: read them once per tick, judge each watching rollout.

A project's ``rollout.alarms`` (1..10 CloudWatch alarm names of the stage's account and region)
are *watched* from the start of wave 0 until ``rollout.alarm_watch_seconds`` after the last wave
finished (default: ``bake_seconds``, at least ``MIN_WATCH_SECONDS``, one tick). While watched:

* an alarm in state ``ALARM`` halts the rollout (and with ``auto_rollback`` rolls it back: the
  engine's own halt path) with a ``rollout.alarm`` event naming the alarm, its state and reason;
  ``OK`` and ``INSUFFICIENT_DATA`` are not ``ALARM``;
* the last wave's success waits for the end of the watch (the rollout stays ``running`` with
  the reason "watching alarms until <time>");
* alarms that could not be read (CloudWatch failing, throttled, more names than one tick reads,
  an alarm deleted since) are never "all clear": no new wave starts and the rollout does not
  succeed until they are read again; the reason says why, once.

The tick collects the names of every watching rollout and reads them with ``Snapshot.read``:
``DescribeAlarms`` with at most ``NAMES_PER_CALL`` names a call (never per host or per rollout),
at most ``MAX_CALLS`` calls within ``READ_SECONDS``. ``check_exist`` is the create/update check
(a missing alarm is a 400 naming ``rollout.alarms[i]``; an AWS error propagates: 503).
"""
import dataclasses
import datetime
import functools
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import boto3
import botocore.client
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.errors import ValidationError
from chalicelib.models import Rollout
from chalicelib.rollout import store
from chalicelib.states import RolloutState
from chalicelib.times import format_time

if TYPE_CHECKING:  # the validator's collector; imported for its type only
    from chalicelib.projects.checks import Errors

log = logging.getLogger("fabu.alarms")

#: CloudWatch's own limit of ``AlarmNames`` per ``DescribeAlarms``.
NAMES_PER_CALL = 100
#: At most this many ``DescribeAlarms`` calls a tick (50,000 names); the rest wait a tick.
MAX_CALLS = 500
#: The tick spends at most this long reading alarms (then the rest are "not read this tick").
READ_SECONDS = 10.0
#: At most this many alarms per project, and their names' bounds (CloudWatch's rules).
MAX_ALARMS = 10
MAX_NAME = 255
#: The shortest watch after the last wave (one tick), and the longest ``alarm_watch_seconds``.
MIN_WATCH_SECONDS = 60
MAX_WATCH_SECONDS = 86400
ALARM = "ALARM"
#: What an alarm's state is shown as when it could not be read.
UNKNOWN = "UNKNOWN"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                 read_timeout=5)


@functools.lru_cache(maxsize=None)
def client() -> "botocore.client.BaseClient":
    """The CloudWatch client fabu reads alarms with (short timeouts: it runs in the tick)."""
    return boto3.session.Session().client("cloudwatch", region_name=config.region(),
                                          config=_CONFIG)


@dataclasses.dataclass(frozen=True)
class Alarm:
    """One alarm as read: its ``state`` (``OK``, ``ALARM``, ``INSUFFICIENT_DATA``) and reason."""
    name: str
    state: str
    reason: str = ""


class Snapshot:
    """The alarm states one tick read: ``found`` by name, and why the others are not known."""

    def __init__(self) -> None:
        self.found: dict[str, Alarm] = {}
        self.unread: dict[str, str] = {}
        self.calls = 0
        self.requested: set[str] = set()

    @classmethod
    def read(cls, names: Iterable[str], budget: float = READ_SECONDS) -> "Snapshot":
        """Read ``names`` (first ones first, duplicates once): one ``DescribeAlarms`` per
        ``NAMES_PER_CALL``; a failed call leaves its names unread with the error, never raises."""
        snap = cls()
        ordered = list(dict.fromkeys(names))
        snap.requested = set(ordered)
        deadline = time.monotonic() + budget
        for start in range(0, len(ordered), NAMES_PER_CALL):
            chunk = ordered[start:start + NAMES_PER_CALL]
            if snap.calls >= MAX_CALLS or time.monotonic() > deadline:
                why = (f"not read this tick (more than {MAX_CALLS * NAMES_PER_CALL} alarm names or "
                       f"{budget:g} s of reading)")
                snap.unread.update(dict.fromkeys(ordered[start:], why))
                log.warning("tick: %d alarm names left unread: %s", len(ordered) - start, why)
                break
            snap._read_chunk(chunk)
        return snap

    def _read_chunk(self, chunk: list[str]) -> None:
        try:
            for alarm in describe(chunk):
                self.found[alarm.name] = alarm
        except (ClientError, BotoCoreError) as exc:  # told as the reason, never "all clear"
            why = f"CloudWatch could not be read: {describe_error(exc)}"
            log.warning("tick: DescribeAlarms of %d names failed: %s", len(chunk), why)
            self.unread.update(dict.fromkeys(chunk, why))
        finally:
            self.calls += 1
        for name in chunk:
            if name not in self.found and name not in self.unread:
                self.unread[name] = f"alarm {name} does not exist (deleted since the project was saved?)"

    def fail_all(self, why: str) -> None:
        """Every requested name unread because of ``why`` (the read itself broke)."""
        self.unread.update(dict.fromkeys(self.requested - set(self.found), why))

    def states(self, names: list[str]) -> tuple[list[Alarm], str | None]:
        """``names``' alarms (state ``UNKNOWN`` when not read) and why any is unknown, or None."""
        shown, why = [], None
        for name in names:
            if name in self.found:
                shown.append(self.found[name])
            else:
                reason = self.unread.get(name, "not read (outside the tick)")
                shown.append(Alarm(name, UNKNOWN, reason))
                why = why or reason
        return shown, why


def describe_error(exc: BaseException) -> str:
    """One stable line for an AWS error: ``Throttling: Rate exceeded`` (at most 200 chars)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        text = f"{error.get('Code') or type(exc).__name__}: {error.get('Message') or ''}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text.rstrip(": ")[:200]


def describe(names: list[str]) -> list[Alarm]:
    """``DescribeAlarms`` of at most ``NAMES_PER_CALL`` names (metric and composite alarms);
    AWS errors propagate."""
    if len(names) > NAMES_PER_CALL:
        raise ValueError(f"at most {NAMES_PER_CALL} alarm names a call, not {len(names)}")
    found, token, pages = [], None, 0
    while pages < 5:  # 100 names fit one page of 100 records; a NextToken is followed, bounded
        kwargs = {"AlarmNames": names, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                  "MaxRecords": NAMES_PER_CALL}
        if token:
            kwargs["NextToken"] = token
        page = client().describe_alarms(**kwargs)
        for item in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
            found.append(Alarm(item["AlarmName"], item.get("StateValue") or UNKNOWN,
                               (item.get("StateReason") or "")[:500]))
        token, pages = page.get("NextToken"), pages + 1
        if not token:
            break
    return found


# ----------------------------------------------------------------------------- validation

def validate_names(errors: "Errors", value: object) -> None:
    """``rollout.alarms``: a list of 0..``MAX_ALARMS`` distinct CloudWatch alarm names
    (1..255 characters, no control characters); ``errors`` is a ``projects.checks.Errors``."""
    path = "rollout.alarms"
    if not isinstance(value, list):
        errors.add(path, "must be a list of CloudWatch alarm names")
        return
    if len(value) > MAX_ALARMS:
        errors.add(path, f"at most {MAX_ALARMS} alarms")
        return
    for i, name in enumerate(value):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
            errors.add(f"{path}[{i}]", f"must be an alarm name of 1-{MAX_NAME} characters")
        elif _CONTROL_RE.search(name):
            errors.add(f"{path}[{i}]", "must not contain control characters")
    if all(isinstance(n, str) for n in value) and len(set(value)) != len(value):
        errors.add(path, "lists an alarm twice")


def validate_watch(errors: "Errors", value: object) -> None:
    """``rollout.alarm_watch_seconds``: null (the bake time) or 0..``MAX_WATCH_SECONDS``."""
    path = "rollout.alarm_watch_seconds"
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a whole number (or null: the bake time)")
    elif not 0 <= value <= MAX_WATCH_SECONDS:
        errors.add(path, f"must be between 0 and {MAX_WATCH_SECONDS}")


def check_exist(names: list[str]) -> None:
    """400 naming ``rollout.alarms[i]`` for each alarm CloudWatch does not have (one call per
    ``NAMES_PER_CALL`` names); an AWS error propagates (the API answers 503, Retry-After)."""
    if not names:
        return
    found = set()
    for start in range(0, len(names), NAMES_PER_CALL):
        found |= {a.name for a in describe(names[start:start + NAMES_PER_CALL])}
    missing = {f"rollout.alarms[{i}]": f"no CloudWatch alarm named {name!r} in {config.region()}"
               for i, name in enumerate(names) if name not in found}
    if missing:
        first = next(iter(missing.values()))
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValidationError(f"invalid project: {first}{more}", missing)


# ----------------------------------------------------------------------------- judging a rollout

def names_of(rollout: Rollout) -> list[str]:
    """The alarms ``rollout`` watches (the settings it started with)."""
    return list(store.settings(rollout).get("alarms") or [])


#: Rollouts whose alarms the tick reads: running ones, and those about to start wave 0.
_READ_STATES = (RolloutState.RUNNING, RolloutState.WAITING_RELEASE, RolloutState.SCHEDULED)


def watching(rollout: Rollout) -> bool:
    """True when the tick must read ``rollout``'s alarms: it has some, and runs its waves or
    may start wave 0 (an alarm in ``ALARM`` then holds the start)."""
    return rollout.state in _READ_STATES and bool(names_of(rollout))


def watch_seconds(settings: dict) -> int:
    """How long after the last wave the alarms are watched: ``alarm_watch_seconds``, default
    ``bake_seconds``; at least ``MIN_WATCH_SECONDS``."""
    own = settings.get("alarm_watch_seconds")
    seconds = int(settings.get("bake_seconds") or 0) if own is None else int(own)
    return max(seconds, MIN_WATCH_SECONDS)


def watch_until(rollout: Rollout) -> datetime.datetime | None:
    """When the watch ends: ``watch_seconds`` after the last wave finished; None while the last
    wave runs (or without alarms)."""
    waves = rollout.waves or []
    if not names_of(rollout) or not waves or rollout.wave_done_at is None \
            or int(rollout.wave) < len(waves) - 1:
        return None
    return rollout.wave_done_at + datetime.timedelta(seconds=watch_seconds(store.settings(rollout)))


@dataclasses.dataclass(frozen=True)
class Judgement:
    """What the alarms say about one rollout this tick: ``tripped`` (an alarm in ``ALARM``),
    else ``unknown`` (why some alarm could not be read), else all clear."""
    tripped: Alarm | None = None
    unknown: str | None = None


def judge(rollout: Rollout, snapshot: Snapshot | None) -> Judgement:
    """Judge ``rollout`` by ``snapshot`` and remember what was read on the rollout (written only
    when it changed). ``snapshot`` None: not read (a step outside the tick)."""
    names = names_of(rollout)
    if not names:
        return Judgement()
    if snapshot is None:
        return Judgement(unknown="not read (outside the tick)")
    shown, why = snapshot.states(names)
    _remember(rollout, shown, why)
    tripped = next((a for a in shown if a.state == ALARM), None)
    return Judgement(tripped=tripped, unknown=why)


def _remember(rollout: Rollout, shown: list[Alarm], why: str | None) -> None:
    seen = [{"name": a.name, "state": a.state, "reason": a.reason} for a in shown]
    before = rollout.alarm_states or {}
    if before.get("alarms") == seen and before.get("error") == why:
        return
    store.set_fields(rollout, alarm_states={"alarms": seen, "error": why,
                                            "since": format_time(datetime.datetime.now(
                                                datetime.timezone.utc))})


def record_trip(rollout: Rollout, alarm: Alarm, actor: str) -> str:
    """Record ``rollout.alarm`` for ``alarm`` and return the halt reason naming it."""
    reason = f"alarm {alarm.name} is in {alarm.state}" + (f": {alarm.reason}" if alarm.reason else "")
    store.record(rollout, "rollout.alarm", actor, f"rollout of {rollout.version}: {reason}",
                 alarm=alarm.name, state=alarm.state, state_reason=alarm.reason,
                 wave=int(rollout.wave))
    return reason


def hold_reason(judgement: Judgement) -> str | None:
    """Why no new wave may start (alarms unreadable), or None."""
    if judgement.unknown:
        return f"holding: alarms could not be read ({judgement.unknown}); no new wave until they are"
    return None


def shown(rollout: Rollout, now: datetime.datetime) -> dict | None:
    """The view's ``watching.alarms`` part: names, last states read, the watch's end and time
    left; None without alarms."""
    names = names_of(rollout)
    if not names:
        return None
    seen = {a["name"]: a for a in (rollout.alarm_states or {}).get("alarms", [])}
    until = watch_until(rollout)
    left = max(0, int((until - now).total_seconds())) if until is not None else None
    return {"alarms": [{"name": n, "state": seen.get(n, {}).get("state", UNKNOWN),
                        "reason": seen.get(n, {}).get("reason")} for n in names],
            "alarm_error": (rollout.alarm_states or {}).get("error"),
            "window_seconds": watch_seconds(store.settings(rollout)),
            "until": format_time(until), "seconds_left": left}
