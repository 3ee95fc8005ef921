"""The minute tick (EventBridge, every minute): apply due updates, drive every active rollout.

Scheduled project updates (``apply_at``) whose time has come are applied first, so a rollout they
start is driven in the same tick. The active rollouts are found with one Query on the sparse
``active-index`` (never a scan) and each is driven one step under its own lock.
"""
import datetime

from chalicelib.models import Rollout
from chalicelib.projects import service as projects
from chalicelib.rollout import engine
from chalicelib.times import utcnow


def run(now: datetime.datetime | None = None, actor: str = engine.TICK_ACTOR) -> dict:
    """One tick: ``{"applied_updates": [project ids], "rollouts": {project: outcome}}``."""
    now = now or utcnow()
    applied = projects.apply_due_updates(now)
    outcome = {"applied_updates": [p["id"] for p in applied], "rollouts": {}}
    for rollout in Rollout.active_index.query("active"):
        outcome["rollouts"][rollout.project] = engine.drive_one(rollout, now, actor)
    return outcome
