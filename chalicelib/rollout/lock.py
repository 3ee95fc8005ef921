"""The rollout lock: one writer per rollout at a time, a tick or a control.

The lock is two attributes of the ``Rollout`` item (``lock_owner``, ``lock_until``) taken with a
write conditional on ``seq``: of two ticks at once one drives and the other skips ("busy"); a
control waits a few seconds for a running tick, then answers 409. A lock whose holder died
expires after ``LOCK_SECONDS`` (under the Lambda's minute, above the tick's time budget). The
tick's lock write also stamps ``driven_at``, the order in which the next tick takes rollouts.
"""
import contextlib
import datetime
import secrets
import time
from collections.abc import Iterator

from chalicelib.errors import Conflict, NotFound
from chalicelib.models import Rollout, update_if
from chalicelib.rollout import store
from chalicelib.times import utcnow

LOCK_SECONDS = 55
CONTROL_WAIT_SECONDS = 10.0
_RETRY_SECONDS = 0.05


def acquire(rollout: Rollout, owner: str, now: datetime.datetime | None = None,
            driven: bool = False) -> bool:
    """Take the rollout's lock with a ``seq``-conditional write; False when someone holds it
    (or the rollout changed since it was read).

    ``now`` is the caller's clock when it runs ahead of the wall clock (a tick run at a later
    time sees older locks as expired); the lock itself always lasts ``LOCK_SECONDS`` of wall
    time. ``driven``: the tick takes the rollout, so ``driven_at`` is stamped too.
    """
    wall = utcnow()
    clock = max(wall, now) if now is not None else wall
    if rollout.lock_owner and rollout.lock_until and rollout.lock_until > clock:
        return False
    until = wall + datetime.timedelta(seconds=LOCK_SECONDS)
    actions = [Rollout.lock_owner.set(owner), Rollout.lock_until.set(until)]
    if driven:
        actions.append(Rollout.driven_at.set(wall))
    return update_if(rollout, actions)


def release(rollout: Rollout, owner: str) -> None:
    """Give the lock back if ``owner`` still holds it (a lost lock, expired and taken by
    someone else, is fine: its new owner releases it)."""
    update_if(rollout, [Rollout.lock_owner.remove(), Rollout.lock_until.remove()],
              condition=Rollout.lock_owner == owner, add_version_condition=False)


def load_latest(project_id: str) -> Rollout:
    """The project's newest rollout, read consistently; 404 when it has none."""
    rollout = store.newest(project_id, consistent=True)
    if rollout is None:
        raise NotFound(f"project {project_id!r} has no rollout")
    return rollout


@contextlib.contextmanager
def locked(project_id: str, wait: float = CONTROL_WAIT_SECONDS) -> Iterator[Rollout]:
    """The newest rollout of a project, locked for a control call (waits for a running tick,
    409 after ``wait`` seconds)."""
    owner = f"c-{secrets.token_hex(6)}"
    deadline = time.monotonic() + wait
    while True:
        rollout = load_latest(project_id)
        if acquire(rollout, owner):
            break
        if time.monotonic() > deadline:
            raise Conflict(f"the rollout of {project_id!r} is busy (a tick or another control "
                           f"holds it): retry in a few seconds")
        time.sleep(_RETRY_SECONDS)
    try:
        yield rollout
    finally:
        release(rollout, owner)
