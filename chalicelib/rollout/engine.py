"""The rollout engine: plans waves, drives them on every tick, and carries out the controls.

A new version of a project (a create, an applied update) starts a ``Rollout``: ``scheduled``
until ``deploy_at``, ``waiting_release`` until the release is ``ready`` (and the dependencies
allow it), then ``running`` wave by wave. Hosts are put in waves deterministically: the
``canary_hosts`` first, then a stable hash order; ``waves`` (counts and percentages) are
cumulative, empty waves are skipped. Only released waves have ``pending`` host items, so only
their hosts see a deploy on poll.

``tick(now)`` finds the active rollouts with one Query on the sparse ``active-index`` (never a
scan) and, for each, reads the host items of the released waves with one Query on
``project-index``. Every mutation of a rollout, by a tick or by a control, runs under the
rollout's lock, taken with a write conditional on ``seq`` (two ticks at once: one drives, the
other skips; a control waits for the tick). Every host-item write is conditional on the status
and ``deploy_id`` it was read with, because hosts report concurrently. See ``docs/rollouts.md``.
"""
import contextlib
import datetime
import hashlib
import re
import secrets
import time

from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError

from chalicelib import config, events, versions
from chalicelib.build import releases
from chalicelib.rollout import gates
from chalicelib.rollout import view as rollout_view
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.models import HostState, Project, Rollout, condition_failed, utcnow, wave_key
from chalicelib.projects.validation import format_time, parse_time, wave_size

TICK_ACTOR = "fabu:tick"
DONE = frozenset({"succeeded", "failed", "lost", "skipped", "rolled_back"})
FAILED = frozenset({"failed", "lost"})
IN_FLIGHT = frozenset({"pending", "in_progress", "rollback_pending"})
LOCK_SECONDS = 55
CONTROL_WAIT_SECONDS = 10.0
_PERCENT_RE = re.compile(r"^(\d{1,3})%$")


# ----------------------------------------------------------------------------- planning

def order_hosts(project_id, hosts, canary_hosts=()):
    """Canary hosts first (as listed), then the others in a stable hash order."""
    canaries = [h for h in canary_hosts if h in set(hosts)]
    rest = sorted((h for h in hosts if h not in set(canaries)),
                  key=lambda h: _hash_key(project_id, h))
    return canaries + rest


def _hash_key(project_id, host):
    return hashlib.sha256(f"{project_id}/{host}".encode()).hexdigest()


def plan_waves(project_id, hosts, canary_hosts, wave_specs):
    """The hosts of each wave: a list of lists, empty waves dropped, every host in one wave."""
    ordered = order_hosts(project_id, hosts, canary_hosts)
    waves, start = [], 0
    for spec in wave_specs:
        end = wave_size(spec, len(ordered))
        if end > start:
            waves.append(ordered[start:end])
            start = end
    if start < len(ordered):
        waves.append(ordered[start:])
    return waves


def allowed_failures(max_failures, total):
    """How many failed or lost hosts a rollout tolerates: a count, or a percentage of its hosts."""
    if isinstance(max_failures, str):
        return int(_PERCENT_RE.match(max_failures).group(1)) * total // 100
    return int(max_failures or 0)


# ----------------------------------------------------------------------------- small helpers

def _deploy_id():
    return "d-" + secrets.token_hex(8)


def _settings(rollout):
    return rollout.settings or {}


def _timeout(rollout):
    return datetime.timedelta(seconds=int(_settings(rollout).get("deploy_timeout", 1800)))


def _silent_after():
    return datetime.timedelta(seconds=config.int_setting("FABU_SILENT_SECONDS", 1800))


def _event(rollout, kind, actor, message, **detail):
    detail = dict({"rollout_id": rollout.rollout_id, "version": rollout.version}, **detail)
    events.record(rollout.project, kind, actor, detail, message=message)


def _set(rollout, **changes):
    """Update the rollout (conditional on ``seq``); ``None`` removes an attribute."""
    actions = []
    for name, value in changes.items():
        attr = getattr(Rollout, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    rollout.update(actions=actions)


def _finish(rollout, state, now, reason=None):
    _set(rollout, state=state, active_pk=None, finished_at=now, reason=reason, resume_state=None)


def _same_deploy(item):
    if item.deploy_id is None:
        return HostState.deploy_id.does_not_exist()
    return HostState.deploy_id == item.deploy_id


def _move(item, status, now, **changes):
    """Move ``item`` to ``status`` (with its ``wave_key``) if it is still as read; True if done."""
    actions = [HostState.status.set(status), HostState.updated_at.set(now),
               HostState.wave_key.set(wave_key(int(item.wave), status, item.host))]
    for name, value in changes.items():
        attr = getattr(HostState, name)
        actions.append(attr.remove() if value is None else attr.set(value))
    try:
        item.update(actions=actions, condition=(HostState.status == item.status) & _same_deploy(item))
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def _forget(item):
    """Delete the item of a host that left the project, unless it is mid-deploy."""
    try:
        item.delete(condition=(HostState.status == item.status) & (HostState.status != "in_progress"))
    except DeleteError as exc:
        if not condition_failed(exc):
            raise


def _released_items(rollout):
    """Host items of the waves released so far (one Query on ``project-index``)."""
    upper = f"{int(int(rollout.wave) + 1):03}"
    return [item for item in HostState.project_index.query(rollout.project, HostState.wave_key < upper)
            if item.rollout_id == rollout.rollout_id]


def _all_items(project_id):
    return list(HostState.project_index.query(project_id))


def _load_latest(project_id):
    for rollout in Rollout.query(project_id, scan_index_forward=False, limit=1, consistent_read=True):
        return rollout
    raise NotFound(f"project {project_id!r} has no rollout")


def previous_good_version(project_id):
    """The version the project last fully rolled out (or was rolled back to), or None."""
    for rollout in Rollout.query(project_id, scan_index_forward=False, limit=50):
        if rollout.state == "succeeded":
            return rollout.version
        if rollout.state == "rolled_back" and rollout.rollback_to:
            return rollout.rollback_to
    return None


# ----------------------------------------------------------------------------- the lock

def _acquire(rollout, owner):
    """Take the rollout's lock with a ``seq``-conditional write; False when someone holds it."""
    now = utcnow()
    if rollout.lock_owner and rollout.lock_until and rollout.lock_until > now:
        return False
    try:
        _set(rollout, lock_owner=owner, lock_until=now + datetime.timedelta(seconds=LOCK_SECONDS))
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def _release(rollout, owner):
    try:
        rollout.update(actions=[Rollout.lock_owner.remove(), Rollout.lock_until.remove()],
                       condition=Rollout.lock_owner == owner, add_version_condition=False)
    except UpdateError as exc:
        if not condition_failed(exc):
            raise  # a lost lock (expired and taken) is fine: its new owner releases it


@contextlib.contextmanager
def _locked(project_id, wait=CONTROL_WAIT_SECONDS):
    """The newest rollout of a project, locked for a control call (waits for a running tick)."""
    owner = "c-" + secrets.token_hex(6)
    deadline = time.monotonic() + wait
    while True:
        rollout = _load_latest(project_id)
        if _acquire(rollout, owner):
            break
        if time.monotonic() > deadline:
            raise Conflict("the rollout of %r is busy (a tick or another control holds it): "
                           "retry in a few seconds" % project_id)
        time.sleep(0.05)
    try:
        yield rollout
    finally:
        _release(rollout, owner)


# ----------------------------------------------------------------------------- new versions

def plan_change(project_id, actor, previous_spec):
    """What a saved project change does to its rollouts: a new version starts a rollout; a
    changed ``deploy_at`` or host list adjusts the current one.

    Called by the project service after a create or an applied update. The item is read again
    (consistently) so that a change racing this one is planned from what is stored.
    """
    try:
        stored = Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        return
    project = dict(stored.spec, id=stored.id)
    if previous_spec is None or previous_spec.get("version") != project["version"]:
        start_rollout(project, actor)
    else:
        _follow_changes(project, actor, previous_spec)


def start_rollout(project, actor, now=None):
    """Create the rollout of ``project["version"]``, superseding a running one; returns it."""
    now = now or utcnow()
    project_id = project["id"]
    old = rollout_view.latest(project_id)
    if old is not None and old.state in rollout_view.ACTIVE_STATES:
        _supersede(project_id, project["version"], actor, now)
    start_at = now
    if project.get("deploy_at"):
        start_at = max(now, parse_time(project["deploy_at"]))
    settings = dict(project.get("rollout") or {}, depends_on=project.get("depends_on") or [])
    rollout = Rollout(project_id, "%s-%s" % (now.strftime("%Y%m%dT%H%M%S.%fZ"), secrets.token_hex(3)),
                      version=project["version"], previous_version=previous_good_version(project_id),
                      state="scheduled" if start_at > now else "waiting_release", settings=settings,
                      start_at=start_at, active_pk="active", created_at=now, created_by=actor)
    rollout.save(Rollout.rollout_id.does_not_exist())
    _event(rollout, "rollout.scheduled", actor, "rollout of %s scheduled for %s"
           % (rollout.version, format_time(start_at)), start_at=format_time(start_at),
           previous_version=rollout.previous_version)
    if rollout.state == "waiting_release":
        drive_one(rollout, now, actor)  # start at once when the release is already ready
    return rollout


def _supersede(project_id, new_version, actor, now):
    """Stop the running rollout for a newer version: queued hosts stop, hosts mid-deploy finish
    (their items keep their ``deploy_id`` until they report; the new rollout waits for them)."""
    with _locked(project_id) as rollout:
        if rollout.state not in rollout_view.ACTIVE_STATES:
            return
        _finish(rollout, "superseded", now, f"superseded by version {new_version}")
        for item in _all_items(project_id):
            if item.rollout_id == rollout.rollout_id and item.status in ("waiting", "pending",
                                                                          "rollback_pending"):
                _move(item, "idle", now, deploy_id=None, released_at=None,
                      reason=f"superseded by version {new_version}")
        _event(rollout, "rollout.superseded", actor, "rollout of %s superseded by %s"
               % (rollout.version, new_version), by_version=new_version)


def _follow_changes(project, actor, previous_spec):
    """Same version, changed settings: a new ``deploy_at`` moves a scheduled start; hosts
    added to a planned rollout join its last wave, removed hosts leave it."""
    rollout = rollout_view.latest(project["id"])
    if rollout is None:
        return
    old_hosts, new_hosts = set(previous_spec.get("hosts", [])), set(project.get("hosts", []))
    moved = project.get("deploy_at") != previous_spec.get("deploy_at")
    if not moved and old_hosts == new_hosts:
        return
    with _locked(project["id"]) as rollout:
        if moved and rollout.state == "scheduled" and project.get("deploy_at"):
            _set(rollout, start_at=max(utcnow(), parse_time(project["deploy_at"])))
        if old_hosts != new_hosts and rollout.waves and rollout.state in (
                "running", "paused", "halted", "succeeded"):
            _resize(rollout, project, sorted(new_hosts - old_hosts), old_hosts - new_hosts, actor)


def _resize(rollout, project, added, removed, actor):
    now = utcnow()
    last = len(rollout.waves) - 1
    for item in _all_items(rollout.project):
        if item.host in removed:
            _forget(item)
    for host in added:
        _plan_item(rollout, host, last, now, now)
    waves = list(rollout.waves)
    waves[last] += len(added)
    changes = {"waves": waves}
    if added and rollout.state == "succeeded":
        changes.update(state="running", active_pk="active", finished_at=None,
                       wave_done_at=None, reason=f"{len(added)} hosts added")
    _set(rollout, **changes)
    if added:
        _event(rollout, "rollout.hosts_added", actor, f"{len(added)} hosts join wave {last}",
               hosts=added[:50])


# ----------------------------------------------------------------------------- the tick

def drive_one(rollout, now, actor=TICK_ACTOR):
    """Drive ``rollout`` one step under its lock: its new state, or "busy"/"raced"."""
    owner = "t-" + secrets.token_hex(6)
    if not _acquire(rollout, owner):
        return "busy"
    try:
        return _drive(rollout, now, actor)
    except UpdateError as exc:
        if condition_failed(exc):
            return "raced"  # the rollout changed under us (e.g. deleted): look again next tick
        raise
    finally:
        _release(rollout, owner)


def _drive(rollout, now, actor):
    if rollout.state == "scheduled":
        if now < rollout.start_at:
            return "scheduled"
        _set(rollout, state="waiting_release")
    if rollout.state == "waiting_release":
        return _start(rollout, now, actor)
    items = _released_items(rollout)
    _expire_leases(rollout, items, now, actor)
    if rollout.state == "running":
        return _drive_waves(rollout, items, now, actor)
    if rollout.state == "rolling_back":
        return _drive_rollback(rollout, items, now, actor)
    return rollout.state  # paused, halted: leases only


def _start(rollout, now, actor):
    try:
        project = Project.get(rollout.project)
    except DoesNotExist:
        _finish(rollout, "cancelled", now, "project deleted")
        return "cancelled"
    items = _all_items(rollout.project)
    blocker = _start_blocker(rollout, project.spec, items, now)
    if blocker:
        _wait(rollout, blocker, actor)
        return "waiting_release"
    verdict = gates.check_before_wave(rollout.project, project.spec, rollout, 0, now)
    if not verdict.ok:
        return gates.hold(rollout, verdict, actor)
    spec = project.spec
    rollout_settings = _settings(rollout)
    plan = plan_waves(rollout.project, spec.get("hosts", []),
                      rollout_settings.get("canary_hosts", []), rollout_settings.get("waves", ["100%"]))
    cutoff = now - _timeout(rollout)
    planned = {host for wave in plan for host in wave}
    for index, hosts in enumerate(plan):
        for host in hosts:
            if not _plan_item(rollout, host, index, now, cutoff):
                _wait(rollout, f"waiting for {host} to finish its previous deploy", actor)
                return "waiting_release"
    for item in items:
        if item.host not in planned:
            _forget(item)  # the host left the project
    _set(rollout, state="running", wave=0, waves=[len(w) for w in plan], wave_started_at=now,
         wave_done_at=None, reason=None)
    _event(rollout, "rollout.started", actor, "rollout of %s started: %d hosts in %d waves"
           % (rollout.version, len(planned), len(plan)), waves=[len(w) for w in plan])
    if not plan:
        _finish(rollout, "succeeded", now, "no hosts")
        _event(rollout, "rollout.succeeded", actor, f"rollout of {rollout.version} succeeded (no hosts)")
        return "succeeded"
    _event(rollout, "rollout.wave_started", actor, "wave 0 of %s started (%d hosts)"
           % (rollout.version, len(plan[0])), wave=0, hosts=len(plan[0]))
    _top_up(rollout, _released_items(rollout), now)
    return "running"


def _plan_item(rollout, host, wave, now, cutoff):
    """Write ``host``'s item for this rollout as ``waiting`` in ``wave``, unless mid-deploy."""
    item = HostState(host, rollout.project)
    actions = [HostState.rollout_id.set(rollout.rollout_id), HostState.wave.set(wave),
               HostState.status.set("waiting"), HostState.wave_key.set(wave_key(wave, "waiting", host)),
               HostState.target_version.set(rollout.version), HostState.deploy_kind.set("deploy"),
               HostState.depends_on.set(_settings(rollout).get("depends_on", [])),
               HostState.deploy_id.remove(), HostState.released_at.remove(),
               HostState.leased_at.remove(), HostState.reason.remove(),
               HostState.blocked_reason.remove(), HostState.updated_at.set(now)]
    condition = (HostState.host.does_not_exist() | (HostState.status != "in_progress")
                 | (HostState.leased_at < cutoff))
    try:
        item.update(actions=actions, condition=condition)
        return True
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise


def _start_blocker(rollout, spec, items, now):
    """Why the rollout cannot start yet (release, dependencies, hosts mid-deploy), or None."""
    release = releases.get(rollout.project, rollout.version)
    if release is None or release.state != releases.READY:
        state = release.state if release else "missing"
        detail = f": {release.error}" if release is not None and release.error else ""
        return f"waiting for release {rollout.version} ({state}{detail})"
    for dep in _settings(rollout).get("depends_on", []):
        reason = _remote_dependency_blocker(dep, spec.get("hosts", []))
        if reason:
            return reason
    cutoff = now - _timeout(rollout)
    busy = [i.host for i in items if i.status == "in_progress"
            and i.leased_at is not None and i.leased_at >= cutoff]
    if busy:
        return "waiting for %d hosts to finish the superseded deploy (%s)" % (
            len(busy), ", ".join(busy[:5]))
    return None


def _remote_dependency_blocker(dep, hosts):
    """Hosts that do not run the dependency need its rollout to have succeeded at a version
    that satisfies the spec (hosts that run it are gated one by one on poll)."""
    name, spec = dep["project"], dep.get("version") or ">=0"
    try:
        dep_hosts = set(Project.get(name).spec.get("hosts", []))
    except DoesNotExist:
        return f"blocked: waiting for {name} {spec} (no such project)"
    if all(host in dep_hosts for host in hosts):
        return None
    good = previous_good_version(name)
    if good is not None and versions.satisfies(good, spec):
        return None
    return "blocked: waiting for %s %s (its rollout must succeed first; now %s)" % (
        name, spec, good or "none succeeded")


def _wait(rollout, reason, actor):
    if rollout.reason == reason:
        return
    _set(rollout, reason=reason)
    kind = "rollout.blocked" if reason.startswith("blocked") else "rollout.waiting"
    _event(rollout, kind, actor, reason)


def _expire_leases(rollout, items, now, actor):
    """In-progress items past ``deploy_timeout`` → ``lost``; so are pending items a silent host
    never picked up (a dead agent must not hold a wave forever, nor count as a script failure)."""
    cutoff = now - _timeout(rollout)
    silent_since = now - _silent_after()
    for item in items:
        if item.status == "in_progress" and item.leased_at is not None and item.leased_at < cutoff:
            reason = f"no report within deploy_timeout ({int(_timeout(rollout).seconds)}s) of the lease"
        elif (item.status in ("pending", "rollback_pending") and item.released_at is not None
              and item.released_at < cutoff and (item.last_seen is None or item.last_seen < silent_since)):
            reason = "host silent: did not pick up the deploy within deploy_timeout"
        else:
            continue
        deploy_id = item.deploy_id
        if _move(item, "lost", now, reason=reason):
            events.record(rollout.project, "host.lost", actor, {
                "rollout_id": rollout.rollout_id, "deploy_id": deploy_id,
                "version": item.target_version, "kind": item.deploy_kind}, host=item.host,
                message=f"{item.host} lost: {reason}")


def _drive_waves(rollout, items, now, actor):
    total = sum(rollout.waves or [])
    allowed = allowed_failures(_settings(rollout).get("max_failures", 0), total)
    failed = [i for i in items if i.status in FAILED]
    if len(failed) > allowed and len(_confirmed(failed)) > allowed:
        return _halt(rollout, items, now, actor, "%d hosts failed or lost (max_failures allows %d)"
                     % (len(failed), allowed))
    _top_up(rollout, items, now)
    if not items or any(i.status not in DONE for i in items):
        return "running"
    wave = int(rollout.wave)
    if rollout.wave_done_at is None:
        _set(rollout, wave_done_at=now)
        counts = rollout_view.wave_counts([i for i in items if int(i.wave) == wave]).get(wave, {})
        _event(rollout, "rollout.wave_done", actor, f"wave {int(wave)} of {rollout.version} done",
               wave=wave, counts=counts)
    if wave >= len(rollout.waves) - 1:
        _finish(rollout, "succeeded", now, f"{len(failed)} of {total} hosts failed" if failed else None)
        _event(rollout, "rollout.succeeded", actor, f"rollout of {rollout.version} succeeded",
               failed=len(failed), hosts=total)
        return "succeeded"
    if not _settings(rollout).get("auto_promote", True):
        _wait(rollout, f"wave {int(wave)} done: waiting for a promote", actor)
        return "running"
    bake_until = rollout.wave_done_at + datetime.timedelta(seconds=int(_settings(rollout).get("bake_seconds", 0)))
    if now < bake_until:
        _wait(rollout, f"wave {int(wave)} done: baking until {format_time(bake_until)}", actor)
        return "running"
    verdict = gates.check_before_wave(rollout.project, None, rollout, wave + 1, now)
    if not verdict.ok:
        return gates.hold(rollout, verdict, actor)
    _open_waves(rollout, wave + 1, now, actor, "auto_promote")
    return "running"


def _confirmed(failed):
    """The failures as a consistent read sees them (the index may lag a resume)."""
    keys = [(i.host, i.project) for i in failed]
    return [i for i in HostState.batch_get(keys, consistent_read=True) if i.status in FAILED]


def _open_waves(rollout, upto, now, actor, why):
    first = int(rollout.wave) + 1
    _set(rollout, wave=upto, wave_started_at=now, wave_done_at=None, reason=None)
    for wave in range(first, upto + 1):
        _event(rollout, "rollout.wave_started", actor, "wave %d of %s started (%s)"
               % (wave, rollout.version, why), wave=wave, hosts=rollout.waves[wave], by=why)
    _top_up(rollout, _released_items(rollout), now)


def _top_up(rollout, items, now):
    """Release the waiting hosts of released waves (at most ``max_parallel`` in flight a wave)."""
    limit = int(_settings(rollout).get("max_parallel") or 0)
    by_wave = {}
    for item in items:
        by_wave.setdefault(int(item.wave), []).append(item)
    for wave, members in sorted(by_wave.items()):
        waiting = sorted((i for i in members if i.status == "waiting"),
                         key=lambda i: _hash_key(rollout.project, i.host))
        if limit:
            in_flight = sum(1 for i in members if i.status in IN_FLIGHT)
            waiting = waiting[:max(0, limit - in_flight)]
        for item in waiting:
            _move(item, "pending", now, deploy_id=_deploy_id(), deploy_kind="deploy",
                  target_version=rollout.version, attempt=int(item.attempt or 0) + 1,
                  released_at=now, leased_at=None, reason=None, blocked_reason=None,
                  depends_on=_settings(rollout).get("depends_on", []))


def _halt(rollout, items, now, actor, reason):
    target = rollout.previous_version
    if _settings(rollout).get("auto_rollback", True) and target:
        _event(rollout, "rollout.halted", actor, "rollout of %s halted: %s; rolling back to %s"
               % (rollout.version, reason, target), reason=reason, rollback_to=target)
        _begin_rollback(rollout, items, target, now, actor, f"auto_rollback: {reason}")
        return "rolling_back"
    why = reason if target or not _settings(rollout).get("auto_rollback", True) else \
        reason + "; no previous good version to roll back to"
    _set(rollout, state="halted", reason=why)
    for item in items:
        if item.status == "pending":
            _move(item, "waiting", now, deploy_id=None, released_at=None)
    _event(rollout, "rollout.halted", actor, f"rollout of {rollout.version} halted: {why}",
           reason=why)
    return "halted"


# ----------------------------------------------------------------------------- rollback

def _retarget_unreleased(rollout, now):
    """Hosts of waves never released go back to ``idle`` on the version they kept running, so a
    rolled-back rollout leaves no host "waiting" for a version that will not come."""
    for item in _all_items(rollout.project):
        if item.rollout_id == rollout.rollout_id and item.status == "waiting":
            _move(item, "idle", now, target_version=rollout.rollback_to, deploy_id=None)


def _begin_rollback(rollout, items, target, now, actor, reason):
    """Mark the rollout ``rolling_back`` and send the hosts on the new version back."""
    mode = _settings(rollout).get("rollback_mode", "all")
    top = max([int(i.wave) for i in items] or [0])
    _set(rollout, state="rolling_back", rollback_to=target, reason=reason, active_pk="active",
         rollback_wave=0 if mode == "all" else top, finished_at=None, resume_state=None)
    for item in items:
        if item.status == "pending":  # released but never handed out: it never changed
            _move(item, "waiting", now, deploy_id=None, released_at=None)
    _mark_rollbacks(rollout, items, now)


def _needs_rollback(rollout, item):
    if item.deploy_kind == "rollback" or item.rollout_id != rollout.rollout_id:
        return False
    if item.status in ("succeeded", "skipped", "lost"):
        return True
    return item.status == "failed" and item.running_version == rollout.version


def _mark_rollbacks(rollout, items, now):
    floor = int(rollout.rollback_wave or 0)
    for item in items:
        if int(item.wave) >= floor and _needs_rollback(rollout, item):
            _move(item, "rollback_pending", now, deploy_id=_deploy_id(), deploy_kind="rollback",
                  target_version=rollout.rollback_to, attempt=int(item.attempt or 0) + 1,
                  released_at=now, leased_at=None, depends_on=[],
                  reason=f"rollback of {rollout.version} to {rollout.rollback_to}")


def _drive_rollback(rollout, items, now, actor):
    _mark_rollbacks(rollout, items, now)
    floor = int(rollout.rollback_wave or 0)
    busy = [i for i in items if i.status in IN_FLIGHT and int(i.wave) >= floor]
    if busy:
        return "rolling_back"
    if floor > 0:
        _set(rollout, rollback_wave=floor - 1)
        _mark_rollbacks(rollout, items, now)
        return "rolling_back"
    if any(i.status in IN_FLIGHT for i in items):
        return "rolling_back"
    rolled = sum(1 for i in items if i.deploy_kind == "rollback" and i.status == "rolled_back")
    broken = [i.host for i in items if i.deploy_kind == "rollback" and i.status in FAILED]
    reason = rollout.reason
    if broken:
        reason = f"{reason}; {len(broken)} hosts failed to roll back ({', '.join(broken[:5])})"
    _finish(rollout, "rolled_back", now, reason)
    _retarget_unreleased(rollout, now)
    _event(rollout, "rollout.rolled_back", actor, "rollout of %s rolled back to %s (%d hosts)"
           % (rollout.version, rollout.rollback_to, rolled), rollback_to=rollout.rollback_to,
           hosts=rolled, failed=broken[:50])
    return "rolled_back"


# ----------------------------------------------------------------------------- controls

def _summary(project_id):
    return rollout_view.summary(project_id)


def promote(project_id, actor, full=False):
    """Release the next wave now (``full``: every remaining wave); a scheduled rollout starts."""
    now = utcnow()
    with _locked(project_id) as rollout:
        if rollout.state in ("scheduled", "waiting_release"):
            _set(rollout, state="waiting_release", start_at=now)
            _event(rollout, "rollout.promoted", actor, "rollout of %s promoted: start now"
                   % rollout.version, full=full)
            _start(rollout, now, actor)
            if full and rollout.state == "running" and len(rollout.waves) > 1:
                _open_waves(rollout, len(rollout.waves) - 1, now, actor, f"promote by {actor}")
            return _summary(project_id)
        if rollout.state != "running":
            raise Conflict("cannot promote a rollout that is %s%s" % (
                rollout.state, ": resume it first" if rollout.state in ("paused", "halted") else ""))
        last = len(rollout.waves) - 1
        if int(rollout.wave) >= last:
            raise Conflict(f"the rollout of {rollout.version} is already at its last wave")
        upto = last if full else int(rollout.wave) + 1
        _event(rollout, "rollout.promoted", actor, "rollout of %s promoted to wave %d"
               % (rollout.version, upto), wave=upto, full=full)
        _open_waves(rollout, upto, now, actor, f"promote by {actor}")
    return _summary(project_id)


def pause(project_id, actor):
    """Stop handing out deploys: no new wave, and released hosts that have not fetched their
    deploy yet wait again (``resume`` re-releases them). Hosts already mid-deploy finish."""
    now = utcnow()
    with _locked(project_id) as rollout:
        if rollout.state not in ("running", "scheduled", "waiting_release"):
            raise Conflict(f"cannot pause a rollout that is {rollout.state}")
        _set(rollout, state="paused", resume_state=rollout.state, reason=f"paused by {actor}")
        for item in _released_items(rollout):
            if item.status == "pending" and item.deploy_kind == "deploy":
                _move(item, "waiting", now, deploy_id=None, released_at=None)
        _event(rollout, "rollout.paused", actor, f"rollout of {rollout.version} paused")
    return _summary(project_id)


def resume(project_id, actor):
    """Continue a paused or halted rollout; a halted one retries its failed and lost hosts."""
    now = utcnow()
    with _locked(project_id) as rollout:
        if rollout.state not in ("paused", "halted"):
            raise Conflict(f"cannot resume a rollout that is {rollout.state}")
        retried = []
        if rollout.state == "halted":
            for item in _released_items(rollout):
                if item.status in FAILED and _move(
                        item, "pending", now, deploy_id=_deploy_id(), deploy_kind="deploy",
                        target_version=rollout.version, attempt=int(item.attempt or 0) + 1,
                        released_at=now, leased_at=None, reason="retry after resume"):
                    retried.append(item.host)
        state = rollout.resume_state if rollout.state == "paused" and rollout.resume_state else "running"
        _set(rollout, state=state, resume_state=None, reason=None, wave_done_at=None)
        if state == "running":
            _top_up(rollout, _released_items(rollout), now)  # what pause took back, at once
        _event(rollout, "rollout.resumed", actor, "rollout of %s resumed%s" % (
            rollout.version, " (%d hosts retried)" % len(retried) if retried else ""),
            retried=retried[:50])
    return _summary(project_id)


def rollback(project_id, actor, to=None):
    """Send every host on the rollout's version back to the previous good version (or ``to``)."""
    now = utcnow()
    if to is not None and not versions.is_valid(to):  # "" or junk is no DynamoDB key: 400, not 500
        raise ValidationError(f"cannot roll back to {to[:60]!r}: not a version",
                              {"to": "must be a version such as 1.4.2"})
    if to is not None:
        release = releases.get(project_id, to)
        if release is None or release.state != releases.READY:
            raise ValidationError(f"cannot roll back to {to}: it has no ready release",
                                  {"to": f"no ready release of {to}"})
    with _locked(project_id) as rollout:
        target = to or rollout.previous_version
        if rollout.state in ("rolling_back", "rolled_back", "superseded", "cancelled"):
            raise Conflict(f"cannot roll back a rollout that is {rollout.state}")
        if target is None:
            raise Conflict("the rollout of %s has no previous good version: pass ?to=<version>"
                           % rollout.version)
        if target == rollout.version:
            raise ValidationError("cannot roll back to the version being rolled out",
                                  {"to": "is the rollout's own version"})
        if rollout.state in ("scheduled", "waiting_release"):
            _finish(rollout, "cancelled", now, f"cancelled by a rollback from {actor}")
            _event(rollout, "rollout.cancelled", actor, "rollout of %s cancelled before it started"
                   % rollout.version)
            return _summary(project_id)
        _event(rollout, "rollout.rollback_requested", actor, "rollback of %s to %s requested"
               % (rollout.version, target), rollback_to=target)
        _begin_rollback(rollout, _released_items(rollout), target, now, actor,
                        f"rollback to {target} requested by {actor}")
    return _summary(project_id)
