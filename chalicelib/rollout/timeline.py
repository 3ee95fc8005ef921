"""When each wave of a rollout started and finished (``Rollout.wave_times``), and when a bake ends.

``Rollout.wave_times`` holds one ``{"started_at", "finished_at"}`` entry per planned wave (ISO
strings or None; at most ``MAX_WAVES`` entries, the validator's limit on waves). The engine
stamps a wave's start when it releases it (``started``) and its finish once every host of the
wave has ended (``finished``); a wave that reopens (hosts added, failed hosts retried on resume)
loses its finish until it ends again. Pure functions over the ``Rollout`` item and host items:
the engine writes what they return. ``rows`` and ``bake_until`` are what the rollout view shows.
"""
import datetime
from collections.abc import Iterable

from chalicelib.models import HostState, Rollout
from chalicelib.projects.schema import MAX_WAVES
from chalicelib.states import HOST_DONE, RolloutState
from chalicelib.times import format_time


def _times(rollout: Rollout) -> list[dict]:
    """The stored entries, one per planned wave (missing ones empty)."""
    count = min(len(rollout.waves or []), MAX_WAVES)
    stored = [dict(t) for t in (rollout.wave_times or [])[:count] if isinstance(t, dict)]
    return stored + [{"started_at": None, "finished_at": None}
                     for _ in range(count - len(stored))]


def started(rollout: Rollout, first: int, upto: int, now: datetime.datetime,
            wave_count: int | None = None) -> list[dict]:
    """``wave_times`` with waves ``first``..``upto`` started at ``now`` (``wave_count``: the
    number of waves when the rollout is being planned and ``waves`` is not stored yet)."""
    if wave_count is None:
        times = _times(rollout)
    else:
        times = [{"started_at": None, "finished_at": None}
                 for _ in range(min(wave_count, MAX_WAVES))]
    for index in range(first, min(upto + 1, len(times))):
        times[index] = {"started_at": format_time(now), "finished_at": None}
    return times


def finished(rollout: Rollout, items: Iterable[HostState],
             now: datetime.datetime) -> list[dict] | None:
    """``wave_times`` with every released wave whose hosts have all ended marked finished at
    ``now`` (and a reopened one unmarked); None when nothing changed."""
    times = _times(rollout)
    open_waves = {int(i.wave) for i in items if i.status not in HOST_DONE}
    changed = False
    for index in range(min(int(rollout.wave) + 1, len(times))):
        entry = times[index]
        done = index not in open_waves
        if done and entry.get("finished_at") is None:
            entry["finished_at"] = format_time(now)
            entry["started_at"] = entry.get("started_at") or _fallback_start(rollout, index)
            changed = True
        elif not done and entry.get("finished_at") is not None:
            entry["finished_at"] = None
            changed = True
    return times if changed else None


def reopened(rollout: Rollout, wave: int) -> list[dict] | None:
    """``wave_times`` with ``wave``'s finish removed (hosts joined it); None when unchanged."""
    times = _times(rollout)
    if wave >= len(times) or times[wave].get("finished_at") is None:
        return None
    times[wave]["finished_at"] = None
    return times


def _fallback_start(rollout: Rollout, index: int) -> str | None:
    """A rollout planned before ``wave_times`` existed knows only its current wave's start."""
    return format_time(rollout.wave_started_at) if index == int(rollout.wave) else None


def rows(rollout: Rollout) -> list[dict]:
    """``[{"started_at", "finished_at"}]`` per wave as the view shows them (ISO or None)."""
    times = _times(rollout)
    waves = rollout.waves or []
    result = []
    for index in range(len(waves)):
        entry = times[index] if index < len(times) else {}
        start, finish = entry.get("started_at"), entry.get("finished_at")
        if not rollout.wave_times and index == int(rollout.wave) \
                and rollout.state not in (RolloutState.SCHEDULED, RolloutState.WAITING_RELEASE):
            start = format_time(rollout.wave_started_at)
            finish = format_time(rollout.wave_done_at)
        result.append({"started_at": start, "finished_at": finish})
    return result


def bake_until(rollout: Rollout, now: datetime.datetime) -> datetime.datetime | None:
    """When the running bake ends (the current wave is done, a next wave waits for
    ``bake_seconds``), or None when no bake is running at ``now``."""
    settings = rollout.settings or {}
    bake = int(settings.get("bake_seconds") or 0)
    if (rollout.state != RolloutState.RUNNING or rollout.wave_done_at is None or bake <= 0
            or not settings.get("auto_promote", True)
            or int(rollout.wave) >= len(rollout.waves or []) - 1):
        return None
    until = rollout.wave_done_at + datetime.timedelta(seconds=bake)
    return until if now < until else None

