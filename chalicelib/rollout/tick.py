"""The minute tick (EventBridge, every minute): apply due updates, then drive every active rollout.

Scheduled project updates (``apply_at``) whose time has come are applied first (within half of
the tick's budget), so a rollout they start is driven in the same tick. Then the fleet sync
(``chalicelib.fleet.sync.run_in_tick``: members of ``fleet`` projects join and leave) runs in
isolation within a third of the budget, so a host that joins is released in the same tick and
a failing or slow sync never holds a rollout. Automatic promotion (``promote_from.auto``:
``chalicelib.rollout.promotion_tick``) runs the same way, within a sixth of the budget.
The active rollouts are found with one Query on the sparse ``active-index`` (never a scan, at
most ``MAX_ACTIVE``: ``truncated`` says when hit), least recently driven first
(``Rollout.driven_at``, stamped by each step's lock write). The tick reads the stage's freeze
once (thawing one whose ``until`` passed) and the CloudWatch alarms of every watching rollout
once (``alarms.Snapshot.read``: one ``DescribeAlarms`` per 100 distinct names); a failed
read is never "all clear": the rollouts it concerns hold.

**Fan-out** (``run(queue=...)``, the ``tick`` Lambda): one drive message per active rollout goes
to the stage's ``drive`` queue (``SendMessageBatch`` of up to 10, in that order, ``SEND_THREADS``
calls at a time), carrying the
freeze and the rollout's own alarm states (``chalicelib.rollout.driver``); each is driven in its
own ``rollout_driver`` invocation. Rollouts whose message could not be sent (SQS failing, a
batch entry refused, a body above ``driver.MAX_BODY``) are driven by the tick itself, as below.

**In-process** (``run()`` without a queue, and the fallback): each rollout is driven one step
under its own lock, **in isolation** (``driver.step``):

* concurrently, on a pool of ``FABU_TICK_WORKERS`` threads (default 8, at most 32), so one slow
  rollout (a gate that does not answer) holds one worker, not the others;
* within a time budget ``FABU_TICK_BUDGET_SECONDS`` (default 40, at most 45: under the rollout
  lock's 55 s and the Lambda's 60 s). A rollout not started within the budget is reported as
  ``skipped`` and goes first on the next tick; a step still running ``GRACE_SECONDS`` after the
  budget is reported as ``unfinished`` (its lock expires on its own);
* an exception in one rollout's step is logged with its traceback and told once on the project
  (``rollout.failures``); the tick goes on with the others and tries that rollout again next time.
"""
import concurrent.futures
import datetime
import functools
import logging
import threading
import time

import boto3
import botocore.client
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import config
from chalicelib.fleet import sync as fleet_sync
from chalicelib.models import Freeze, Rollout
from chalicelib.projects import scheduled
from chalicelib.rollout import alarms, driver, engine, failures, freeze, promotion_tick, store
from chalicelib.rollout.driver import ERROR, SKIPPED, UNFINISHED, budget_seconds  # noqa: F401
from chalicelib.times import utcnow

log = logging.getLogger("fabu.tick")

DEFAULT_WORKERS, MAX_WORKERS = 8, 32
DEFAULT_BUDGET, MAX_BUDGET = driver.DEFAULT_BUDGET, driver.MAX_BUDGET
#: How long the tick waits past its budget for steps under way before it returns.
GRACE_SECONDS = 8
#: At most this many active rollouts are read (and messages sent) per tick.
MAX_ACTIVE = 5000
#: SQS's limits of one ``SendMessageBatch``: 10 entries, 256 KiB in all (a little kept spare).
BATCH_ENTRIES, BATCH_BYTES = 10, 250_000
#: ``SendMessageBatch`` calls the tick makes at once (5,000 rollouts: 500 calls, ~1 s).
SEND_THREADS = 8
QUEUED = "queued"
_NEVER = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
_SQS_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                     read_timeout=5)


def workers() -> int:
    """The size of the tick's pool (``FABU_TICK_WORKERS``, within [1, ``MAX_WORKERS``])."""
    return min(max(config.int_setting("FABU_TICK_WORKERS", DEFAULT_WORKERS), 1), MAX_WORKERS)


def run(now: datetime.datetime | None = None, actor: str = engine.TICK_ACTOR,
        queue: str | None = None) -> dict:
    """One tick; with ``queue`` (a queue name: the ``tick`` Lambda passes the drive queue) the
    rollouts are fanned out, without it they are driven in-process. The outcome::

        {"applied_updates": [project ids], "rollouts": {project: state | "busy" | "raced" |
         "error" | "queued"}, "queued": messages sent, "errors": {project, "scheduled updates",
         "freeze" or "drive queue": what failed}, "skipped": [projects not reached in the
         budget], "unfinished": [projects still being driven when the tick returned],
         "truncated": more than MAX_ACTIVE active rollouts, "elapsed_seconds": n,
         "frozen": the freeze's reason or None, "alarms": {"names", "calls", "unread"},
         "fleet": the fleet sync's outcome (``chalicelib.fleet.sync.run``), "promotions":
         automatic promotion's (``chalicelib.rollout.promotion_tick.run``)}
    """
    started = time.monotonic()
    deadline = started + budget_seconds()
    now = now or utcnow()
    outcome = {"applied_updates": [], "rollouts": {}, "queued": 0, "errors": {}, "skipped": [],
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
    outcome["promotions"] = promotion_tick.run_in_tick(now, frozen, budget_seconds() / 6)
    snapshot = _alarms(rollouts, outcome)
    local = rollouts
    if queue is not None:
        local = _enqueue(queue, rollouts, now, deadline, outcome, snapshot, frozen)
    _drive_all(local, now, actor, deadline, outcome, snapshot, frozen)
    outcome["elapsed_seconds"] = round(time.monotonic() - started, 3)
    if outcome["errors"] or outcome["skipped"] or outcome["unfinished"] or outcome["truncated"]:
        log.warning("tick: %d rollouts (%d queued), errors %s, skipped for time %s, unfinished "
                    "%s%s", len(rollouts), outcome["queued"], sorted(outcome["errors"]),
                    outcome["skipped"], outcome["unfinished"],
                    f", more than {MAX_ACTIVE} active rollouts: the rest wait"
                    if outcome["truncated"] else "")
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
        futures = {pool.submit(driver.step, r, now, actor, deadline, snapshot, frozen): r
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


@functools.lru_cache(maxsize=None)
def _sqs() -> "botocore.client.BaseClient":
    """The tick's SQS client (short timeouts, 2 attempts: it runs inside the tick's budget)."""
    return boto3.session.Session().client("sqs", region_name=config.region(), config=_SQS_CONFIG)


@functools.lru_cache(maxsize=8)
def _queue_url(name: str) -> str:
    """The URL of queue ``name`` (looked up once per process; a failure is not remembered)."""
    return _sqs().get_queue_url(QueueName=name)["QueueUrl"]


def _enqueue(queue: str, rollouts: list[Rollout], now: datetime.datetime, deadline: float,
             outcome: dict, snapshot: alarms.Snapshot | None,
             frozen: Freeze | None | str) -> list[Rollout]:
    """Send one drive message per rollout to ``queue`` in batches (``BATCH_ENTRIES``,
    ``BATCH_BYTES``), in order, ``SEND_THREADS`` calls at a time; returns the rollouts to drive
    in-process: a body above ``driver.MAX_BODY``, entries SQS refused, and every batch not yet
    sent once a call failed (the queue is failing: the tick does not wait on it again). Past
    ``deadline`` the batches not sent are ``skipped`` (first on the next tick)."""
    sent = utcnow()
    local, batches, size = [], [[]], 0
    for rollout in rollouts:
        body = driver.message(rollout, now, sent, snapshot, frozen)
        length = len(body.encode())
        if length > driver.MAX_BODY:
            log.warning("tick: the drive message of %s is %d bytes (over %d): driven in-process",
                        rollout.project, length, driver.MAX_BODY)
            local.append(rollout)
            continue
        if len(batches[-1]) == BATCH_ENTRIES or size + length > BATCH_BYTES:
            batches.append([])
            size = 0
        batches[-1].append((rollout, body))
        size += length
    batches = [b for b in batches if b]
    failing = threading.Event()

    def send(batch: list[tuple[Rollout, str]]) -> list[Rollout] | None | str:
        if failing.is_set():
            return None
        if time.monotonic() > deadline:
            return SKIPPED
        refused = _send(queue, batch, outcome)
        if refused is None:
            failing.set()
        return refused
    results = []
    if batches:
        with concurrent.futures.ThreadPoolExecutor(min(SEND_THREADS, len(batches)),
                                                   thread_name_prefix="send") as pool:
            results = list(pool.map(send, batches))
    for batch, result in zip(batches, results):
        if result == SKIPPED:
            outcome["skipped"].extend(r.project for r, _ in batch)
        elif result is None:  # the queue failed: driven in-process
            local.extend(r for r, _ in batch)
        else:
            local.extend(result)
            for rollout, _ in batch:
                if rollout not in result:
                    outcome["rollouts"][rollout.project] = QUEUED
                    outcome["queued"] += 1
    return local


def _send(queue: str, batch: list[tuple[Rollout, str]], outcome: dict) -> list[Rollout] | None:
    """One ``SendMessageBatch``: the rollouts whose entry SQS refused, or None when the call
    itself failed (told in ``outcome["errors"]["drive queue"]`` and the log)."""
    try:
        answer = _sqs().send_message_batch(QueueUrl=_queue_url(queue), Entries=[
            {"Id": str(i), "MessageBody": body} for i, (_, body) in enumerate(batch)])
    except (ClientError, BotoCoreError) as exc:
        log.exception("tick: the drive queue %s could not be written: driving in-process", queue)
        outcome["errors"]["drive queue"] = failures.describe(exc)
        return None
    refused = []
    for failed in answer.get("Failed", []):
        rollout = batch[int(failed["Id"])][0]
        why = f"{failed.get('Code')}: {failed.get('Message', '')}".rstrip(": ")
        log.warning("tick: SQS refused the drive message of %s (%s): driven in-process",
                    rollout.project, why)
        outcome["errors"]["drive queue"] = f"SQS refused the drive message of {rollout.project}: {why}"
        refused.append(rollout)
    return refused
