"""A host's poll, the hot path: what is pending for one host, from one Query.

100k hosts every 5 minutes is about 333 polls a second, so a poll is **one Query** on the host's
partition of ``HostState`` and writes nothing unless the amortised heartbeat is due (at most once
per ``FABU_HEARTBEAT_SECONDS``, default 15 minutes, per item). A pending deploy that depends on
another project of the same host waits until that project runs a version that satisfies it; the
reason is written (item and event) once, not on every poll. ``split_ready`` is the same choice
for the deploy script, which hands out exactly what a poll announces.
"""
import datetime

from chalicelib import config, events, versions
from chalicelib.errors import ValidationError
from chalicelib.models import HostState, update_if
from chalicelib.projects.fields import host_name_problem
from chalicelib.states import HOST_PENDING, HostStatus
from chalicelib.times import utcnow


def check_host_name(host: str) -> str:
    """``host`` when it is a valid host name; a ``ValidationError`` (400) saying why otherwise."""
    problem = host_name_problem(host)
    if problem:
        raise ValidationError(f"bad host name: {problem}", {"host": problem})
    return host


def split_ready(items: list[HostState]) -> tuple[list[HostState], list[tuple[HostState, str]]]:
    """The items of one host to hand out now, and the ones a same-host dependency holds (why).

    Only pending items count (a deploy or a rollback released and not yet handed out); a
    rollback never waits for a dependency.
    """
    by_project = {item.project: item for item in items}
    ready, blocked = [], []
    for item in items:
        if item.status not in HOST_PENDING:
            continue
        reason = _dependency_block(item, by_project) if item.status == HostStatus.PENDING else None
        if reason:
            blocked.append((item, reason))
        else:
            ready.append(item)
    return ready, blocked


def poll(host: str, now: datetime.datetime | None = None) -> dict | None:
    """The summary of what is pending for ``host`` now, or None (the API answers 204)."""
    check_host_name(host)
    now = now or utcnow()
    items = list(HostState.query(host))
    _heartbeat(items, now)
    ready, blocked = split_ready(items)
    _note_blocked(blocked)
    if not ready:
        return None
    return {"host": host,
            "pending": [{"project": i.project, "version": i.target_version, "kind": i.deploy_kind,
                         "deploy_id": i.deploy_id} for i in ready],
            "blocked": [{"project": i.project, "reason": r} for i, r in blocked]}


def _dependency_block(item, by_project):
    """Why ``item`` must wait for another project on this same host, or None."""
    for dep in item.depends_on or []:
        other = by_project.get(dep["project"])
        if other is None:
            continue  # not on this host: the rollout engine gates on the dependency's rollout
        spec = dep.get("version") or ">=0"
        if not versions.satisfies(other.running_version, spec):
            return (f"blocked: waiting for {dep['project']} {spec} on this host "
                    f"(running {other.running_version or 'nothing'})")
    return None


def _heartbeat(items, now):
    """Touch ``last_seen`` on items whose heartbeat is older than the interval (amortised)."""
    due = now - datetime.timedelta(seconds=config.heartbeat_seconds())
    for item in items:
        if item.last_seen is not None and item.last_seen > due:
            continue
        # False: another poll of the same host wrote it first, which is as good.
        update_if(item, [HostState.last_seen.set(now)],
                  HostState.last_seen.does_not_exist() | (HostState.last_seen <= due))


def _note_blocked(blocked):
    """Record a new blocked reason once (on the item, and as an event), not on every poll."""
    for item, reason in blocked:
        if item.blocked_reason == reason:
            continue
        if not update_if(item, [HostState.blocked_reason.set(reason)],
                         HostState.deploy_id == item.deploy_id):
            continue  # the item moved on to another deploy meanwhile
        events.record(item.project, "host.blocked", "fabu", {"deploy_id": item.deploy_id,
                                                             "version": item.target_version},
                      host=item.host, message=reason)
