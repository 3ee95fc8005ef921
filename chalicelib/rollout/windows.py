"""Deploy windows (``rollout.windows``): when a wave may start, in the window's own time zone.

A window is ``{"days": ["mon", ...], "start": "HH:MM", "end": "HH:MM", "timezone": "<IANA>"}``
in wall-clock time of its zone, so a 09:00–17:00 Europe/Berlin window is 08:00–16:00 UTC in
winter and 07:00–15:00 UTC in summer. ``days`` are the days a window *opens*; ``end`` earlier
than ``start`` runs past midnight into the next day (``"22:00"``–``"02:00"``), and ``end``
``"24:00"`` is the end of the day. Around a DST change a boundary keeps its wall-clock meaning:

* a time the spring-forward gap skips (02:30 on Europe/Berlin's last Sunday of March) is moved
  on by the gap, to 03:30 local (PEP 495's ``fold=0``): a window is never lost, it opens late;
* a time the fall-back repeats (02:30 on the last Sunday of October) is its first occurrence
  (still summer time).

No windows (``[]``) means any time. Pure functions over the settings and an aware UTC ``now``:
``is_open``, ``next_open`` and ``closed_reason`` (what the engine tells while a wave waits), and
``problems`` (what the project validator reports). See ``docs/rollouts.md``.
"""
import datetime
import functools
import re
import zoneinfo
from typing import Any

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_WINDOWS = 20
FIELDS = ("days", "start", "end", "timezone")
_MAX_ZONE = 64
_TIME_RE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_END_OF_DAY = "24:00"
_UTC = datetime.timezone.utc
#: How far ``next_open`` looks ahead: every window opens at least once a week.
_HORIZON_DAYS = 8


@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    """Every IANA zone name this runtime knows (system zoneinfo or the ``tzdata`` package)."""
    return frozenset(zoneinfo.available_timezones())


def _clock(text: str) -> datetime.time | None:
    """``"HH:MM"`` → a time (``"24:00"`` → None: the end of the day)."""
    if text == _END_OF_DAY:
        return None
    hours, minutes = text.split(":")
    return datetime.time(int(hours), int(minutes))


def _at(day: datetime.date, clock: datetime.time | None, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The UTC instant of wall-clock ``clock`` on ``day`` in ``zone`` (None: midnight after)."""
    if clock is None:
        day, clock = day + datetime.timedelta(days=1), datetime.time(0, 0)
    return datetime.datetime.combine(day, clock, tzinfo=zone).astimezone(_UTC)  # fold=0: see above


def _spans(window: dict, first: datetime.date, last: datetime.date):
    """``(opens, closes, zone)`` in UTC of ``window`` for each local opening day in ``first..last``."""
    zone = zoneinfo.ZoneInfo(window["timezone"])
    start, end = _clock(window["start"]), _clock(window["end"])
    overnight = end is not None and end <= start
    days = {DAYS.index(d) for d in window["days"]}
    day = first
    while day <= last:
        if day.weekday() in days:
            close_day = day + datetime.timedelta(days=1) if overnight else day
            yield _at(day, start, zone), _at(close_day, end, zone), zone
        day += datetime.timedelta(days=1)


def _local_day(window: dict, now: datetime.datetime) -> datetime.date:
    return now.astimezone(zoneinfo.ZoneInfo(window["timezone"])).date()


def is_open(windows: list[dict] | None, now: datetime.datetime) -> bool:
    """True when ``now`` is inside one of ``windows`` (or there are none)."""
    if not windows:
        return True
    for window in windows:
        today = _local_day(window, now)
        for opens, closes, _ in _spans(window, today - datetime.timedelta(days=1), today):
            if opens <= now < closes:
                return True
    return False


def _next(windows: list[dict], now: datetime.datetime) -> tuple[datetime.datetime, Any] | None:
    """The earliest opening after ``now`` and its zone, within a week and a day."""
    best = None
    for window in windows:
        today = _local_day(window, now)
        for opens, closes, zone in _spans(window, today, today + datetime.timedelta(days=_HORIZON_DAYS)):
            if opens > now and closes > opens and (best is None or opens < best[0]):
                best = (opens, zone)
    return best


def next_open(windows: list[dict] | None, now: datetime.datetime) -> datetime.datetime | None:
    """``now`` when a window is open, else the UTC instant the next one opens; None without
    windows."""
    if not windows:
        return None
    if is_open(windows, now):
        return now
    found = _next(windows, now)
    return found[0] if found else None


def closed_reason(windows: list[dict] | None, now: datetime.datetime) -> str | None:
    """Why a wave may not start at ``now`` ("outside its deploy windows; the next opens at
    <UTC> (<local> <zone>)"), or None when a window is open or none is set."""
    if is_open(windows, now):
        return None
    found = _next(windows, now)
    if found is None:  # cannot happen with valid windows (each opens every week)
        return "outside its deploy windows; none opens within a week"
    opens, zone = found
    local = opens.astimezone(zone)
    return (f"outside its deploy windows; the next opens at {opens.strftime('%Y-%m-%dT%H:%M:%SZ')} "
            f"({local.strftime('%a %Y-%m-%d %H:%M')} {zone.key})")


def problems(value: Any, path: str = "rollout.windows") -> dict[str, str]:
    """``{field path: message}`` for every problem of a ``windows`` value (empty when valid)."""
    found: dict[str, str] = {}
    if not isinstance(value, list):
        return {path: f"must be a list of at most {MAX_WINDOWS} windows "
                      "({days, start, end, timezone})"}
    if len(value) > MAX_WINDOWS:
        return {path: f"at most {MAX_WINDOWS} windows"}
    for index, window in enumerate(value):
        _window_problems(found, f"{path}[{index}]", window)
    return found


def _window_problems(found: dict[str, str], path: str, window: Any) -> None:
    if not isinstance(window, dict):
        found[path] = "must be an object {days, start, end, timezone}"
        return
    for key in window:
        if key not in FIELDS:
            found[f"{path}.{key}"] = "unknown field"
    for key in FIELDS:
        if key not in window:
            found[f"{path}.{key}"] = "is required"
    days = window.get("days")
    if "days" in window:
        if (not isinstance(days, list) or not days
                or not all(isinstance(d, str) and d in DAYS for d in days)):
            found[f"{path}.days"] = f"must be a non-empty list of {', '.join(DAYS)}"
        elif len(set(days)) != len(days):
            found[f"{path}.days"] = "lists a day twice"
    for key in ("start", "end"):
        text = window.get(key)
        if key in window and not (isinstance(text, str) and (
                _TIME_RE.fullmatch(text) or (key == "end" and text == _END_OF_DAY))):
            found[f"{path}.{key}"] = ("must be a 24-hour time HH:MM (00:00-23:59"
                                      f"{', or 24:00' if key == 'end' else ''})")
    start, end = window.get("start"), window.get("end")
    if f"{path}.start" not in found and f"{path}.end" not in found and start == end \
            and start is not None:
        found[f"{path}.end"] = "must differ from start (an end before the start runs past midnight)"
    zone = window.get("timezone")
    if "timezone" in window and not (isinstance(zone, str) and len(zone) <= _MAX_ZONE
                                     and zone in _zones()):
        found[f"{path}.timezone"] = ("is not an IANA time zone (such as Europe/Berlin, "
                                     "America/New_York or UTC)")
