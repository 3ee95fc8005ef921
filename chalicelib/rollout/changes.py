"""What a saved project change does to its rollouts.

The project service calls ``plan_change`` after a create or an applied update, and ``deactivate``
after a delete. A new version starts a rollout (superseding a running one: queued hosts stop,
hosts mid-deploy finish); so does a new ``config`` of the same version, as its next config
revision (``Rollout.revision``: hosts already on the version deploy it again with the new
config, through the same waves); the same version with a new ``deploy_at`` moves a scheduled
start; hosts added to a planned rollout join its last wave and removed hosts leave it.
"""
import datetime
import secrets

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import Project, Rollout, update_if
from chalicelib.projects import config_fields, hostlist
from chalicelib.rollout import engine, hostitems, lock, store, summary, timeline
from chalicelib.states import HOST_PENDING, ROLLOUT_ACTIVE, HostStatus, RolloutState
from chalicelib.times import format_time, parse_time, utcnow

#: Rollouts whose planned waves follow the project's host list.
_RESIZABLE = frozenset({RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.HALTED,
                        RolloutState.SUCCEEDED})


def plan_change(project_id: str, actor: str, previous_spec: dict | None) -> None:
    """Start, move or resize the project's rollout after a saved change (``previous_spec``:
    the spec before it, None for a create).

    The item is read again (consistently) so that a change racing this one is planned from
    what is stored.
    """
    try:
        stored = Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        return
    project = dict(stored.spec, id=stored.id)
    if previous_spec is None or previous_spec.get("version") != project["version"]:
        start_rollout(project, actor)
    elif (previous_spec.get("config") or {}) != (project.get("config") or {}):
        start_rollout(project, actor, config_change=True)
    else:
        _follow_changes(project, actor, previous_spec)


def start_rollout(project: dict, actor: str, *, config_change: bool = False) -> Rollout:
    """Create the rollout of ``project["version"]``, superseding a running one; returns it.
    ``config_change``: the same version with a new config, the next config revision of it."""
    now = utcnow()
    project_id = project["id"]
    old = store.newest(project_id)
    revision = 0
    if config_change and old is not None and old.version == project["version"]:
        revision = int(old.revision or 0) + 1
    elif config_change:
        revision = 1
    what = config_fields.label(project["version"], revision)
    if old is not None and old.state in ROLLOUT_ACTIVE:
        _supersede(project_id, project["version"], actor, now, revision)
    start_at = now
    if project.get("deploy_at"):
        start_at = max(now, parse_time(project["deploy_at"]))
    settings = dict(project.get("rollout") or {}, depends_on=project.get("depends_on") or [])
    rollout_id = f"{now.strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(3)}"
    state = RolloutState.SCHEDULED if start_at > now else RolloutState.WAITING_RELEASE
    rollout = Rollout(project_id, rollout_id, version=project["version"], revision=revision or None,
                      previous_version=store.previous_good_version(project_id), state=state,
                      settings=settings, start_at=start_at, active_pk=store.ACTIVE_PK,
                      created_at=now, created_by=actor)
    rollout.save(Rollout.rollout_id.does_not_exist())
    summary.point_to(rollout)  # the project list reads its newest rollout through this
    extra = {"revision": revision} if revision else {}
    store.record(rollout, "rollout.scheduled", actor,
                 f"rollout of {what} scheduled for {format_time(start_at)}",
                 start_at=format_time(start_at), previous_version=rollout.previous_version, **extra)
    if rollout.state == RolloutState.WAITING_RELEASE:
        # start at once when the release is already ready; a gated wave 0 waits for the tick
        engine.drive_one(rollout, now, actor)
    return rollout


def deactivate(project_id: str, actor: str) -> bool:
    """Take a deleted project's rollout out of the tick's index (conditional on its ``seq``).

    False when the tick moved it meanwhile: a deleted project's rollout then ends on the
    tick's next look (``engine.start`` cancels it, or its step races and retries).
    """
    rollout = store.newest(project_id)
    if rollout is None or rollout.state not in ROLLOUT_ACTIVE:
        return True
    return update_if(rollout, [Rollout.state.set(RolloutState.CANCELLED), Rollout.active_pk.remove(),
                               Rollout.reason.set(f"project deleted by {actor}"),
                               Rollout.finished_at.set(utcnow())])


def _supersede(project_id: str, new_version: str, actor: str, now: datetime.datetime,
               revision: int = 0) -> None:
    """Stop the running rollout for a newer version (or config ``revision`` of it): queued
    hosts stop, hosts mid-deploy finish (their items keep their ``deploy_id`` until they
    report; the new rollout waits for them)."""
    what = config_fields.label(new_version, revision)
    with lock.locked(project_id) as rollout:
        if rollout.state not in ROLLOUT_ACTIVE:
            return
        reason = f"superseded by {what if revision else f'version {new_version}'}"
        store.finish(rollout, RolloutState.SUPERSEDED, now, reason)
        for item in hostitems.all_items(project_id):
            queued = item.status == HostStatus.WAITING or item.status in HOST_PENDING
            if item.rollout_id == rollout.rollout_id and queued:
                hostitems.move(item, HostStatus.IDLE, now, deploy_id=None, released_at=None,
                               reason=reason)
        store.record(rollout, "rollout.superseded", actor,
                     f"rollout of {config_fields.label(rollout.version, rollout.revision)} "
                     f"superseded by {what}", by_version=new_version,
                     **({"by_revision": revision} if revision else {}))


def _follow_changes(project: dict, actor: str, previous_spec: dict) -> None:
    """Same version, changed settings: a new ``deploy_at`` moves a scheduled start; hosts
    added to a planned rollout join its last wave, removed hosts leave it."""
    if store.newest(project["id"]) is None:
        return
    old_hosts, new_hosts = set(hostlist.names(previous_spec)), set(hostlist.names(project))
    moved = project.get("deploy_at") != previous_spec.get("deploy_at")
    if not moved and old_hosts == new_hosts:
        return
    with lock.locked(project["id"]) as rollout:
        if moved and rollout.state == RolloutState.SCHEDULED and project.get("deploy_at"):
            store.set_fields(rollout, start_at=max(utcnow(), parse_time(project["deploy_at"])))
        if old_hosts != new_hosts and rollout.waves and rollout.state in _RESIZABLE:
            _resize(rollout, sorted(new_hosts - old_hosts), old_hosts - new_hosts, actor)


def _resize(rollout: Rollout, added: list[str], removed: set[str], actor: str) -> None:
    now = utcnow()
    last = len(rollout.waves) - 1
    for item in hostitems.all_items(rollout.project):
        if item.host in removed:
            hostitems.forget(item)
    for host in added:
        hostitems.plan_item(rollout, host, last, now, now)
    waves = list(rollout.waves)
    waves[last] += len(added)
    changes = {"waves": waves}
    reopened = timeline.reopened(rollout, last) if added else None
    if reopened is not None:
        changes["wave_times"] = reopened  # its new hosts have not deployed yet
    if added and rollout.state == RolloutState.SUCCEEDED:
        changes.update(state=RolloutState.RUNNING, active_pk=store.ACTIVE_PK, finished_at=None,
                       wave_done_at=None, reason=f"{len(added)} hosts added")
    store.set_fields(rollout, **changes)
    summary.recount(rollout)  # hosts left or joined waves (the list's counts)
    if added:
        store.record(rollout, "rollout.hosts_added", actor, f"{len(added)} hosts join wave {last}",
                     hosts=added[:50])
