"""The per-tick fleet membership sync: sweep every selector once, diff each project, write changes.

Every tick, before the rollouts are driven (``run_in_tick``, with its own time budget and in
isolation: its failure or slowness never holds a rollout):

1. the projects with a ``fleet`` (one Query on the sparse ``fleet-index``, a BatchGet of them);
2. one sweep per distinct selector (``chalicelib.fleet.sweep``), whichever projects share it;
3. per project, concurrently (``WORKERS``): its members from the sweep (listed hosts are left
   out: a listed host is one host, listed wins), diffed against its stored set
   (``memberset``; rebuilt from the items when missing or from another selector). Only the
   joins and leaves are written (``joins``; at most ``max_changes()`` a project a tick, the
   rest next tick, said as ``more``), under the rollout's lock when the newest rollout's wave
   sizes change with them; the new set is stored only after those writes, so a sync cut short
   is completed by the next one. Leavers kept longer than ``retention()`` are deleted (at most
   ``MAX_RETIRE`` a project a tick).

A selector that could not be swept (throttled, denied, a missing group, unfinished in the budget)
never makes anyone leave: its projects keep their members and a ``fleet.sync_failed`` event
says why, once per distinct error; ``fleet.sync_recovered`` when it syncs again.
"""
import collections
import concurrent.futures
import contextlib
import datetime
import logging
import time

from chalicelib import config, events
from chalicelib.errors import Conflict
from chalicelib.fleet import joins, memberset, selectors, sweep
from chalicelib.models import FLEET_PK, HostState, Project, Rollout
from chalicelib.projects import hostlist
from chalicelib.rollout import failures, lock, store, summary, timeline
from chalicelib.states import ROLLOUT_ACTIVE, ROLLOUT_NOT_STARTED, RolloutState
from chalicelib.times import format_time, parse_time

log = logging.getLogger("fabu.fleet")

WORKERS = 8
#: At most this many fleet projects are synced a tick (``truncated`` says when hit).
MAX_PROJECTS = 5000
DEFAULT_CHANGES, MAX_CHANGES = 500, 10000
#: At most this many leavers a project are deleted a tick once past their retention.
MAX_RETIRE = 200
DEFAULT_RETENTION_DAYS = 7
#: How long the sync waits for a rollout's lock held by someone else (then: next tick).
LOCK_WAIT_SECONDS = 2.0
#: How long the tick waits past the sync's budget before it drives the rollouts anyway.
GRACE_SECONDS = 2.0
GENERIC_WHY = ("no longer a running EC2 instance with the fleet's tags nor InService in its "
               "Auto Scaling groups (terminated, stopped, detached or retagged)")


def max_changes() -> int:
    """Joins and leaves written a project a tick (``FABU_FLEET_MAX_CHANGES``, 1..10,000)."""
    return min(max(config.int_setting("FABU_FLEET_MAX_CHANGES", DEFAULT_CHANGES), 1), MAX_CHANGES)


def retention() -> datetime.timedelta:
    """How long a leaver's item is kept (``FABU_LEFT_RETENTION_DAYS``, default 7, at least 0)."""
    days = max(config.int_setting("FABU_LEFT_RETENTION_DAYS", DEFAULT_RETENTION_DAYS), 0)
    return datetime.timedelta(days=days)


def run_in_tick(now: datetime.datetime, budget: float) -> dict:
    """``run`` within ``budget`` seconds, isolated: never raises, never holds the tick past
    ``budget`` + ``GRACE_SECONDS`` (a sync still running then is reported ``unfinished`` and
    goes on beside the rollouts: every write it makes is conditional)."""
    return failures.isolated(lambda deadline: run(now, deadline), budget, GRACE_SECONDS,
                             "the fleet sync")


def run(now: datetime.datetime, deadline: float) -> dict:
    """One sync by ``deadline`` (``time.monotonic``). The outcome::

        {"projects": n, "members": n, "calls": {"DescribeInstances": n, ...}, "joined": n,
         "left": n, "retired": n, "errors": {project: why}, "more": [projects with changes
         left for the next tick], "unfinished": [projects], "truncated": bool, "elapsed_seconds"}
    """
    started = time.monotonic()
    outcome = {"projects": 0, "members": 0, "calls": {}, "joined": 0, "left": 0, "retired": 0,
               "errors": {}, "more": [], "unfinished": [], "truncated": False}
    projects = _fleet_projects(outcome)
    outcome["projects"] = len(projects)
    if projects:
        swept = sweep.run([p.spec["fleet"] for p in projects], deadline)
        outcome["calls"] = dict(swept.calls)
        _sync_all(projects, swept, now, deadline, outcome)
    outcome["elapsed_seconds"] = round(time.monotonic() - started, 3)
    if outcome["errors"] or outcome["unfinished"] or outcome["more"] or outcome["truncated"]:
        log.warning("tick: fleet sync of %d projects: errors %s, unfinished %s, more next tick %s%s",
                    len(projects), sorted(outcome["errors"]), outcome["unfinished"],
                    outcome["more"], ", more fleet projects than read" if outcome["truncated"] else "")
    return outcome


def _fleet_projects(outcome: dict) -> list[Project]:
    ids = [p.id for p in Project.fleet_index.query(FLEET_PK, limit=MAX_PROJECTS)]
    outcome["truncated"] = len(ids) >= MAX_PROJECTS
    found = [p for p in Project.batch_get(ids) if (p.spec or {}).get("fleet")] if ids else []
    return sorted(found, key=lambda p: p.id)


def _sync_all(projects: list[Project], swept: sweep.Sweep, now: datetime.datetime,
              deadline: float, outcome: dict) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(WORKERS, len(projects)),
                                                 thread_name_prefix="fleet")
    try:
        futures = {pool.submit(_isolated, p, swept, now, deadline): p for p in projects}
        done, _ = concurrent.futures.wait(futures, timeout=max(deadline - time.monotonic(), 0)
                                          + GRACE_SECONDS)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for future, project in futures.items():
        if future not in done:
            outcome["unfinished"].append(project.id)
            continue
        result = future.result()
        for name in ("joined", "left", "retired", "members"):
            outcome[name] += result.get(name, 0)
        if result.get("error"):
            outcome["errors"][project.id] = result["error"]
        if result.get("more"):
            outcome["more"].append(project.id)


def _isolated(project: Project, swept: sweep.Sweep, now: datetime.datetime,
              deadline: float) -> dict:
    """One project's sync; never raises (its error is told once and reported)."""
    try:
        return _sync_project(project, swept, now, deadline)
    except Conflict:
        return {"more": True}  # its rollout is locked by a tick or a control: next tick
    except Exception as exc:  # noqa: BLE001 - isolation: the other projects go on
        log.exception("tick: the fleet sync of %s failed", project.id)
        error = failures.describe(exc)
        with contextlib.suppress(Exception):
            _tell_failure(project, memberset.load(project.id), error, now)
        return {"error": error}


def _sync_project(project: Project, swept: sweep.Sweep, now: datetime.datetime,
                  deadline: float) -> dict:
    fleet = project.spec["fleet"]
    found, others, errors = swept.of(fleet)
    stored = memberset.load(project.id)
    if not errors and len(found) > memberset.MAX_MEMBERS:
        errors = [f"{len(found)} members, more than the {memberset.MAX_MEMBERS} a fleet may have"]
    if errors:
        error = "; ".join(errors)
        _tell_failure(project, stored, error, now)
        return {"error": error, "members": len(stored.members)}
    listed = set(hostlist.names(project.spec))
    found = {host: zone for host, zone in found.items() if host not in listed}
    key = selectors.fleet_key(fleet, format_time(project.created_at))
    base = stored if stored.key == key else memberset.from_items(project.id, stored)
    members, left = dict(base.members), dict(base.left)
    leaves = sorted(h for h in base.members if h not in found)
    arrivals = sorted(h for h in found if h not in base.members)
    limit = max_changes()
    todo_leaves = leaves[:limit]
    todo_joins = arrivals[:limit - len(todo_leaves)]
    result = {"joined": 0, "left": 0, "retired": 0,
              "more": len(leaves) + len(arrivals) > len(todo_leaves) + len(todo_joins)}
    for host in [h for h in todo_leaves if h in listed]:
        members.pop(host)  # listed now: it stays, as a listed host
    todo_leaves = [h for h in todo_leaves if h not in listed]
    if todo_leaves or todo_joins:
        done = _apply(project.id, found, others, todo_joins, todo_leaves, members, left, now,
                      deadline)
        result.update(done)
    result["retired"] = _retire(project.id, left, now, deadline)
    if (members, left) != (stored.members, stored.left) or base is not stored:
        memberset.save(project.id, stored, members, left)
    if stored.key != key or stored.error:
        memberset.save_meta(project.id, key, None, None)
        if stored.error:
            events.record(project.id, "fleet.sync_recovered", joins.ACTOR,
                          {"error": stored.error, "members": len(members)},
                          message=f"the fleet synced again ({len(members)} members)")
    result["members"] = len(members)
    if len(members) != len(stored.members):
        summary.set_members(project.id, len(members))  # the project list's host total
    return result


def _apply(project_id: str, found: dict[str, str], others: dict[str, str], todo_joins: list[str],
           todo_leaves: list[str], members: dict[str, str], left: dict[str, str],
           now: datetime.datetime, deadline: float) -> dict:
    """Write the leaves then the joins (until ``deadline``), updating ``members``/``left`` for
    each one done, under the newest rollout's lock; resize its waves to match."""
    keys = [(h, project_id) for h in todo_leaves + todo_joins]
    items = {i.host: i for i in HostState.batch_get(keys, consistent_read=True)}
    counts = {"joined": 0, "left": 0, "more": False}
    with _locked(project_id) as rollout:
        place = joins.placement(rollout)
        shrink: collections.Counter = collections.Counter()
        grow, moves, sizes = 0, [], list(rollout.waves or []) if rollout is not None else []
        for host in todo_leaves:
            if time.monotonic() > deadline:
                counts["more"] = True
                break
            item = items.get(host)
            was = (int(item.wave), str(item.status)) if item is not None else None
            outcome = joins.leave(project_id, item, others.get(host) or GENERIC_WHY, now)
            if outcome == joins.RACED:
                counts["more"] = True
                continue
            members.pop(host, None)
            if outcome == joins.LEFT:
                left[host] = format_time(now)
                counts["left"] += 1
                if rollout is not None and item.rollout_id == rollout.rollout_id:
                    shrink[int(item.wave)] += 1
                    moves.append((was[0], was[1], -1))
        for host in todo_joins:
            if time.monotonic() > deadline:
                counts["more"] = True
                break
            outcome = joins.join(project_id, host, found[host], items.get(host), place, now)
            if outcome == joins.RACED:
                counts["more"] = True
                continue
            members[host] = found[host]
            left.pop(host, None)
            if outcome in (joins.JOINED, joins.REJOINED):
                counts["joined"] += 1
                grow += place.grows is not None
                if rollout is not None and place.rollout_id == rollout.rollout_id:
                    moves.append((place.wave, str(place.status), 1))
        if rollout is not None and (grow or shrink):
            _resize(rollout, place, grow, shrink)
        if rollout is not None and moves:
            summary.shift(rollout, moves, sizes)  # the list's counts follow joins and leaves
    return counts


@contextlib.contextmanager
def _locked(project_id: str):
    """The project's newest rollout under its lock (None, unlocked, when it has none)."""
    if store.newest(project_id) is None:
        yield None
        return
    with lock.locked(project_id, wait=LOCK_WAIT_SECONDS) as rollout:
        yield rollout


def _resize(rollout: Rollout, place: joins.Placement, grow: int,
            shrink: collections.Counter) -> None:
    """The rollout's wave sizes follow its hosts: joins grow ``place.grows``; leavers of an
    active, started rollout shrink their waves (so totals and thresholds count members only)."""
    waves = list(rollout.waves or [])
    changes = {}
    if grow:
        waves += [0] * (place.grows + 1 - len(waves))
        waves[place.grows] += grow
        reopened = (timeline.reopened(rollout, place.grows)
                    if rollout.state in (RolloutState.RUNNING, RolloutState.PAUSED) else None)
        if reopened is not None:
            changes["wave_times"] = reopened
    if rollout.state in ROLLOUT_ACTIVE and rollout.state not in ROLLOUT_NOT_STARTED:
        for wave, count in shrink.items():
            if wave < len(waves):
                waves[wave] = max(0, waves[wave] - count)
    if waves != list(rollout.waves or []):
        store.set_fields(rollout, waves=waves, **changes)


def _retire(project_id: str, left: dict[str, str], now: datetime.datetime, deadline: float) -> int:
    """Delete leavers kept past ``retention()`` (at most ``MAX_RETIRE``); drop them from ``left``."""
    cutoff = now - retention()
    expired = sorted(h for h, when in left.items() if parse_time(when) <= cutoff)[:MAX_RETIRE]
    retired = 0
    for host in expired:
        if time.monotonic() > deadline:
            break
        retired += joins.retire(project_id, host)
        left.pop(host)
    return retired


def _tell_failure(project: Project, stored: memberset.MemberSet, error: str,
                  now: datetime.datetime) -> None:
    """Remember the project's sync error and tell it, once per distinct error."""
    if stored.error == error:
        return
    memberset.save_meta(project.id, stored.key, error, now)
    events.record(project.id, "fleet.sync_failed", joins.ACTOR,
                  {"error": error, "fleet": selectors.describe(project.spec.get("fleet")),
                   "members": len(stored.members)},
                  message=f"fleet sync failed, its {len(stored.members)} members kept: {error}")
