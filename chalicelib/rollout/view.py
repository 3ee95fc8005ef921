"""The read side of rollouts: what ``GET /api/v1/project/{id}`` shows about hosts and waves.

``summary`` is the newest rollout with per-wave host counts by status, per-wave start and
finish times, the end of a running bake and the tick's last error driving it; ``hosts`` lists each
host's target, running version, status, last report, and flags drift (``chalicelib.drift``: the
newest known running version is not what fabu deployed; both are shown) and silence (no poll for
``FABU_SILENT_SECONDS``: from the hosts' beats, ``chalicelib.hosts.beat``), with each host's zone, member kind, traffic draining and when it joined or left the
fleet (``member_row``, also the rows of the hosts route: ``rollout.members_view``); for a fleet it
returns the first rows and counts over all of them. Both read with Queries only: the project's
rollouts partition, the hosts ``project-index`` and, when a host could be silent, one Query per
host's beat, read in batches (``beat.Silence``: pass one to both to read it once). Nothing here writes.
"""
import datetime

from chalicelib import drift
from chalicelib.fleet.memberset import FLEET
from chalicelib.hosts import beat
from chalicelib.models import HostState, Rollout
from chalicelib.projects import hostlist
from chalicelib.rollout import alarms, analysis, freeze, hostitems, plan, store, timeline, windows
from chalicelib.states import (HOST_FAILED, HOST_GONE, HOST_IN_FLIGHT, HOST_UNKNOWN, ROLLOUT_ACTIVE,
                               ROLLOUT_NOT_STARTED, HostStatus, RolloutState)
from chalicelib.times import format_time, utcnow

#: The rollout settings the summary echoes (those a rollout was started with).
_SHOWN_SETTINGS = ("waves", "bake_seconds", "max_failures", "auto_promote", "auto_rollback",
                   "rollback_mode", "max_parallel", "deploy_timeout", "analysis", "windows",
                   "alarms", "alarm_watch_seconds", "zones")
#: Rollouts that have not released a wave yet.
#: ``status`` of a host of the project that has no item yet.
_LISTED = 100
#: ``member`` of a host of ``spec.hosts`` (items written before fleets have none: listed too).
LISTED = "listed"
MEMBER_KINDS = (LISTED, FLEET)
#: Host rows the project view returns at most (every listed host first, then fleet members up to
#: this many rows); the hosts route (``rollout.members_view``) pages through every one.
VIEW_ROWS = 500
#: Rows of hosts that left the fleet the view adds at most (newest first).
LEFT_ROWS = 50
#: What a row shows of an item's ``drain`` (``rollout.drain``).
_DRAIN_FIELDS = ("state", "target_groups", "since", "until")
_LAST_DAY = datetime.timedelta(days=1)


def active_state(project_id: str) -> str | None:
    """The state of the project's newest rollout if the tick still drives it, else None."""
    rollout = store.newest(project_id)
    if rollout is not None and rollout.state in ROLLOUT_ACTIVE:
        return rollout.state
    return None


def summary(project_id: str, items: list[HostState] | None = None,
            silence: beat.Silence | None = None, *, newest: Rollout | None = None) -> dict | None:
    """The newest rollout: state, reason, waves with per-status host counts, failures, lost,
    silent and blocked hosts; None when the project has no rollout. ``items``: the project's
    host items when the caller read them already; hosts that left the fleet count nowhere;
    ``silence``: the silent hosts if the caller has them (else read when needed); ``newest``:
    the newest rollout if the caller read it already (``store.newest``)."""
    rollout = store.newest(project_id) if newest is None else newest
    if rollout is None:
        return None
    items = hostitems.all_items(project_id) if items is None else items
    mine = [i for i in items if i.rollout_id == rollout.rollout_id and i.status not in HOST_GONE]
    counts = plan.wave_counts(mine)
    silence = silence or beat.silence(utcnow())
    silence.know(mine)
    silent = [i for i in mine if silence.is_silent(i)]
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
            "revision": int(rollout.revision or 0),  # config-only revision of the version
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


def hosts(project_id: str, spec: dict, items: list[HostState] | None = None,
          silence: beat.Silence | None = None) -> dict:
    """The project's hosts as the project view shows them (``items``: read already, else one
    paged Query on ``project-index``).

    Rows: every listed host in its order (at most ``schema.MAX_HOSTS``), then the fleet's members
    (failed and lost first, then those in flight, then by name) up to ``VIEW_ROWS`` rows in all
    (``truncated`` says when members were left out: the hosts route
    ``GET /api/v1/project/{id}/hosts`` pages through all of them); then at most ``LEFT_ROWS``
    members that left the fleet, newest first, apart (``left``: they count nowhere else). Counts
    (per status, zone and member kind), the versions seen, drift and silence are over every host.
    """
    now = utcnow()
    silence = silence or beat.silence(now)
    items = hostitems.all_items(project_id) if items is None else items
    by_host = {i.host: i for i in items}
    listed = hostlist.names(spec)
    zones = hostlist.zones(spec)
    rows = [member_row(by_host[h], silence, zones, listed=True) if h in by_host
            else dict(_unknown_row(h), **_member_fields(None, zones.get(h), LISTED))
            for h in dict.fromkeys(listed)]
    taken = set(listed)
    members = [i for i in items if i.host not in taken and i.member == FLEET]
    gone = sorted((i for i in members if i.status in HOST_GONE),
                  key=lambda i: i.left_at or i.updated_at, reverse=True)
    members = sorted((i for i in members if i.status not in HOST_GONE), key=_needs_a_look)
    shown = max(VIEW_ROWS, len(rows))
    silence.know([by_host[h] for h in listed if h in by_host] + members)  # shown rows first
    rows += [member_row(i, silence, zones) for i in members]
    return {"hosts": rows[:shown] + [member_row(i, silence, zones) for i in gone[:LEFT_ROWS]],
            "total": len(rows), "shown": min(len(rows), shown),
            "truncated": len(rows) > shown, "more": f"/api/v1/project/{project_id}/hosts",
            "versions_seen": _count(r["running"] for r in rows if r["running"]),
            "drift": sum(1 for r in rows if r["drift"]),
            "silent": sum(1 for r in rows if r["silent"]), "silent_truncated": silence.truncated,
            "counts": {"status": _count(r["status"] for r in rows),
                       "zone": _count(r["zone"] or "" for r in rows),
                       "member": _count(r["member"] for r in rows)},
            "left": len(gone),
            "last_day": {"joined": sum(1 for i in members + gone if _since(i.joined_at, now)),
                         "left": sum(1 for i in gone if _since(i.left_at, now))}}


def member_row(item: HostState, silence: beat.Silence, zones: dict[str, str],
               listed: bool = False) -> dict:
    """One host item's row: its deploy (``_host_row``), how it belongs to the project, its zone
    (the item's, else the listed host's), traffic draining, when it joined and left;
    ``silence``: the silent hosts now (``beat.silence``)."""
    kind = LISTED if listed else (item.member or LISTED)
    return dict(_host_row(item.host, item, silence),
                **_member_fields(item, item.zone or zones.get(item.host), kind))


def _member_fields(item: HostState | None, zone: str | None, kind: str) -> dict:
    drain = item.drain if item is not None and isinstance(item.drain, dict) else None
    return {"member": kind, "zone": zone,
            "drain": {k: drain.get(k) for k in _DRAIN_FIELDS} if drain else None,
            "seen_version": item.seen_version if item is not None else None,
            "joined_at": format_time(item.joined_at) if item is not None else None,
            "left_at": format_time(item.left_at) if item is not None else None}


def _needs_a_look(item: HostState) -> tuple[int, str]:
    rank = 0 if item.status in HOST_FAILED else 1 if item.status in HOST_IN_FLIGHT else 2
    return rank, item.host


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _since(moment: datetime.datetime | None, now: datetime.datetime) -> bool:
    return moment is not None and now - moment <= _LAST_DAY


def _host_row(host: str, item: HostState, silence: beat.Silence) -> dict:
    return {"host": host, "target_version": item.target_version,
            "running_version": item.running_version,
            "status": item.status, "wave": int(item.wave), "deploy_id": item.deploy_id,
            "last_phase": item.last_phase, "last_status": item.last_status,
            "reported_at": format_time(item.reported_at),
            "last_seen": format_time(silence.last_seen(item)),
            "blocked_reason": item.blocked_reason,
            "drift": drift.drift(item) is not None,
            "expected": drift.expected(item),
            "running": drift.running(item), "seen_at": format_time(item.seen_at),
            "silent": silence.is_silent(item)}


def _unknown_row(host: str) -> dict:
    return {"host": host, "target_version": None, "running_version": None,
            "status": HOST_UNKNOWN, "wave": None, "deploy_id": None, "last_phase": None,
            "last_status": None, "reported_at": None, "last_seen": None, "blocked_reason": None,
            "drift": False, "expected": None, "running": None, "seen_at": None, "silent": False}

