"""The read side of rollouts: what ``GET /api/v1/project/{id}`` shows about hosts and waves.

``summary`` is the newest rollout with per-wave host counts by status; ``hosts`` lists each
host's target, running version, status, last report, and flags drift (running something other
than its target) and silence (no poll for a while). Both read with Queries only: the project's
rollouts partition and the hosts ``project-index``.
"""
import datetime

from pynamodb.exceptions import UpdateError

from chalicelib import config
from chalicelib.models import HostState, Rollout, utcnow
from chalicelib.projects.validation import format_time

ACTIVE_STATES = ("scheduled", "waiting_release", "running", "paused", "halted", "rolling_back")
#: States in which hosts may be mid-deploy: deleting the project then needs ``?force=true``.
IN_PROGRESS_STATES = ("running", "paused", "halted", "rolling_back")
FINAL_STATES = ("succeeded", "rolled_back", "superseded", "cancelled", "failed")



def latest(project_id):
    for rollout in Rollout.query(project_id, scan_index_forward=False, limit=1):
        return rollout
    return None


def active_state(project_id):
    rollout = latest(project_id)
    if rollout is not None and rollout.state in ACTIVE_STATES:
        return rollout.state
    return None


def deactivate(project_id, actor):
    """Take a deleted project's rollout out of the tick's index (conditional on its seq)."""
    rollout = latest(project_id)
    if rollout is None or rollout.state not in ACTIVE_STATES:
        return
    try:
        rollout.update(actions=[Rollout.state.set("cancelled"), Rollout.active_pk.remove(),
                                Rollout.reason.set(f"project deleted by {actor}"),
                                Rollout.finished_at.set(utcnow())])
    except UpdateError:
        pass  # the tick moved it meanwhile; a deleted project's rollout ends on its next look


def _host_items(project_id):
    return list(HostState.project_index.query(project_id))


def wave_counts(items):
    """``{wave: {status: count}}`` from host items."""
    counts = {}
    for item in items:
        per_wave = counts.setdefault(int(item.wave), {})
        per_wave[item.status] = per_wave.get(item.status, 0) + 1
    return counts


def summary(project_id, items=None):
    """The newest rollout: state, reason, waves with per-status host counts, failures, lost,
    silent and blocked hosts."""
    rollout = latest(project_id)
    if rollout is None:
        return None
    items = _host_items(project_id) if items is None else items
    mine = [i for i in items if i.rollout_id == rollout.rollout_id]
    counts = wave_counts(mine)
    silent = _silent_hosts(mine)
    waves = []
    for index, size in enumerate(rollout.waves or []):
        waves.append({"wave": index, "size": size, "counts": counts.get(index, {}),
                      "released": index <= int(rollout.wave) and rollout.state not in (
                          "scheduled", "waiting_release"),
                      "silent": sum(1 for i in silent if int(i.wave) == index)})
    settings = rollout.settings or {}
    return {"id": rollout.rollout_id, "version": rollout.version,
            "previous_version": rollout.previous_version, "state": rollout.state,
            "reason": rollout.reason, "wave": int(rollout.wave), "waves": waves,
            "rollback_to": rollout.rollback_to,
            "failures": sum(1 for i in mine if i.status in ("failed", "lost")),
            "lost": sorted(i.host for i in mine if i.status == "lost")[:100],
            "silent": sorted(i.host for i in silent)[:100],
            "blocked": [{"host": i.host, "reason": i.blocked_reason} for i in mine
                        if i.blocked_reason and i.status == "pending"][:100],
            "settings": {k: settings.get(k) for k in ("waves", "bake_seconds", "max_failures",
                                                      "auto_promote", "auto_rollback",
                                                      "rollback_mode", "max_parallel",
                                                      "deploy_timeout") if k in settings},
            "start_at": format_time(rollout.start_at),
            "wave_started_at": format_time(rollout.wave_started_at),
            "wave_done_at": format_time(rollout.wave_done_at),
            "finished_at": format_time(rollout.finished_at), "created_by": rollout.created_by}


def _silent_hosts(items):
    """Hosts that have stopped polling (shown apart from script failures, never counted)."""
    cutoff = utcnow() - _silent_after()
    return [i for i in items if i.last_seen is not None and i.last_seen < cutoff]


def _silent_after():
    return datetime.timedelta(seconds=config.int_setting("FABU_SILENT_SECONDS", 1800))


def hosts(project_id, spec, items=None):
    """Per-host rows plus the versions seen on hosts and the drift/silent counts."""
    now = utcnow()
    items = {i.host: i for i in (_host_items(project_id) if items is None else items)}
    rows, seen = [], {}
    for host in spec.get("hosts", []):
        item = items.get(host)
        running = item.running_version if item else None
        target = item.target_version if item else None
        silent = bool(item and item.last_seen and now - item.last_seen > _silent_after())
        rows.append({"host": host, "target_version": target, "running_version": running,
                     "status": item.status if item else "unknown",
                     "wave": int(item.wave) if item else None,
                     "deploy_id": item.deploy_id if item else None,
                     "last_phase": item.last_phase if item else None,
                     "last_status": item.last_status if item else None,
                     "reported_at": format_time(item.reported_at) if item else None,
                     "last_seen": format_time(item.last_seen) if item else None,
                     "blocked_reason": item.blocked_reason if item else None,
                     "drift": bool(running and target and running != target
                                   and item.status in ("succeeded", "idle", "skipped")),
                     "silent": silent})
        if running:
            seen[running] = seen.get(running, 0) + 1
    return {"hosts": rows, "versions_seen": seen,
            "drift": sum(1 for r in rows if r["drift"]),
            "silent": sum(1 for r in rows if r["silent"])}
