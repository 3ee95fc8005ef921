"""The operator's rollout controls: promote, pause, resume, rollback (``chalicelib.api.controls``).

Each takes the newest rollout of the project under its lock (waiting for a running tick, 409
when it stays busy), refuses with 409 what the rollout's state forbids, records an event naming
the caller, and answers the rollout summary after the change (``chalicelib.rollout.view``).
A promote is refused (409) while the stage is frozen, unless ``override_freeze`` with a reason
(recorded as ``rollout.freeze_override``), and while one of the rollout's alarms is in ``ALARM``
(read from CloudWatch: releasing hosts into an incident is never what the operator meant).
"""
from chalicelib import versions
from chalicelib.build import releases
from chalicelib.errors import Conflict, ValidationError
from chalicelib.models import Rollout
from chalicelib.rollout import (alarms, drain, engine, freeze, hostitems, lock, rollback as rollbacks,
                               store, view)
from chalicelib.states import (HOST_FAILED, ROLLOUT_NOT_STARTED, DeployKind, HostStatus, ReleaseState,
                               RolloutState)
from chalicelib.times import utcnow

#: Rollouts a pause stops (a promote starts a rollout that has not started, a rollback cancels it).
_PAUSABLE = frozenset({RolloutState.RUNNING, *ROLLOUT_NOT_STARTED})
#: Rollouts a resume continues.
_RESUMABLE = frozenset({RolloutState.PAUSED, RolloutState.HALTED})
#: Rollouts a rollback refuses: already going back, or over without a version to leave.
_NOT_ROLLBACKABLE = frozenset({RolloutState.ROLLING_BACK, RolloutState.ROLLED_BACK,
                               RolloutState.SUPERSEDED, RolloutState.CANCELLED})


def promote(project_id: str, actor: str, full: bool = False, *, override_freeze: bool = False,
            reason: str | None = None) -> dict:
    """Release the next wave now (``full``: every remaining wave); a scheduled rollout starts.

    While the stage is frozen only ``override_freeze`` with a ``reason`` lets it through.
    """
    now = utcnow()
    with lock.locked(project_id) as rollout:
        if rollout.state in ROLLOUT_NOT_STARTED:
            _check_promote(rollout, actor, override_freeze, reason)
            store.set_fields(rollout, state=RolloutState.WAITING_RELEASE, start_at=now)
            store.record(rollout, "rollout.promoted", actor,
                         f"rollout of {rollout.version} promoted: start now", full=full)
            engine.start(rollout, now, actor, frozen=None)  # the freeze was just checked
            if full and rollout.state == RolloutState.RUNNING and len(rollout.waves) > 1:
                engine.open_waves(rollout, len(rollout.waves) - 1, now, actor, f"promote by {actor}")
            return view.summary(project_id)
        if rollout.state != RolloutState.RUNNING:
            hint = ": resume it first" if rollout.state in _RESUMABLE else ""
            raise Conflict(f"cannot promote a rollout that is {rollout.state}{hint}")
        last = len(rollout.waves) - 1
        if int(rollout.wave) >= last:
            raise Conflict(f"the rollout of {rollout.version} is already at its last wave")
        _check_promote(rollout, actor, override_freeze, reason)
        upto = last if full else int(rollout.wave) + 1
        store.record(rollout, "rollout.promoted", actor,
                     f"rollout of {rollout.version} promoted to wave {upto}", wave=upto, full=full)
        engine.open_waves(rollout, upto, now, actor, f"promote by {actor}")
    return view.summary(project_id)


def _check_promote(rollout: Rollout, actor: str, override_freeze: bool, reason: str | None) -> None:
    """409 unless a promote may go now (see the module docstring); records an override."""
    names = alarms.names_of(rollout)
    if names:
        firing = [a for a in alarms.describe(names) if a.state == alarms.ALARM]
        if firing:
            alarm = firing[0]
            raise Conflict(f"cannot promote: alarm {alarm.name} is in ALARM ({alarm.reason or 'no reason'}); "
                           "the tick halts this rollout while it is, so wait until it is OK or roll back")
    item = freeze.current()
    if item is None:
        return
    if not override_freeze:
        raise Conflict(f"cannot promote: the stage is {freeze.hold_reason(item)} since "
                       f"{freeze.to_dict(item)['since']}; to let this promote through, send "
                       "?override_freeze=true&reason=<why>")
    freeze.override(rollout, actor, reason)


def pause(project_id: str, actor: str) -> dict:
    """Stop handing out deploys: no new wave, and released hosts that have not fetched their
    deploy yet wait again (``resume`` re-releases them). Hosts already mid-deploy finish."""
    now = utcnow()
    with lock.locked(project_id) as rollout:
        if rollout.state not in _PAUSABLE:
            raise Conflict(f"cannot pause a rollout that is {rollout.state}")
        store.set_fields(rollout, state=RolloutState.PAUSED, resume_state=rollout.state,
                         reason=f"paused by {actor}")
        for item in hostitems.released_items(rollout):
            if item.status == HostStatus.PENDING and item.deploy_kind == DeployKind.DEPLOY:
                hostitems.move(item, HostStatus.WAITING, now, deploy_id=None, released_at=None)
        store.record(rollout, "rollout.paused", actor, f"rollout of {rollout.version} paused")
    return view.summary(project_id)


def resume(project_id: str, actor: str) -> dict:
    """Continue a paused or halted rollout; a halted one retries its failed and lost hosts."""
    now = utcnow()
    with lock.locked(project_id) as rollout:
        if rollout.state not in _RESUMABLE:
            raise Conflict(f"cannot resume a rollout that is {rollout.state}")
        retried = []
        if rollout.state == RolloutState.HALTED:
            for item in hostitems.released_items(rollout):
                if item.status in HOST_FAILED and drain.retry(rollout, item, now):
                    retried.append(item.host)
        paused_from = rollout.state == RolloutState.PAUSED and rollout.resume_state
        state = rollout.resume_state if paused_from else RolloutState.RUNNING
        store.set_fields(rollout, state=state, resume_state=None, reason=None, wave_done_at=None)
        if state == RolloutState.RUNNING:
            engine.top_up(rollout, hostitems.released_items(rollout), now)  # what pause took back
        suffix = f" ({len(retried)} hosts retried)" if retried else ""
        store.record(rollout, "rollout.resumed", actor, f"rollout of {rollout.version} resumed{suffix}",
                     retried=retried[:50])
    return view.summary(project_id)


def rollback(project_id: str, actor: str, to: str | None = None) -> dict:
    """Send every host on the rollout's version back to the previous good version (or ``to``)."""
    now = utcnow()
    if to is not None:
        _check_target(project_id, to)
    with lock.locked(project_id) as rollout:
        target = to or rollout.previous_version
        if rollout.state in _NOT_ROLLBACKABLE:
            raise Conflict(f"cannot roll back a rollout that is {rollout.state}")
        if target is None:
            raise Conflict(f"the rollout of {rollout.version} has no previous good version: "
                           f"pass ?to=<version>")
        if target == rollout.version:
            raise ValidationError("cannot roll back to the version being rolled out",
                                  {"to": "is the rollout's own version"})
        if rollout.state in ROLLOUT_NOT_STARTED:
            store.finish(rollout, RolloutState.CANCELLED, now, f"cancelled by a rollback from {actor}")
            store.record(rollout, "rollout.cancelled", actor,
                         f"rollout of {rollout.version} cancelled before it started")
            return view.summary(project_id)
        store.record(rollout, "rollout.rollback_requested", actor,
                     f"rollback of {rollout.version} to {target} requested", rollback_to=target)
        rollbacks.begin(rollout, hostitems.released_items(rollout), target, now,
                        f"rollback to {target} requested by {actor}")
    return view.summary(project_id)


def _check_target(project_id: str, to: str) -> None:
    """400 unless ``to`` is a version with a ready release of the project."""
    if not versions.is_valid(to):  # "" or junk is no DynamoDB key: 400, not 500
        raise ValidationError(f"cannot roll back to {to[:60]!r}: not a version",
                              {"to": "must be a version such as 1.4.2"})
    release = releases.get(project_id, to)
    if release is None or release.state != ReleaseState.READY:
        raise ValidationError(f"cannot roll back to {to}: it has no ready release",
                              {"to": f"no ready release of {to}"})
