"""What a host's item becomes when it joins or leaves a project's fleet, and when it is retired.

Where a joining host goes follows the project's newest rollout (``placement``):

* ``succeeded``: **catch-up**: released at once (``pending``, a new deploy id) at that rollout's
  version in its last wave, so a new instance reaches the current good version on its first
  poll, without canary waves again;
* ``running``/``paused``: ``waiting`` in the last released wave; the tick's ``top_up`` releases
  it like any waiting host (within ``max_parallel``); the wave grows by one;
* ``halted``/``rolling_back``/``rolled_back``: catch-up to the last good version (the rollout's
  ``rollback_to``, else its ``previous_version``), outside the rollout (it is no host of its
  waves); ``idle`` when there is none;
* ``scheduled``/``waiting_release``, no rollout: ``idle``: the start plans it.

A leaver's item is ``left`` (never a failure): its deploy id is dropped, so an in-progress
deploy's late reports are only stored for the record. Every write is conditional on the item as
read (``hostitems.move``; a new item on its absence), so a repeated sync changes nothing twice.
Each join and leave is one event: ``host.joined`` (``member``, ``zone``, ``catch_up``, ``wave``,
``rejoined``), ``host.left`` (``why``).
"""
import dataclasses
import datetime

from chalicelib import events
from chalicelib.fleet.memberset import FLEET
from chalicelib.models import HostState, Rollout, delete_if, update_if, wave_key
from chalicelib.rollout import hostitems, store
from chalicelib.states import DeployKind, HostStatus, RolloutState

ACTOR = "fabu:fleet"
#: What a sync's join or leave did: changed the item (and told it), found nothing to do, or
#: lost a race with another writer (tried again next tick).
JOINED, REJOINED, LEFT, UNCHANGED, RACED = "joined", "rejoined", "left", "unchanged", "raced"
_FOLLOWS_WAVES = (RolloutState.RUNNING, RolloutState.PAUSED)
_STOPPED = (RolloutState.HALTED, RolloutState.ROLLING_BACK, RolloutState.ROLLED_BACK)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where joining hosts go: their status, target version, wave and rollout; ``catch_up``
    the version released at once (or None); ``grows``: the wave of the rollout that grows by
    one per join (None: the rollout is not written)."""
    status: HostStatus
    version: str | None = None
    wave: int = 0
    rollout_id: str | None = None
    catch_up: str | None = None
    grows: int | None = None
    depends_on: tuple = ()
    reason: str | None = None


def placement(rollout: Rollout | None) -> Placement:
    """Where a host joining now goes, from the project's newest ``rollout`` (see the module)."""
    if rollout is None:
        return Placement(HostStatus.IDLE)
    depends_on = tuple(store.settings(rollout).get("depends_on", []))
    if rollout.state == RolloutState.SUCCEEDED:
        last = max(len(rollout.waves or []) - 1, 0)
        return Placement(HostStatus.PENDING, rollout.version, last, rollout.rollout_id,
                         rollout.version, last, depends_on,
                         f"catch-up: joined the fleet after {rollout.version} rolled out")
    if rollout.state in _FOLLOWS_WAVES:
        wave = int(rollout.wave)
        return Placement(HostStatus.WAITING, rollout.version, wave, rollout.rollout_id,
                         None, wave, depends_on)
    if rollout.state in _STOPPED:
        good = rollout.rollback_to or rollout.previous_version
        if good:
            return Placement(HostStatus.PENDING, good, 0, None, good, None, depends_on,
                             f"catch-up: joined the fleet while {rollout.version} was "
                             f"{rollout.state}; the last good version is {good}")
    return Placement(HostStatus.IDLE)


def _changes(place: Placement, zone: str, now: datetime.datetime) -> dict:
    """The attributes of a joining host's item (None removes one)."""
    pending = place.status == HostStatus.PENDING
    return {"member": FLEET, "zone": zone or None, "joined_at": now, "left_at": None,
            "wave": place.wave, "rollout_id": place.rollout_id,
            "target_version": place.version, "deploy_kind": DeployKind.DEPLOY,
            "deploy_id": hostitems.new_deploy_id() if pending else None,
            "released_at": now if pending else None, "leased_at": None,
            "attempt": 1 if pending else 0, "depends_on": list(place.depends_on),
            "reason": place.reason, "blocked_reason": None}


def join(project_id: str, host: str, zone: str, item: HostState | None, place: Placement,
         now: datetime.datetime) -> str:
    """Make ``host`` (as read: ``item``) a fleet member of the project; what it did."""
    if item is not None and item.status != HostStatus.LEFT:
        if item.member == FLEET and (item.zone or "") == (zone or ""):
            return UNCHANGED  # joined on an earlier sync (its set was not stored yet)
        # a host already planned (listed before): it is now a fleet member, nothing else moves
        done = update_if(item, [HostState.member.set(FLEET), HostState.zone.set(zone or None)]
                         if zone else [HostState.member.set(FLEET), HostState.zone.remove()],
                         (HostState.status == item.status))
        return UNCHANGED if done else RACED
    changes = _changes(place, zone, now)
    if item is None:
        done = _create(project_id, host, place.status, changes, now)
    else:
        item.wave = place.wave  # the move writes the wave_key of the wave it joins
        done = hostitems.move(item, place.status, now, **changes)
    if not done:
        return RACED
    rejoined = item is not None
    events.record(project_id, "host.joined", ACTOR, {
        "member": FLEET, "zone": zone or None, "catch_up": place.catch_up,
        "wave": place.wave if place.status != HostStatus.IDLE else None, "rejoined": rejoined,
        "rollout_id": place.rollout_id, "deploy_id": changes["deploy_id"]}, host=host,
        message=f"{host} {'rejoined' if rejoined else 'joined'} the fleet"
                + (f" in {zone}" if zone else "")
                + (f": catching up to {place.catch_up}" if place.catch_up
                   else f": waiting in wave {place.wave}" if place.status == HostStatus.WAITING
                   else ""))
    return REJOINED if rejoined else JOINED


def _create(project_id: str, host: str, status: HostStatus, changes: dict,
            now: datetime.datetime) -> bool:
    """A new item for ``host``, written only while there is none."""
    item = HostState(host, project_id)
    actions = [HostState.status.set(status), HostState.updated_at.set(now),
               HostState.wave_key.set(wave_key(changes["wave"], status, host))]
    if changes["deploy_id"]:
        actions.append(HostState.issued_ids.set([changes["deploy_id"]]))
    for name, value in changes.items():
        if value is not None:  # a new item has nothing to remove
            actions.append(getattr(HostState, name).set(value))
    return update_if(item, actions, HostState.host.does_not_exist())


def leave(project_id: str, item: HostState | None, why: str, now: datetime.datetime) -> str:
    """Mark a fleet member's item ``left``; what it did (a listed host, or one already gone,
    is left alone)."""
    if item is None or item.status == HostStatus.LEFT or item.member != FLEET:
        return UNCHANGED
    deploy_id, was = item.deploy_id, str(item.status)
    if not hostitems.move(item, HostStatus.LEFT, now, deploy_id=None, released_at=None,
                          leased_at=None, left_at=now, blocked_reason=None,
                          reason=f"left the fleet: {why}"):
        return RACED
    events.record(project_id, "host.left", ACTOR, {
        "why": why, "zone": item.zone, "wave": int(item.wave), "rollout_id": item.rollout_id,
        "was": was, "deploy_id": deploy_id}, host=item.host,
        message=f"{item.host} left the fleet: {why}")
    return LEFT


def retire(project_id: str, host: str) -> bool:
    """Delete a leaver's item after its retention (only while it is still ``left``)."""
    return delete_if(HostState(host, project_id), HostState.status == HostStatus.LEFT)
