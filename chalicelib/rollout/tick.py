"""The minute tick (EventBridge, every minute): apply due updates, drive every active rollout.

Scheduled project updates (``apply_at``) whose time has come are applied first (within half of
the tick's budget), so a rollout they start is driven in the same tick. Then the fleet sync
(``chalicelib.fleet.sync.run_in_tick``: members of ``fleet`` projects join and leave) runs in
isolation within a third of the budget, so a host that joins is released in the same tick and
a failing or slow sync never holds a rollout. The active rollouts are
found with one Query on the sparse ``active-index`` (never a scan, at most ``MAX_ACTIVE``) and
driven one step each under their own lock, **in isolation**:

* concurrently, on a pool of ``FABU_TICK_WORKERS`` threads (default 8, at most 32), so one slow
  rollout (a gate that does not answer) holds one worker, not the others;
* least recently driven first (``Rollout.driven_at``, stamped by the tick's lock write), within a
  time budget ``FABU_TICK_BUDGET_SECONDS`` (default 40, at most 45: under the rollout lock's 55 s
  and the Lambda's 60 s). A rollout not started within the budget is reported as ``skipped`` and
  goes first on the next tick; a step still running ``GRACE_SECONDS`` after the budget is
  reported as ``unfinished`` (its lock expires on its own);
* an exception in one rollout's step is logged with its traceback and told once on the project
  (``rollout.failures``); the tick goes on with the others and tries that rollout again next time.

Before driving, the tick reads the stage's freeze once (thawing one whose ``until`` passed) and
the CloudWatch alarms of every watching rollout once (``alarms.Snapshot.read``: one
``DescribeAlarms`` per 100 distinct names, least recently driven rollouts' names first), and
hands both to every step. A failed read is never "all clear": the rollouts it concerns hold.
"""
import concurrent.futures
import datetime
import logging
import time

from chalicelib import config
from chalicelib.fleet import sync as fleet_sync
from chalicelib.models import Freeze, Rollout
from chalicelib.projects import scheduled
from chalicelib.rollout import alarms, engine, failures, freeze, store
from chalicelib.times import utcnow

log = logging.getLogger("fabu.tick")

DEFAULT_WORKERS, MAX_WORKERS = 8, 32
DEFAULT_BUDGET, MAX_BUDGET = 40, 45
#: How long the tick waits past its budget for steps under way before it returns.
GRACE_SECONDS = 8
#: A step is not started with less time than this left in the budget.
MIN_STEP_SECONDS = 1.0
#: At most this many active rollouts are read per tick (``truncated`` says when hit).
MAX_ACTIVE = 5000
#: Outcomes of a rollout that was not driven to the end of a step.
ERROR, SKIPPED, UNFINISHED = "error", "skipped", "unfinished"
_NEVER = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def workers() -> int:
    """The size of the tick's pool (``FABU_TICK_WORKERS``, within [1, ``MAX_WORKERS``])."""
    return min(max(config.int_setting("FABU_TICK_WORKERS", DEFAULT_WORKERS), 1), MAX_WORKERS)


def budget_seconds() -> int:
    """The tick's time budget (``FABU_TICK_BUDGET_SECONDS``, within [1, ``MAX_BUDGET``])."""
    return min(max(config.int_setting("FABU_TICK_BUDGET_SECONDS", DEFAULT_BUDGET), 1), MAX_BUDGET)


def run(now: datetime.datetime | None = None, actor: str = engine.TICK_ACTOR) -> dict:
    """One tick. The outcome::

        {"applied_updates": [project ids], "rollouts": {project: state | "busy" | "raced" | "error"},
         "errors": {project or "scheduled updates": what failed}, "skipped": [projects not
         reached in the budget], "unfinished": [projects still being driven when the tick
         returned], "truncated": more than MAX_ACTIVE active rollouts, "elapsed_seconds": n,
         "frozen": the freeze's reason or None, "alarms": {"names", "calls", "unread"},
         "fleet": the fleet sync's outcome (``chalicelib.fleet.sync.run``)}
    """
    started = time.monotonic()
    deadline = started + budget_seconds()
    now = now or utcnow()
    outcome = {"applied_updates": [], "rollouts": {}, "errors": {}, "skipped": [],
               "unfinished": [], "truncated": False, "frozen": None, "alarms": {}}
    try:
        applied = scheduled.apply_due_updates(now, deadline=started + budget_seconds() / 2)
        outcome["applied_updates"] = [p["id"] for p in applied]
    except Exception as exc:  # noqa: BLE001 - logged and reported; the rollouts still run
        log.exception("tick: the scheduled updates could not be read")
        outcome["errors"]["scheduled updates"] = failures.describe(exc)
    # fleet members join and leave first, isolated, within a third of the budget
    outcome["fleet"] = fleet_sync.run_in_tick(now, budget_seconds() / 3)
    rollouts = _active(outcome)
    frozen = _freeze(now, outcome)
    snapshot = _alarms(rollouts, outcome)
    _drive_all(rollouts, now, actor, deadline, outcome, snapshot, frozen)
    outcome["elapsed_seconds"] = round(time.monotonic() - started, 3)
    if outcome["errors"] or outcome["skipped"] or outcome["unfinished"] or outcome["truncated"]:
        log.warning("tick: %d rollouts, errors %s, skipped for time %s, unfinished %s%s",
                    len(rollouts), sorted(outcome["errors"]), outcome["skipped"],
                    outcome["unfinished"], ", more active rollouts than read" if outcome["truncated"] else "")
    return outcome


def _active(outcome: dict) -> list[Rollout]:
    """The active rollouts, least recently driven first (never driven: first of all)."""
    found = list(Rollout.active_index.query(store.ACTIVE_PK, limit=MAX_ACTIVE))
    if len(found) >= MAX_ACTIVE:
        outcome["truncated"] = True
    return sorted(found, key=lambda r: (r.driven_at or _NEVER, r.project))


def _freeze(now: datetime.datetime, outcome: dict) -> Freeze | None | str:
    """The stage's freeze for this tick (one read); ``engine.UNREAD`` when it failed (each step
    then reads it itself before starting a wave)."""
    try:
        item = freeze.for_tick(now)
    except Exception as exc:  # noqa: BLE001 - logged and reported; each step reads it again
        log.exception("tick: the stage's freeze could not be read")
        outcome["errors"]["freeze"] = failures.describe(exc)
        return engine.UNREAD
    outcome["frozen"] = item.reason if item is not None else None
    return item


def _alarms(rollouts: list[Rollout], outcome: dict) -> alarms.Snapshot:
    """One read of every watching rollout's alarms (in the order the rollouts are driven)."""
    names = [name for r in rollouts if alarms.watching(r) for name in alarms.names_of(r)]
    snapshot = alarms.Snapshot()
    try:
        snapshot = alarms.Snapshot.read(names)
    except Exception as exc:  # noqa: BLE001 - never "all clear": every watching rollout holds
        log.exception("tick: the alarms could not be read")
        snapshot.requested = set(names)
        snapshot.fail_all(f"the alarms could not be read: {failures.describe(exc)}")
    outcome["alarms"] = {"names": len(snapshot.requested), "calls": snapshot.calls,
                         "unread": len(snapshot.unread)}
    return snapshot


def _drive_all(rollouts: list[Rollout], now: datetime.datetime, actor: str, deadline: float,
               outcome: dict, snapshot: alarms.Snapshot | None = None,
               frozen: Freeze | None | str = engine.UNREAD) -> None:
    """Drive every rollout on the pool; fill ``outcome`` (see ``run``)."""
    if not rollouts:
        return
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(workers(), len(rollouts)),
                                                 thread_name_prefix="tick")
    try:
        futures = {pool.submit(_step, r, now, actor, deadline, snapshot, frozen): r
                   for r in rollouts}
        remaining = deadline + GRACE_SECONDS - time.monotonic()
        done, _ = concurrent.futures.wait(futures, timeout=max(remaining, 0))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    for future, rollout in futures.items():
        if future not in done:
            if future.cancelled():
                outcome["skipped"].append(rollout.project)
            else:
                outcome["unfinished"].append(rollout.project)
            continue
        state, error = future.result()
        if state == SKIPPED:
            outcome["skipped"].append(rollout.project)
            continue
        outcome["rollouts"][rollout.project] = state
        if error:
            outcome["errors"][rollout.project] = error


def _step(rollout: Rollout, now: datetime.datetime, actor: str, deadline: float,
          snapshot: alarms.Snapshot | None = None,
          frozen: Freeze | None | str = engine.UNREAD) -> tuple[str, str | None]:
    """One rollout's step in isolation: ``(outcome, error description or None)``; never raises."""
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
