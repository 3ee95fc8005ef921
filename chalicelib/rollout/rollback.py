"""Rolling a rollout back: send the hosts on its version back to the previous good one.

``begin`` marks the rollout ``rolling_back`` (a halt with ``auto_rollback``, or an operator's
rollback) and gives every host on the new version a ``rollback_pending`` item; ``drive`` is the
tick's step while rolling back: with ``rollback_mode: "waves"`` it walks down one wave at a time,
and once nothing is in flight the rollout is ``rolled_back`` and hosts of waves never released
stand down. Callers hold the rollout's lock. See ``docs/rollouts.md`` ("Failure thresholds and
rollback").
"""
import datetime

from chalicelib.models import HostState, Rollout
from chalicelib.rollout import drain, hostitems, store
from chalicelib.states import DeployKind, HOST_FAILED, HOST_IN_FLIGHT, HostStatus, RolloutState

#: Host items a rollback sends back: they run (or may run) the rollout's version.
_ON_NEW_VERSION = frozenset({HostStatus.SUCCEEDED, HostStatus.SKIPPED, HostStatus.LOST})


def begin(rollout: Rollout, items: list[HostState], target: str, now: datetime.datetime,
          reason: str) -> None:
    """Mark the rollout ``rolling_back`` to ``target`` and send the hosts on the new version back."""
    mode = store.settings(rollout).get("rollback_mode", "all")
    top = max([int(i.wave) for i in items] or [0])
    store.set_fields(rollout, state=RolloutState.ROLLING_BACK, rollback_to=target, reason=reason,
                     active_pk=store.ACTIVE_PK, rollback_wave=0 if mode == "all" else top,
                     finished_at=None, resume_state=None)
    for item in items:
        if item.status == HostStatus.PENDING:  # released but never handed out: it never changed
            hostitems.move(item, HostStatus.WAITING, now, deploy_id=None, released_at=None)
    _mark(rollout, items, now)


def drive(rollout: Rollout, items: list[HostState], now: datetime.datetime, actor: str) -> str:
    """One step of a rollback; the rollout's state afterwards."""
    _mark(rollout, items, now)
    held = drain.step(rollout, items, now, actor)  # drained hosts back into their target groups
    floor = int(rollout.rollback_wave or 0)
    busy = [i for i in items if i.status in HOST_IN_FLIGHT and int(i.wave) >= floor]
    if busy:
        return RolloutState.ROLLING_BACK
    if floor > 0:
        store.set_fields(rollout, rollback_wave=floor - 1)
        _mark(rollout, items, now)
        return RolloutState.ROLLING_BACK
    if held or any(i.status in HOST_IN_FLIGHT for i in items):
        return RolloutState.ROLLING_BACK
    rolled = sum(1 for i in items
                 if i.deploy_kind == DeployKind.ROLLBACK and i.status == HostStatus.ROLLED_BACK)
    broken = [i.host for i in items if i.deploy_kind == DeployKind.ROLLBACK and i.status in HOST_FAILED]
    reason = rollout.reason
    if broken:
        reason = f"{reason}; {len(broken)} hosts failed to roll back ({', '.join(broken[:5])})"
    store.finish(rollout, RolloutState.ROLLED_BACK, now, reason)
    _retarget_unreleased(rollout, now)
    store.record(rollout, "rollout.rolled_back", actor,
                 f"rollout of {rollout.version} rolled back to {rollout.rollback_to} ({rolled} hosts)",
                 rollback_to=rollout.rollback_to, hosts=rolled, failed=broken[:50])
    return RolloutState.ROLLED_BACK


def _needs_rollback(rollout: Rollout, item: HostState) -> bool:
    if item.deploy_kind == DeployKind.ROLLBACK or item.rollout_id != rollout.rollout_id:
        return False
    if item.status in _ON_NEW_VERSION:
        return True
    return item.status == HostStatus.FAILED and item.running_version == rollout.version


def _mark(rollout: Rollout, items: list[HostState], now: datetime.datetime) -> None:
    """Give the hosts of the waves at or above ``rollback_wave`` that need it a rollback."""
    floor = int(rollout.rollback_wave or 0)
    for item in items:
        if int(item.wave) >= floor and _needs_rollback(rollout, item):
            hostitems.move(item, HostStatus.ROLLBACK_PENDING, now, deploy_id=hostitems.new_deploy_id(),
                           deploy_kind=DeployKind.ROLLBACK, target_version=rollout.rollback_to,
                           attempt=int(item.attempt or 0) + 1, released_at=now, leased_at=None,
                           depends_on=[], reason=f"rollback of {rollout.version} to {rollout.rollback_to}")


def _retarget_unreleased(rollout: Rollout, now: datetime.datetime) -> None:
    """Hosts of waves never released go back to ``idle`` on the version they kept running, so a
    rolled-back rollout leaves no host "waiting" for a version that will not come."""
    for item in hostitems.all_items(rollout.project):
        if item.rollout_id == rollout.rollout_id and item.status == HostStatus.WAITING:
            hostitems.move(item, HostStatus.IDLE, now, target_version=rollout.rollback_to, deploy_id=None)
