"""The ``Rollout`` item: reading a project's rollouts, writing one, and recording its events.

Every write here is conditional on the item's ``seq`` (PynamoDB's version attribute): a rollout
changed by someone else since it was read raises ``UpdateError`` with a failed condition, which
the engine's step turns into "raced" (see ``chalicelib.rollout.engine.drive_one``). Reads are
Queries on the project's partition (rollout ids sort by creation time, newest first).
"""
import datetime

from chalicelib import config, events
from chalicelib.models import Rollout
from chalicelib.states import RolloutState

#: ``active_pk`` of the rollouts the tick drives (the sparse ``active-index``'s one key).
ACTIVE_PK = "active"
_DEFAULT_DEPLOY_TIMEOUT = 1800
_DEFAULT_SILENT_SECONDS = 1800


def newest(project_id: str, consistent: bool = False) -> Rollout | None:
    """The project's newest rollout, or None (one Query of one item)."""
    for rollout in Rollout.query(project_id, scan_index_forward=False, limit=1,
                                 consistent_read=consistent):
        return rollout
    return None


def previous_good_version(project_id: str) -> str | None:
    """The version the project last fully rolled out (or was rolled back to), or None."""
    for rollout in Rollout.query(project_id, scan_index_forward=False, limit=50):
        if rollout.state == RolloutState.SUCCEEDED:
            return rollout.version
        if rollout.state == RolloutState.ROLLED_BACK and rollout.rollback_to:
            return rollout.rollback_to
    return None


def settings(rollout: Rollout) -> dict:
    """The rollout settings the rollout was started with (``waves``, ``max_failures``, ...)."""
    return rollout.settings or {}


def deploy_timeout(rollout: Rollout) -> datetime.timedelta:
    """How long a host may hold a lease (``deploy_timeout``, default 1800 s)."""
    return datetime.timedelta(seconds=int(settings(rollout).get("deploy_timeout",
                                                                _DEFAULT_DEPLOY_TIMEOUT)))


def silent_after() -> datetime.timedelta:
    """How long without a poll makes a host silent (``FABU_SILENT_SECONDS``, default 1800)."""
    return datetime.timedelta(seconds=config.int_setting("FABU_SILENT_SECONDS",
                                                         _DEFAULT_SILENT_SECONDS))


def set_fields(rollout: Rollout, **changes) -> None:
    """Update the rollout (conditional on ``seq``); a value of ``None`` removes the attribute."""
    actions = []
    for name, value in changes.items():
        attr = getattr(Rollout, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    rollout.update(actions=actions)


def finish(rollout: Rollout, state: RolloutState, now: datetime.datetime,
           reason: str | None = None) -> None:
    """Move the rollout to a final ``state``: out of the tick's ``active-index``."""
    set_fields(rollout, state=state, active_pk=None, finished_at=now, reason=reason,
               resume_state=None)


def record(rollout: Rollout, kind: str, actor: str, message: str, **detail) -> None:
    """Record an event of the rollout's project; ``detail`` always names the rollout and version."""
    detail = dict({"rollout_id": rollout.rollout_id, "version": rollout.version}, **detail)
    events.record(rollout.project, kind, actor, detail, message=message)
