"""Traffic draining: who is released next, and each host out of its target groups around its deploy.

``choose`` and ``release`` are the engine's top-up: the waiting hosts of released waves, at most
``max_parallel`` at once (a count, or a percentage of the rollout's hosts rounded up, at least
1; see ``parallel_limit``). Without ``rollout.load_balancer`` a chosen host is ``pending`` at
once. With ``rollout.load_balancer: {target_groups: [arn, ...], drain_seconds}`` the platform
(never the host: hosts need no ELB permission) takes it out of service first, as CodeDeploy's
BlockTraffic / AllowTraffic do, and ``max_parallel`` counts every host out of service across the
rollout (draining, deploying, or deployed and not yet back):

1. ``release``: the host becomes ``draining`` and is deregistered from each group (batched per
   group: ``chalicelib.rollout.elb``); event ``host.draining`` (``target_groups``, ``until``).
   Its poll says "draining" and never hands out a script.
2. ``step`` (each engine step): once out of every group, the host waits until the ELB lists it
   as draining in none of them, at the latest until ``until`` = the longest deregistration
   delay of its groups, capped by ``drain_seconds`` (default and ceiling: the stage's
   ``FABU_DRAIN_MAX_SECONDS``, 300); then it is ``pending`` with a new deploy id.
3. After its deploy ``step`` registers it again when it ended well (``succeeded``, ``skipped``,
   ``rolled_back``; ``failed`` with a self-rollback that went well, or in pre-deploy before
   anything changed): ``host.registered``. A ``lost`` host, or a ``failed`` one still broken,
   stays out (``host.kept_out``, once) until a later deploy or rollback on it succeeds.
4. A draining host whose rollout stops releasing (paused, halted, rolling back, superseded)
   never changed: it goes back to ``waiting`` and into its groups.

The item's ``drain`` records it: ``{target_groups, state: draining|out|kept_out|registered,
since, until, done: [groups left so far], error}``, so a retry after a half-failure (out of 1 of
2 groups) completes the work. An ELB error holds the host (no deploy while it may still take
traffic) and is said on the rollout's reason (``rollout.waiting``, once per reason). Rollbacks
are not drained (urgent; ``rollback_mode: all`` would take every host out at once).
"""
import datetime

from chalicelib import config, events
from chalicelib.models import HostState, Rollout, update_if
from chalicelib.projects.schema import PERCENT_RE
from chalicelib.rollout import elb, hostitems, plan, store
from chalicelib.states import (HOST_FAILED, HOST_GONE, HOST_IN_FLIGHT, REPORT_WENT_WELL, DeployKind,
                               DrainState, HostStatus, Phase, ReportStatus, RolloutState)
from chalicelib.times import format_time, parse_time

ACTOR = "fabu:tick"
#: ``drain.state``: leaving its groups, out (deploying), kept out (lost or broken), back in.
DRAINING, OUT, KEPT_OUT, REGISTERED = (DrainState.DRAINING, DrainState.OUT, DrainState.KEPT_OUT,
                                       DrainState.REGISTERED)
#: The stage's ceiling on a drain's wait (``FABU_DRAIN_MAX_SECONDS``) when not set.
DEFAULT_MAX_SECONDS = 300
#: A rollout reason this module wrote starts with this (cleared when the ELB works again).
REASON_PREFIX = "target groups: "
_ENDED_WELL = frozenset({HostStatus.SUCCEEDED, HostStatus.SKIPPED, HostStatus.ROLLED_BACK})
_AT_REST = frozenset({HostStatus.WAITING, HostStatus.IDLE})


def groups_of(settings: dict) -> list[str]:
    """The target groups of ``rollout.load_balancer`` (empty: no traffic draining)."""
    return list((settings.get("load_balancer") or {}).get("target_groups") or [])


def max_seconds() -> int:
    """The stage's ceiling on a drain's wait: ``FABU_DRAIN_MAX_SECONDS`` (default 300)."""
    return max(0, config.int_setting("FABU_DRAIN_MAX_SECONDS", DEFAULT_MAX_SECONDS))


def wait_seconds(settings: dict, delays: list[int]) -> int:
    """The longest wait of a drain: the longest deregistration delay of the groups, capped by
    ``drain_seconds`` and by the stage's ceiling."""
    cap = max_seconds()
    own = (settings.get("load_balancer") or {}).get("drain_seconds")
    if own is not None:
        cap = min(cap, int(own))
    return max(0, min(max(delays or [0]), cap))


def parallel_limit(max_parallel: int | str | None, total: int) -> int:
    """``max_parallel`` as a host count (0: no limit): a count, or ``"25%"`` of ``total`` (the
    rollout's hosts) rounded up, at least 1."""
    if isinstance(max_parallel, str):
        percent = int(PERCENT_RE.fullmatch(max_parallel).group(1))
        return max(1, -(-percent * total // 100))
    return int(max_parallel or 0)


def _drain(item: HostState) -> dict:
    return item.drain if isinstance(item.drain, dict) else {}


def is_out(item: HostState) -> bool:
    """The host is released or out of service for this deploy (what ``max_parallel`` counts with
    a load balancer; a kept-out host counts only while it deploys again)."""
    return item.status in HOST_IN_FLIGHT or _drain(item).get("state") in (DRAINING, OUT)


def choose(rollout: Rollout, items: list[HostState]) -> list[HostState]:
    """The waiting hosts of released waves to release now, canaries' order kept: at most
    ``max_parallel`` in flight a wave, or with a load balancer out of service in the rollout."""
    settings = store.settings(rollout)
    limit = parallel_limit(settings.get("max_parallel"), sum(rollout.waves or []))
    drained = bool(groups_of(settings))
    room = limit - sum(1 for i in items if is_out(i)) if limit and drained else None
    by_wave: dict[int, list[HostState]] = {}
    for item in items:
        by_wave.setdefault(int(item.wave), []).append(item)
    chosen = []
    for _, members in sorted(by_wave.items()):
        waiting = sorted((i for i in members if i.status == HostStatus.WAITING),
                         key=lambda i: plan.hash_key(rollout.project, i.host))
        if room is not None:
            waiting, room = waiting[:max(0, room)], room - len(waiting)
        elif limit:
            waiting = waiting[:max(0, limit - sum(1 for i in members if i.status in HOST_IN_FLIGHT))]
        chosen += waiting
    return chosen


def release_changes(rollout: Rollout, item: HostState, now: datetime.datetime) -> dict:
    """The attributes of a host's release: a new deploy of the rollout's version."""
    return dict(deploy_id=hostitems.new_deploy_id(), deploy_kind=DeployKind.DEPLOY,
                target_version=rollout.version, attempt=int(item.attempt or 0) + 1,
                released_at=now, leased_at=None, reason=None, blocked_reason=None,
                depends_on=store.settings(rollout).get("depends_on", []))


def release(rollout: Rollout, chosen: list[HostState], now: datetime.datetime) -> None:
    """Release ``chosen`` (waiting) hosts: ``pending``, or with a load balancer ``draining``
    first and deregistered from its groups (a host already out needs no new deregistration)."""
    groups = groups_of(store.settings(rollout))
    if not groups:
        for item in chosen:
            hostitems.move(item, HostStatus.PENDING, now, **release_changes(rollout, item, now))
        return
    moved, already = [], []
    for item in chosen:
        old = _drain(item)
        out = old.get("target_groups") == groups and old.get("state") in (OUT, KEPT_OUT)
        # out already (lost before, or taken back after its release): nothing to deregister;
        # the ELB's target health is still checked before its deploy is handed out
        drain = (dict(old, state=DRAINING, done=groups, until=format_time(now), error=None)
                 if out else _fresh(groups, now))
        if hostitems.move(item, HostStatus.DRAINING, now, drain=drain, reason=None,
                          blocked_reason=None):
            (already if out else moved).append(item)
    errors = _deregister(rollout, moved, now, elb.Budget(), ACTOR)
    for item in already:
        _tell_draining(item, ACTOR)
    if errors:
        _say(rollout, errors, ACTOR)


def retry(rollout: Rollout, item: HostState, now: datetime.datetime) -> bool:
    """A resume's retry of a failed or lost host: ``pending`` again, or with a load balancer
    ``waiting``, so that the top-up takes it out of its target groups before its deploy."""
    if groups_of(store.settings(rollout)):
        return hostitems.move(item, HostStatus.WAITING, now, deploy_id=None, released_at=None,
                              reason="retry after resume")
    return hostitems.move(item, HostStatus.PENDING, now,
                          **dict(release_changes(rollout, item, now), reason="retry after resume"))


def _fresh(groups: list[str], now: datetime.datetime) -> dict:
    return {"target_groups": list(groups), "state": DRAINING, "since": format_time(now),
            "until": None, "done": [], "error": None}


def _complete(item: HostState) -> bool:
    drain = _drain(item)
    return set(drain.get("target_groups") or []) <= set(drain.get("done") or [])


def step(rollout: Rollout, items: list[HostState], now: datetime.datetime,
         actor: str = ACTOR) -> str | None:
    """One engine step of traffic draining over ``items``: finish deregistrations, release the
    drained hosts, register the hosts whose deploy ended well, keep out the lost and broken.
    Returns why the rollout may not end yet (a host still to put back, or a failed host whose
    self-rollback is not reported yet), or None. Costs nothing when no host is out."""
    settings = store.settings(rollout)
    groups = groups_of(settings)
    running = rollout.state == RolloutState.RUNNING
    pull, retry, drained, back, keep, awaiting = [], [], [], [], [], []
    for item in items:
        state = _drain(item).get("state")
        if running and groups and item.status == HostStatus.PENDING \
                and item.deploy_kind == DeployKind.DEPLOY and state in (None, REGISTERED):
            pull.append(item)  # released around the drain (a resume's retry): out first
        elif state in (None, REGISTERED) or item.status in HOST_GONE:
            continue
        elif item.status == HostStatus.DRAINING:
            if not running:
                if hostitems.move(item, HostStatus.WAITING, now):  # it never changed
                    back.append(item)
            else:
                (drained if _complete(item) else retry).append(item)
        elif item.status in _ENDED_WELL or _recovered(item) or (
                item.status in _AT_REST and state != KEPT_OUT):
            back.append(item)
        elif _awaits_rollback(rollout, item, now):
            awaiting.append(item)
        elif item.status in HOST_FAILED and state != KEPT_OUT:
            keep.append(item)
    if not (pull or retry or drained or back or keep or awaiting):
        _say(rollout, [], actor)
        return None
    budget = elb.Budget()
    for item in pull:
        if hostitems.move(item, HostStatus.DRAINING, now, deploy_id=None, released_at=None,
                          drain=_fresh(groups, now)):
            retry.append(item)
    errors = _deregister(rollout, retry, now, budget, actor)
    errors += _release_drained(rollout, drained, now, budget)
    errors += _register(rollout, back, now, budget, actor)
    for item in keep:
        _keep_out(item, now, actor)
    _say(rollout, errors, actor)
    still = [i for i in back if _drain(i).get("state") != REGISTERED]
    if still:
        return (f"holding: {len(still)} hosts not yet back in their target groups "
                f"({_drain(still[0]).get('error') or 'retried next step'})")
    if awaiting:
        return f"holding: waiting for the self-rollback report of {len(awaiting)} failed hosts"
    return None


def _recovered(item: HostState) -> bool:
    """A failed deploy that left the host on its previous release: its self-rollback went
    well, or it failed in pre-deploy (before anything was stopped)."""
    if item.status != HostStatus.FAILED or item.deploy_kind != DeployKind.DEPLOY:
        return False
    if item.last_phase == Phase.ROLLBACK:
        return item.last_status in REPORT_WENT_WELL
    return item.last_phase == Phase.PRE_DEPLOY and item.last_status == ReportStatus.FAILED


def _awaits_rollback(rollout: Rollout, item: HostState, now: datetime.datetime) -> bool:
    """A deploy that just failed in do-/post-deploy on a host that rolls itself back: its
    rollback report follows (within ``deploy_timeout`` of its last report)."""
    if item.status != HostStatus.FAILED or item.deploy_kind != DeployKind.DEPLOY \
            or item.last_phase not in (Phase.DO_DEPLOY, Phase.POST_DEPLOY) \
            or item.last_status != ReportStatus.FAILED:
        return False
    if not store.settings(rollout).get("auto_rollback", True) or item.leased_at is None:
        return False
    return item.leased_at > now - store.deploy_timeout(rollout)


def _save(item: HostState, drain: dict) -> None:
    """Write ``drain`` on the item (the engine's steps are serialised by the rollout's lock;
    an item deleted meanwhile is not written back)."""
    update_if(item, [HostState.drain.set(drain)], HostState.host.exists())


def _deregister(rollout: Rollout, items: list[HostState], now: datetime.datetime,
                budget: elb.Budget, actor: str) -> list[str]:
    """Deregister ``items`` (``draining``) from the groups they are still in; when out of all,
    ``until`` is set and ``host.draining`` recorded. Returns ``host: why`` per host held."""
    settings = store.settings(rollout)
    todo: dict[str, list[str]] = {}
    for item in items:
        drain = _drain(item)
        for group in drain["target_groups"]:
            if group not in drain.get("done", []):
                todo.setdefault(group, []).append(item.host)
    results = {(host, group): why for group, hosts in todo.items()
               for host, why in elb.deregister(group, hosts, budget).items()}
    delays: dict[str, tuple[int, str | None]] = {}
    errors = []
    for item in items:
        drain = dict(_drain(item))
        groups = drain["target_groups"]
        done = [g for g in groups if g in drain.get("done", []) or results.get((item.host, g), "") is None]
        why = next((results[(item.host, g)] for g in groups if results.get((item.host, g))), None)
        changed = done != drain.get("done") or why != drain.get("error")
        drain.update(done=done, error=why)
        if set(groups) <= set(done):
            for group in groups:
                if group not in delays:
                    delays[group] = elb.delay(group, budget)
            wait = wait_seconds(settings, [delays[g][0] for g in groups])
            drain["until"] = format_time(now + datetime.timedelta(seconds=wait))
            _save(item, drain)
            unread = next((f"{g}: {delays[g][1]}" for g in groups if delays[g][1]), None)
            _tell_draining(item, actor, unread)
        else:
            if changed:
                _save(item, drain)
            errors.append(f"{item.host}: could not leave its target groups ({why})")
    return errors


def _tell_draining(item: HostState, actor: str, unread: str | None = None) -> None:
    """``host.draining``; ``unread``: why a group's deregistration delay could not be read
    (the wait is then the cap)."""
    drain = _drain(item)
    said = f" (deregistration delay not read: {unread})" if unread else ""
    events.record(item.project, "host.draining", actor,
                  {"target_groups": drain["target_groups"], "until": drain.get("until"),
                   "delay_error": unread, "rollout_id": item.rollout_id,
                   "version": item.target_version}, host=item.host,
                  message=f"{item.host} out of {len(drain['target_groups'])} target groups, "
                          f"draining until {drain.get('until')} at the latest{said}")


def _release_drained(rollout: Rollout, items: list[HostState], now: datetime.datetime,
                     budget: elb.Budget) -> list[str]:
    """Hand out the deploy of the drained hosts: the ELB lists them as draining in no group, or
    ``until`` passed (the ELB unreadable then). A host the ELB shows in service again (someone
    registered it) is deregistered again on the next step."""
    seen: dict[str, dict[str, str]] = {}
    for group in dict.fromkeys(g for i in items for g in _drain(i)["target_groups"]):
        hosts = [i.host for i in items if group in _drain(i)["target_groups"]]
        seen[group] = elb.health(group, hosts, budget)
    errors = []
    for item in items:
        drain = _drain(item)
        states = [seen[g].get(item.host, "error") for g in drain["target_groups"]]
        back_in = [g for g, s in zip(drain["target_groups"], states) if s in elb.IN_SERVICE]
        if back_in:
            _save(item, dict(drain, done=[g for g in drain["done"] if g not in back_in],
                             error="in service again: deregistered again"))
            errors.append(f"{item.host}: in service again in {len(back_in)} target groups")
            continue
        gone = all(s in ("unused", "absent") for s in states)
        until = drain.get("until")
        if not gone and (until is None or now < parse_time(until)):
            unread = next((s for s in states if s.startswith("error")), None)
            if unread:
                errors.append(f"{item.host}: target health could not be read ({unread[7:]}); "
                              f"its deploy waits for the drain's end ({until})")
            continue
        hostitems.move(item, HostStatus.PENDING, now, **release_changes(rollout, item, now),
                       drain=dict(drain, state=OUT, error=None))
    return errors


def _register(rollout: Rollout, items: list[HostState], now: datetime.datetime,
              budget: elb.Budget, actor: str) -> list[str]:
    """Register ``items`` again in every group they were taken out of: ``host.registered``."""
    todo: dict[str, list[str]] = {}
    for item in items:
        for group in _drain(item)["target_groups"]:
            todo.setdefault(group, []).append(item.host)
    results = {(host, group): why for group, hosts in todo.items()
               for host, why in elb.register(group, hosts, budget).items()}
    errors = []
    for item in items:
        drain = _drain(item)
        groups = drain["target_groups"]
        why = next((results[(item.host, g)] for g in groups if results.get((item.host, g))), None)
        if why:
            if why != drain.get("error"):
                _save(item, dict(drain, error=why))
            errors.append(f"{item.host}: could not rejoin its target groups ({why})")
            continue
        _save(item, {"target_groups": groups, "state": REGISTERED, "since": format_time(now),
                     "until": None, "done": groups, "error": None})
        events.record(item.project, "host.registered", actor,
                      {"target_groups": groups, "status": str(item.status),
                       "rollout_id": rollout.rollout_id, "version": item.target_version},
                      host=item.host, message=f"{item.host} back in {len(groups)} target groups "
                                              f"({item.status})")
    return errors


def _keep_out(item: HostState, now: datetime.datetime, actor: str) -> None:
    """A lost or broken host stays out of its groups: ``host.kept_out``, once."""
    drain = _drain(item)
    why = ("lost: it may not run what fabu thinks" if item.status == HostStatus.LOST
           else "its deploy failed and it did not roll itself back")
    _save(item, dict(drain, state=KEPT_OUT, since=format_time(now), error=None))
    events.record(item.project, "host.kept_out", actor,
                  {"target_groups": drain["target_groups"], "status": str(item.status), "why": why,
                   "rollout_id": item.rollout_id, "version": item.target_version}, host=item.host,
                  message=f"{item.host} kept out of its target groups: {why}")


def _say(rollout: Rollout, errors: list[str], actor: str) -> None:
    """Say the ELB errors of this step on the rollout's reason (once per reason: a
    ``rollout.waiting`` event); a reason of ours is cleared once they are gone."""
    if not errors:
        if rollout.reason and rollout.reason.startswith(REASON_PREFIX):
            store.set_fields(rollout, reason=None)
        return
    more = f" (and {len(errors) - 1} more hosts)" if len(errors) > 1 else ""
    reason = f"{REASON_PREFIX}{errors[0]}{more}; no deploy is handed to a host still in service"
    if rollout.reason == reason:
        return
    store.set_fields(rollout, reason=reason)
    store.record(rollout, "rollout.waiting", actor, reason, hosts=len(errors))
