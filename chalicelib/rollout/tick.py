"""The minute tick (EventBridge, every minute): apply due updates, drive every active rollout.

Scheduled project updates (``apply_at``) whose time has come are applied first, so a rollout they
start is driven in the same tick. The active rollouts are found with one Query on the sparse
``active-index`` (never a scan) and each is driven one step under its own lock.
"""
import datetime

from chalicelib.models import Rollout
from chalicelib.projects import scheduled
from chalicelib.rollout import engine, store
from chalicelib.times import utcnow


def run(now: datetime.datetime | None = None, actor: str = engine.TICK_ACTOR) -> dict:
    """One tick: ``{"applied_updates": [project ids], "rollouts": {project: outcome}}``."""
    now = now or utcnow()
    applied = scheduled.apply_due_updates(now)
    outcome = {"applied_updates": [p["id"] for p in applied], "rollouts": {}}
    for rollout in Rollout.active_index.query(store.ACTIVE_PK):
        outcome["rollouts"][rollout.project] = engine.drive_one(rollout, now, actor)
    return outcome
