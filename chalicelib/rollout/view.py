"""The read side of rollouts: what ``GET /api/v1/project/{id}`` shows about hosts and waves.

``summary`` is the newest rollout with per-wave host counts by status, per-wave start and
finish times, the end of a running bake and the tick's last error driving it; ``hosts`` lists each
host's target, running version, status, last report, and flags drift (running something other
than its target) and silence (no poll for a while). Both read with Queries only: the project's
rollouts partition and the hosts ``project-index``. Nothing here writes.
"""
import datetime

from chalicelib.models import HostState, Rollout
from chalicelib.projects import hostlist
from chalicelib.rollout import alarms, analysis, freeze, hostitems, plan, store, timeline, windows
from chalicelib.states import (HOST_FAILED, HOST_UNKNOWN, ROLLOUT_ACTIVE, ROLLOUT_NOT_STARTED, HostStatus,
                               RolloutState)
from chalicelib.times import format_time, utcnow

#: The rollout settings the summary echoes (those a rollout was started with).
_SHOWN_SETTINGS = ("waves", "bake_seconds", "max_failures", "auto_promote", "auto_rollback",
                   "rollback_mode", "max_parallel", "deploy_timeout", "analysis", "windows",
                   "alarms", "alarm_watch_seconds")
#: Host items at rest on a version: running anything but their target there is drift.
_SETTLED = frozenset({HostStatus.SUCCEEDED, HostStatus.IDLE, HostStatus.SKIPPED})
#: Rollouts that have not released a wave yet.
#: ``status`` of a host of the project that has no item yet.
_LISTED = 100


def active_state(project_id: str) -> str | None:
    """The state of the project's newest rollout if the tick still drives it, else None."""
    rollout = store.newest(project_id)
    if rollout is not None and rollout.state in ROLLOUT_ACTIVE:
        return rollout.state
    return None


def summary(project_id: str) -> dict | None:
    """The newest rollout: state, reason, waves with per-status host counts, failures, lost,
    silent and blocked hosts; None when the project has no rollout."""
    rollout = store.newest(project_id)
    if rollout is None:
        return None
    mine = [i for i in hostitems.all_items(project_id) if i.rollout_id == rollout.rollout_id]
    counts = plan.wave_counts(mine)
    silent = _silent_hosts(mine)
    started = rollout.state not in ROLLOUT_NOT_STARTED
    times = timeline.rows(rollout)
    judged = analysis.rows(rollout)
    waves = []
    for index, size in enumerate(rollout.waves or []):
        waves.append({"wave": index, "size": size, "counts": counts.get(index, {}),
                      "released": index <= int(rollout.wave) and started,
                      "silent": sum(1 for i in silent if int(i.wave) == index), **times[index],
                      "analysis": judged[index]})
    settings = store.settings(rollout)
    return {"id": rollout.rollout_id, "version": rollout.version,
            "previous_version": rollout.previous_version, "state": rollout.state,
            "reason": rollout.reason, "wave": int(rollout.wave), "waves": waves,
            "rollback_to": rollout.rollback_to,
            "failures": sum(1 for i in mine if i.status in HOST_FAILED),
            "lost": sorted(i.host for i in mine if i.status == HostStatus.LOST)[:_LISTED],
            "silent": sorted(i.host for i in silent)[:_LISTED],
            "blocked": [{"host": i.host, "reason": i.blocked_reason} for i in mine
                        if i.blocked_reason and i.status == HostStatus.PENDING][:_LISTED],
            "settings": {k: settings.get(k) for k in _SHOWN_SETTINGS if k in settings},
            "start_at": format_time(rollout.start_at),
            "wave_started_at": format_time(rollout.wave_started_at),
            "wave_done_at": format_time(rollout.wave_done_at),
            "bake_until": format_time(timeline.bake_until(rollout, utcnow())),
            "error": rollout.error, "analysis": analysis.watching(rollout, utcnow()),
            "window": _window(settings.get("windows")),
            "finished_at": format_time(rollout.finished_at), "created_by": rollout.created_by,
            "watching": _watching(rollout)}


def _window(spec: list | None) -> dict | None:
    """``{"open", "next_open"}`` of the deploy windows (None without any)."""
    if not spec:
        return None
    now = utcnow()
    return {"open": windows.is_open(spec, now),
            "next_open": format_time(windows.next_open(spec, now))}


def _watching(rollout: Rollout) -> dict:
    """What holds or watches the rollout: its alarms (last states the tick read, the watch's
    end and time left) and the stage's freeze (only while the rollout is active)."""
    watched = alarms.shown(rollout, utcnow()) or {}
    item = freeze.current() if rollout.state in ROLLOUT_ACTIVE else None
    frozen = freeze.to_dict(item) if item is not None else None
    return {"alarms": watched.get("alarms", []), "alarm_error": watched.get("alarm_error"),
            "window_seconds": watched.get("window_seconds"), "until": watched.get("until"),
            "seconds_left": watched.get("seconds_left"), "frozen": frozen}


def _silent_hosts(items: list[HostState]) -> list[HostState]:
    """Hosts that have stopped polling (shown apart from script failures, never counted)."""
    cutoff = utcnow() - store.silent_after()
    return [i for i in items if i.last_seen is not None and i.last_seen < cutoff]


def hosts(project_id: str, spec: dict) -> dict:
    """Per-host rows of the project's ``spec["hosts"]``, plus the versions seen on hosts and the
    drift/silent counts."""
    now = utcnow()
    silent_after = store.silent_after()
    items = {i.host: i for i in hostitems.all_items(project_id)}
    rows, seen = [], {}
    for host in hostlist.names(spec):
        item = items.get(host)
        rows.append(_host_row(host, item, now - silent_after) if item else _unknown_row(host))
        running = item.running_version if item else None
        if running:
            seen[running] = seen.get(running, 0) + 1
    return {"hosts": rows, "versions_seen": seen,
            "drift": sum(1 for r in rows if r["drift"]),
            "silent": sum(1 for r in rows if r["silent"])}


def _host_row(host: str, item: HostState, silent_before: datetime.datetime) -> dict:
    running, target = item.running_version, item.target_version
    return {"host": host, "target_version": target, "running_version": running,
            "status": item.status, "wave": int(item.wave), "deploy_id": item.deploy_id,
            "last_phase": item.last_phase, "last_status": item.last_status,
            "reported_at": format_time(item.reported_at), "last_seen": format_time(item.last_seen),
            "blocked_reason": item.blocked_reason,
            "drift": bool(running and target and running != target and item.status in _SETTLED),
            "silent": bool(item.last_seen and item.last_seen < silent_before)}


def _unknown_row(host: str) -> dict:
    return {"host": host, "target_version": None, "running_version": None,
            "status": HOST_UNKNOWN, "wave": None, "deploy_id": None, "last_phase": None,
            "last_status": None, "reported_at": None, "last_seen": None, "blocked_reason": None,
            "drift": False, "silent": False}

