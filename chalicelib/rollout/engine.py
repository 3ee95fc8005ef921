"""The rollout engine: drives one rollout one step, under its lock.

A rollout is ``scheduled`` until ``start_at``, ``waiting_release`` until its release is ready,
its dependencies allow it and no host is still mid-deploy, then ``running`` wave by wave (see
``chalicelib.rollout.plan``). Each step expires stale leases, halts (or rolls back) past
``max_failures``, tops up the released waves to ``max_parallel`` (with a load balancer, hosts
leave their target groups first and rejoin after: ``chalicelib.rollout.drain``), and releases
the next wave after ``bake_seconds`` when ``auto_promote`` and the before-wave gate allow.
Only released waves have ``pending`` host items, so only their hosts see a deploy on poll.
``drive_one`` is what the tick (``chalicelib.rollout.tick``) and a new version
(``chalicelib.rollout.changes``) call;
``start``, ``open_waves`` and ``top_up`` are shared with the controls. Only the tick asks a
before-wave gate (``ask_gates``, within its ``deadline``); a step run for an API request leaves
a gated wave to the next tick (``gates.NEXT_TICK``). Each wave's start and finish times are kept
(``chalicelib.rollout.timeline``). The tick also hands each step the alarm states it read
(``chalicelib.rollout.alarms``: an alarm in ``ALARM`` halts, the last wave succeeds only after
the watch) and the stage's freeze (``chalicelib.rollout.freeze``: no wave starts while frozen;
a step for an API request reads the freeze itself). See ``docs/rollouts.md``.
"""
import datetime
import secrets

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib import events, versions
from chalicelib.build import releases
from chalicelib.hosts import beat
from chalicelib.models import Freeze, HostState, Project, Rollout, condition_failed
from chalicelib.projects import config_fields, hostlist
from chalicelib.rollout import (alarms, analysis, drain, freeze, gates, hostitems, lock, members,
                                plan, rollback, store, summary, timeline, windows)
from chalicelib.states import (HOST_DONE, HOST_FAILED, HOST_GONE, HOST_PENDING, HostStatus,
                               ReleaseState, RolloutState)
from chalicelib.times import format_time

TICK_ACTOR = "fabu:tick"
#: ``drive_one``'s answers when it did not drive: another tick holds the lock; the rollout
#: changed under this step (it is looked at again on the next tick).
BUSY, RACED = "busy", "raced"
#: ``frozen`` when the caller did not read the stage's freeze: the step reads it if it needs it.
UNREAD = "unread"


def drive_one(rollout: Rollout, now: datetime.datetime, actor: str = TICK_ACTOR, *,
              ask_gates: bool = False, deadline: float | None = None,
              alarm_states: alarms.Snapshot | None = None,
              frozen: Freeze | None | str = UNREAD) -> str:
    """Drive ``rollout`` one step under its lock: its new state, or ``BUSY``/``RACED``.

    ``ask_gates``: the tick's step, which may ask a before-wave gate (by ``deadline``, a
    ``time.monotonic()`` value) and stamps ``driven_at``; a step for an API request never asks.
    ``alarm_states``: the tick's read of the alarms (None: not read); ``frozen``: the stage's
    freeze as the tick read it (None: not frozen; ``UNREAD``: read it when a wave would start).
    Any other error propagates (the tick records it on the rollout: ``rollout.failures``).
    """
    owner = f"t-{secrets.token_hex(6)}"
    if not lock.acquire(rollout, owner, now=now, driven=ask_gates):
        return BUSY
    try:
        with summary.counting(rollout):  # the list's host counts, written once if they changed
            state = _drive(rollout, now, actor, ask_gates, deadline, alarm_states, frozen)
        return str(state)  # a plain string, as stored and as JSON shows it
    except UpdateError as exc:
        if condition_failed(exc):
            return RACED  # the rollout changed under us (e.g. deleted): look again next tick
        raise
    finally:
        lock.release(rollout, owner)


def _drive(rollout: Rollout, now: datetime.datetime, actor: str, ask_gates: bool,
           deadline: float | None, alarm_states: alarms.Snapshot | None,
           frozen: Freeze | None | str) -> str:
    if rollout.state == RolloutState.SCHEDULED:
        if now < rollout.start_at:
            return RolloutState.SCHEDULED
        store.set_fields(rollout, state=RolloutState.WAITING_RELEASE)
    if rollout.state == RolloutState.WAITING_RELEASE:
        if _window_holds(rollout, now, actor):  # a promote calls start itself: not held
            return RolloutState.WAITING_RELEASE
        return start(rollout, now, actor, ask_gates=ask_gates, deadline=deadline,
                     alarm_states=alarm_states, frozen=frozen)
    items = summary.note(rollout, hostitems.released_items(rollout))
    _expire_leases(rollout, items, now, actor)
    if rollout.state == RolloutState.RUNNING:
        return _drive_waves(rollout, items, now, actor, ask_gates, deadline, alarm_states, frozen)
    if rollout.state == RolloutState.ROLLING_BACK:
        return rollback.drive(rollout, items, now, actor)
    drain.step(rollout, items, now, actor)  # paused, halted: drained hosts back in service
    return rollout.state  # paused, halted: leases and target groups only


def start(rollout: Rollout, now: datetime.datetime, actor: str, *, ask_gates: bool = False,
          deadline: float | None = None, alarm_states: alarms.Snapshot | None = None,
          frozen: Freeze | None | str = UNREAD) -> str:
    """Start a ``waiting_release`` rollout if nothing holds it: plan its waves, write every
    host's item, release wave 0. Returns the rollout's state afterwards. Wave 0's gate is asked
    only with ``ask_gates`` (the tick); otherwise a gated start waits for the next tick. A freeze
    holds the start (``frozen=None``: a promote let through it); so does, in the tick, a
    watched alarm already in ``ALARM`` or unreadable."""
    try:
        project = Project.get(rollout.project)
    except DoesNotExist:
        store.finish(rollout, RolloutState.CANCELLED, now, "project deleted")
        return RolloutState.CANCELLED
    items = hostitems.all_items(rollout.project)
    drain.step(rollout, items, now, actor)  # hosts a superseded rollout left out of service
    blocker = _start_blocker(rollout, project.spec, items, now) or members.sync_blocker(project)
    blocker = blocker or _freeze_holds(frozen) or _alarms_hold_start(rollout, alarm_states)
    if blocker:
        _wait(rollout, blocker, actor)
        return RolloutState.WAITING_RELEASE
    if _gate_holds(rollout, 0, now, actor, project.spec, ask_gates, deadline):
        return rollout.state
    settings = store.settings(rollout)
    candidates, zones = members.planned(project.spec, items)  # listed hosts, fleet members
    waves = plan.plan_waves(rollout.project, candidates, settings.get("canary_hosts", []),
                            settings.get("waves", ["100%"]), zones=zones,
                            zone_mode=settings.get("zones"))
    cutoff = now - store.deploy_timeout(rollout)
    planned = {host for wave in waves for host in wave}
    for index, hosts in enumerate(waves):
        for host in hosts:
            if not hostitems.plan_item(rollout, host, index, now, cutoff):
                _wait(rollout, f"waiting for {host} to finish its previous deploy", actor)
                return RolloutState.WAITING_RELEASE
    for item in items:
        if item.host not in planned and item.status not in HOST_GONE:
            hostitems.forget(item)  # the host left the project (a fleet leaver is kept)
    sizes = [len(w) for w in waves]
    store.set_fields(rollout, state=RolloutState.RUNNING, wave=0, waves=sizes, wave_started_at=now,
                     wave_done_at=None, reason=None,
                     wave_times=timeline.started(rollout, 0, 0, now, wave_count=len(waves)))
    store.record(rollout, "rollout.started", actor, f"rollout of "
                 f"{config_fields.label(rollout.version, rollout.revision)} started: "
                 f"{len(planned)} hosts in {len(waves)} waves", waves=sizes)
    if not waves:
        store.finish(rollout, RolloutState.SUCCEEDED, now, "no hosts")
        store.record(rollout, "rollout.succeeded", actor,
                     f"rollout of {rollout.version} succeeded (no hosts)")
        return RolloutState.SUCCEEDED
    store.record(rollout, "rollout.wave_started", actor,
                 f"wave 0 of {rollout.version} started ({len(waves[0])} hosts)",
                 wave=0, hosts=len(waves[0]))
    top_up(rollout, hostitems.released_items(rollout), now)
    return RolloutState.RUNNING


def _start_blocker(rollout: Rollout, spec: dict, items: list[HostState],
                   now: datetime.datetime) -> str | None:
    """Why the rollout cannot start yet (release, dependencies, hosts mid-deploy), or None."""
    release = releases.get(rollout.project, rollout.version)
    if release is None or release.state != ReleaseState.READY:
        state = release.state if release else "missing"
        detail = f": {release.error}" if release is not None and release.error else ""
        return f"waiting for release {rollout.version} ({state}{detail})"
    for dep in store.settings(rollout).get("depends_on", []):
        reason = _remote_dependency_blocker(dep, members.planned(spec, items)[0])
        if reason:
            return reason
    cutoff = now - store.deploy_timeout(rollout)
    busy = [i.host for i in items if i.status == HostStatus.IN_PROGRESS
            and i.leased_at is not None and i.leased_at >= cutoff]
    if busy:
        return (f"waiting for {len(busy)} hosts to finish the superseded deploy "
                f"({', '.join(busy[:5])})")
    return None


def _remote_dependency_blocker(dep: dict, hosts: list[str]) -> str | None:
    """Hosts that do not run the dependency need its rollout to have succeeded at a version
    that satisfies the spec (hosts that run it are gated one by one on poll)."""
    name, spec = dep["project"], dep.get("version") or ">=0"
    try:
        dep_hosts = set(hostlist.names(Project.get(name).spec))
    except DoesNotExist:
        return f"blocked: waiting for {name} {spec} (no such project)"
    if all(host in dep_hosts for host in hosts):
        return None
    good = store.previous_good_version(name)
    if good is not None and versions.satisfies(good, spec):
        return None
    return (f"blocked: waiting for {name} {spec} (its rollout must succeed first; "
            f"now {good or 'none succeeded'})")


def _gate_holds(rollout: Rollout, wave: int, now: datetime.datetime, actor: str,
                spec: dict | None, ask_gates: bool, deadline: float | None) -> bool:
    """True when ``wave`` may not start yet: its before-wave gate said no (the rollout waits or,
    past the gate's deadline, is paused), or the gate is left to the tick (``ask_gates`` off)."""
    if not ask_gates:
        if not gates.has_before_wave(spec if spec is not None else gates.spec_of(rollout.project)):
            return False
        _wait(rollout, gates.NEXT_TICK, actor)
        return True
    verdict = gates.check_before_wave(rollout, wave, now, spec, deadline)
    if verdict.ok:
        return False
    gates.hold(rollout, verdict, actor)
    return True


def _freeze_holds(frozen: Freeze | None | str) -> str | None:
    """``frozen: <reason> (by <arn>)`` while the stage is frozen, else None."""
    item = freeze.current() if frozen == UNREAD else frozen
    return freeze.hold_reason(item) if item is not None else None


def _alarms_hold_start(rollout: Rollout, alarm_states: alarms.Snapshot | None) -> str | None:
    """In the tick: a watched alarm already in ``ALARM`` (or unreadable) holds wave 0."""
    if alarm_states is None or not alarms.names_of(rollout):
        return None
    judged = alarms.judge(rollout, alarm_states)
    if judged.tripped is not None:
        alarm = judged.tripped
        return f"holding: alarm {alarm.name} is in {alarm.state}; wave 0 starts once it is not"
    return alarms.hold_reason(judged)


def _watch_holds(rollout: Rollout, judged: alarms.Judgement, now: datetime.datetime) -> str | None:
    """Why a rollout whose last wave is done may not succeed yet (its alarms' watch), or None."""
    until = alarms.watch_until(rollout)
    if until is None:
        return None
    if judged.unknown:
        return alarms.hold_reason(judged)
    if now < until:
        return f"watching alarms until {format_time(until)}"
    return None


def _window_holds(rollout: Rollout, now: datetime.datetime, actor: str) -> bool:
    """Outside the rollout's deploy windows (``chalicelib.rollout.windows``) no wave starts."""
    reason = windows.closed_reason(store.settings(rollout).get("windows"), now)
    if reason:
        _wait(rollout, reason, actor)
    return reason is not None


def _wait(rollout: Rollout, reason: str, actor: str) -> None:
    """Say why the rollout waits (once per reason: a ``rollout.blocked``/``waiting`` event)."""
    if rollout.reason == reason:
        return
    store.set_fields(rollout, reason=reason)
    kind = "rollout.blocked" if reason.startswith("blocked") else "rollout.waiting"
    store.record(rollout, kind, actor, reason)


def _expire_leases(rollout: Rollout, items: list[HostState], now: datetime.datetime,
                   actor: str) -> None:
    """In-progress items past ``deploy_timeout`` → ``lost``; so are pending items a silent host
    never picked up (a dead agent must not hold a wave forever, nor count as a script failure):
    the item not touched and the host's beat not due for ``FABU_SILENT_SECONDS`` (``hosts.beat``)."""
    timeout = store.deploy_timeout(rollout)
    cutoff = now - timeout
    silent_since = now - store.silent_after()
    stale = {id(i) for i in items if i.status in HOST_PENDING and i.released_at is not None
             and i.released_at < cutoff and (i.last_seen is None or i.last_seen < silent_since)}
    silent = beat.silent({i.host for i in items if id(i) in stale}, now) if stale else set()
    for item in items:
        if item.status == HostStatus.IN_PROGRESS and item.leased_at is not None \
                and item.leased_at < cutoff:
            reason = f"no report within deploy_timeout ({int(timeout.total_seconds())}s) of the lease"
        elif id(item) in stale and item.host in silent:
            reason = "host silent: did not pick up the deploy within deploy_timeout"
        else:
            continue
        deploy_id = item.deploy_id
        if hostitems.move(item, HostStatus.LOST, now, reason=reason):
            events.record(rollout.project, "host.lost", actor, {
                "rollout_id": rollout.rollout_id, "deploy_id": deploy_id,
                "version": item.target_version, "kind": item.deploy_kind}, host=item.host,
                message=f"{item.host} lost: {reason}")


def _drive_waves(rollout: Rollout, items: list[HostState], now: datetime.datetime,
                 actor: str, ask_gates: bool, deadline: float | None,
                 alarm_states: alarms.Snapshot | None, frozen: Freeze | None | str) -> str:
    settings = store.settings(rollout)
    total = sum(rollout.waves or [])
    allowed = plan.allowed_failures(settings.get("max_failures", 0), total)
    failed = [i for i in items if i.status in HOST_FAILED]
    if len(failed) > allowed and len(_confirmed(failed)) > allowed:
        return _halt(rollout, items, now, actor,
                     f"{len(failed)} hosts failed or lost (max_failures allows {allowed})")
    judged = alarms.judge(rollout, alarm_states)
    if judged.tripped is not None:
        return _halt(rollout, items, now, actor, alarms.record_trip(rollout, judged.tripped, actor))
    held = drain.step(rollout, items, now, actor)  # target groups: out, released, back in
    top_up(rollout, items, now)
    times = timeline.finished(rollout, items, now)
    if times is not None:
        store.set_fields(rollout, wave_times=times)
    if members.none_released(rollout, items) or any(i.status not in HOST_DONE for i in items):
        return RolloutState.RUNNING
    wave = int(rollout.wave)
    if rollout.wave_done_at is None:
        store.set_fields(rollout, wave_done_at=now)
        counts = plan.wave_counts([i for i in items if int(i.wave) == wave]).get(wave, {})
        store.record(rollout, "rollout.wave_done", actor, f"wave {wave} of {rollout.version} done",
                     wave=wave, counts=counts)
    verdict = analysis.at_bake_end(rollout, wave, now, actor, deadline)  # canary vs baseline
    if verdict is not None and verdict.passed is not True:
        if verdict.passed is False:
            return _halt(rollout, items, now, actor, verdict.reason)
        if verdict.reason:
            _wait(rollout, verdict.reason, actor)
        return RolloutState.RUNNING
    if wave >= len(rollout.waves) - 1:
        watching = held or _watch_holds(rollout, judged, now)
        if watching:
            _wait(rollout, watching, actor)
            return RolloutState.RUNNING
        store.finish(rollout, RolloutState.SUCCEEDED, now,
                     f"{len(failed)} of {total} hosts failed" if failed else None)
        store.record(rollout, "rollout.succeeded", actor, f"rollout of {rollout.version} succeeded",
                     failed=len(failed), hosts=total)
        return RolloutState.SUCCEEDED
    held = _freeze_holds(frozen)
    if held:
        _wait(rollout, held, actor)
        return RolloutState.RUNNING
    if not settings.get("auto_promote", True):
        _wait(rollout, f"wave {wave} done: waiting for a promote", actor)
        return RolloutState.RUNNING
    bake_until = rollout.wave_done_at + datetime.timedelta(seconds=int(settings.get("bake_seconds", 0)))
    if now < bake_until:
        _wait(rollout, f"wave {wave} done: baking until {format_time(bake_until)}", actor)
        return RolloutState.RUNNING
    held = alarms.hold_reason(judged)
    if held:
        _wait(rollout, held, actor)
        return RolloutState.RUNNING
    if _window_holds(rollout, now, actor):
        return RolloutState.RUNNING
    if _gate_holds(rollout, wave + 1, now, actor, None, ask_gates, deadline):
        return rollout.state
    open_waves(rollout, wave + 1, now, actor, "auto_promote")
    return RolloutState.RUNNING


def _confirmed(failed: list[HostState]) -> list[HostState]:
    """The failures as a consistent read sees them (the index may lag a resume)."""
    keys = [(i.host, i.project) for i in failed]
    return [i for i in HostState.batch_get(keys, consistent_read=True) if i.status in HOST_FAILED]


def open_waves(rollout: Rollout, upto: int, now: datetime.datetime, actor: str, why: str) -> None:
    """Release the waves after the current one up to ``upto`` (``why``: "auto_promote", or
    "promote by <actor>") and hand their hosts out."""
    first = int(rollout.wave) + 1
    store.set_fields(rollout, wave=upto, wave_started_at=now, wave_done_at=None, reason=None,
                     wave_times=timeline.started(rollout, first, upto, now))
    for wave in range(first, upto + 1):
        store.record(rollout, "rollout.wave_started", actor,
                     f"wave {wave} of {rollout.version} started ({why})",
                     wave=wave, hosts=rollout.waves[wave], by=why)
    top_up(rollout, hostitems.released_items(rollout), now)


def top_up(rollout: Rollout, items: list[HostState], now: datetime.datetime) -> None:
    """Release the waiting hosts of released waves up to ``max_parallel`` (``drain.choose``):
    ``pending``, or with a load balancer ``draining`` out of their target groups first."""
    drain.release(rollout, drain.choose(rollout, items), now)


def _halt(rollout: Rollout, items: list[HostState], now: datetime.datetime, actor: str,
          reason: str) -> str:
    """Too many failures: roll back (``auto_rollback`` and a previous good version) or halt. A
    config revision halts: its version is the good one, the old config is not kept to go back to."""
    target = rollout.previous_version
    auto_rollback = store.settings(rollout).get("auto_rollback", True)
    if rollout.revision and target == rollout.version:
        target, auto_rollback = None, False  # halt, saying why
        reason = f"{reason} (a config revision is not rolled back: fix the config, a new revision)"
    if auto_rollback and target:
        store.record(rollout, "rollout.halted", actor, f"rollout of {rollout.version} halted: "
                     f"{reason}; rolling back to {target}", reason=reason, rollback_to=target)
        rollback.begin(rollout, items, target, now, f"auto_rollback: {reason}")
        return RolloutState.ROLLING_BACK
    why = reason if target or not auto_rollback else f"{reason}; no previous good version to roll back to"
    store.set_fields(rollout, state=RolloutState.HALTED, reason=why)
    for item in items:
        if item.status == HostStatus.PENDING:
            hostitems.move(item, HostStatus.WAITING, now, deploy_id=None, released_at=None)
    store.record(rollout, "rollout.halted", actor, f"rollout of {rollout.version} halted: {why}",
                 reason=why)
    return RolloutState.HALTED

