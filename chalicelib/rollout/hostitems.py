"""The host items of a rollout (``HostState``): reading them, and the conditional writes that move them.

Hosts report concurrently with the engine, so every write here is conditional on what it read:
``move`` on the status and ``deploy_id``, ``forget`` on the status, ``plan_item`` on the host
not being mid-deploy. A write that lost its race answers False and changes nothing. Reads are
Queries on the sparse ``project-index`` (``wave_key = <wave:03d>#<status>#<host>``), never scans.

Every new deploy id goes through ``move`` (release, resume, rollback), which also appends it to
the item's ``issued_ids`` (the last ``ISSUED_KEPT``): the host may report only those deploys.
"""
import datetime
import secrets

from pynamodb.expressions.condition import Condition

from chalicelib.models import HostState, Rollout, delete_if, update_if, wave_key
from chalicelib.rollout import store
from chalicelib.states import HOST_GONE, DeployKind, HostStatus

#: How many of the deploy ids issued to a host item are remembered (a report of an older one is
#: refused: ``hosts.reports``).
ISSUED_KEPT = 10


def new_deploy_id() -> str:
    """A fresh deploy id: what a host's script and reports name, unique per handed-out deploy."""
    return f"d-{secrets.token_hex(8)}"


def _same_deploy(item: HostState) -> Condition:
    if item.deploy_id is None:
        return HostState.deploy_id.does_not_exist()
    return HostState.deploy_id == item.deploy_id


def move(item: HostState, status: HostStatus, now: datetime.datetime, **changes) -> bool:
    """Move ``item`` to ``status`` (with its ``wave_key``) if it is still as read; True if done.

    ``changes`` set further attributes; a value of ``None`` removes one. A new ``deploy_id`` is
    also appended to ``issued_ids`` (the last ``ISSUED_KEPT``), conditional on the list as read.
    """
    actions = [HostState.status.set(status), HostState.updated_at.set(now),
               HostState.wave_key.set(wave_key(int(item.wave), status, item.host))]
    condition = (HostState.status == item.status) & _same_deploy(item)
    for name, value in changes.items():
        attr = getattr(HostState, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    new_id = changes.get("deploy_id")
    if new_id and new_id != item.deploy_id:
        stored = list(item.issued_ids or [])
        # An item written before ``issued_ids`` existed still knows its current deploy.
        known = stored + [d for d in [item.deploy_id] if d and d not in stored]
        actions.append(HostState.issued_ids.set((known + [new_id])[-ISSUED_KEPT:]))
        condition &= (HostState.issued_ids == stored if stored
                      else HostState.issued_ids.does_not_exist())
    return update_if(item, actions, condition=condition)


def forget(item: HostState) -> bool:
    """Delete the item of a host that left the project, unless it is mid-deploy."""
    return delete_if(item, (HostState.status == item.status)
                     & (HostState.status != HostStatus.IN_PROGRESS))


def plan_item(rollout: Rollout, host: str, wave: int, now: datetime.datetime,
              cutoff: datetime.datetime) -> bool:
    """Write ``host``'s item for this rollout as ``waiting`` in ``wave``; False (and no write)
    when the host is mid-deploy with a lease newer than ``cutoff``."""
    item = HostState(host, rollout.project)
    actions = [HostState.rollout_id.set(rollout.rollout_id), HostState.wave.set(wave),
               HostState.status.set(HostStatus.WAITING),
               HostState.wave_key.set(wave_key(wave, HostStatus.WAITING, host)),
               HostState.target_version.set(rollout.version),
               HostState.target_revision.set(int(rollout.revision or 0)),
               HostState.deploy_kind.set(DeployKind.DEPLOY),
               HostState.depends_on.set(store.settings(rollout).get("depends_on", [])),
               HostState.deploy_id.remove(), HostState.released_at.remove(),
               HostState.leased_at.remove(), HostState.reason.remove(),
               HostState.blocked_reason.remove(), HostState.updated_at.set(now)]
    condition = (HostState.host.does_not_exist() | (HostState.status != HostStatus.IN_PROGRESS)
                 | (HostState.leased_at < cutoff))
    return update_if(item, actions, condition=condition)


def released_items(rollout: Rollout) -> list[HostState]:
    """The rollout's host items of the waves released so far (one Query on ``project-index``),
    without those of hosts that left the fleet (``HOST_GONE``: no wave or threshold counts them)."""
    upper = f"{int(rollout.wave) + 1:03}"
    return [item for item in HostState.project_index.query(rollout.project, HostState.wave_key < upper)
            if item.rollout_id == rollout.rollout_id and item.status not in HOST_GONE]


def all_items(project_id: str) -> list[HostState]:
    """Every host item of the project, of any rollout (one Query on ``project-index``)."""
    return list(HostState.project_index.query(project_id))
