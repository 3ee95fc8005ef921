"""A host's poll, the hot path: what is pending for one host, from one Query.

100k hosts every 5 minutes is about 333 polls a second, so a poll is **one Query** on the host's
partition of the hosts table (its project items and its beat, ``chalicelib.hosts.beat``) and
writes nothing unless the host's beat is due (one write per host, whatever the number of its
projects, at most once per ``FABU_HEARTBEAT_SECONDS``, default 3600: 1/12 of a write per 5-minute
poll; once per ``FABU_ACTIVE_HEARTBEAT_SECONDS``, 900, while the host is in an active rollout) or
something changed. An item's ``last_seen`` is written once at first contact, and again at most
once per ``FABU_ACTIVE_HEARTBEAT_SECONDS`` while the poll holds the item pending or draining, so
the engine's "silent host never picked up its deploy" rule reads the item first
(``rollout.engine._expire_leases``). A pending
deploy that depends on another project of the same host waits until that project runs a version
that satisfies it; the reason is written (item and event) once, not on every poll.
``split_ready`` is the same choice for the deploy script, which hands out exactly what a poll
announces. Items ``draining`` (out of their target groups before their deploy) are announced
with the drain's end and never handed out.

The agent says which release each project's ``current`` is (``?current=web:1.2.0,api:2.0``;
``web:`` for a project directory without one; at most ``MAX_CURRENT_CHARS``, see
``docs/host.md``). The poll writes ``seen_version``/``seen_at`` only when that differs from the
newest version known for the item (``chalicelib.drift.running``), and records ``host.drifted``
once when the host starts running something other than what fabu deployed to it.
"""
import datetime
import re

from chalicelib import config, drift, versions
from chalicelib.errors import ValidationError
from chalicelib.hosts import beat
from chalicelib.models import HostState, update_if
from chalicelib.projects.fields import host_name_problem
from chalicelib.projects.schema import SLUG_RE
from chalicelib.states import HOST_GONE, HOST_PENDING, HOST_UNSETTLED, HostStatus
from chalicelib.times import format_time, utcnow

#: The longest ``current`` parameter (characters, decoded); the agent sends what fits and the
#: other projects on later polls.
MAX_CURRENT_CHARS = 2000
#: Items whose ``last_seen`` the poll keeps fresh (the engine reads it: see the module docstring).
_ACTIVE = frozenset(HOST_PENDING) | {HostStatus.DRAINING}
_CURRENT_ENTRY_RE = re.compile(rf"({SLUG_RE.pattern}):({versions.VERSION_RE.pattern})?")


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


def parse_current(text: str | None) -> dict[str, str | None]:
    """``{project: version or None}`` from the ``current`` parameter (``web:1.2.0,api:``);
    a ``ValidationError`` naming ``current`` and the bad entry otherwise."""
    if not text:
        return {}
    if len(text) > MAX_CURRENT_CHARS:
        raise ValidationError(f"current is {len(text)} characters; the limit is {MAX_CURRENT_CHARS} "
                              f"(send the rest on the next poll)",
                              {"current": f"is longer than {MAX_CURRENT_CHARS} characters"})
    said: dict[str, str | None] = {}
    for n, entry in enumerate(text.split(","), 1):
        match = _CURRENT_ENTRY_RE.fullmatch(entry)
        if match is None:
            problem = f"entry {n} ({entry[:80]!r}) is not <project>:<version> (or <project>: for none)"
            raise ValidationError(f"current: {problem}", {"current": problem})
        project, version = match.group(1), match.group(2)
        if project in said:
            problem = f"names project {project} twice"
            raise ValidationError(f"current: {problem}", {"current": problem})
        said[project] = version or None
    return said


def poll(host: str, now: datetime.datetime | None = None, *, current: str | None = None) -> dict | None:
    """The summary of what is pending or draining for ``host`` now, or None (the API answers
    204). ``current`` is the agent's ``current`` parameter (see ``parse_current``)."""
    check_host_name(host)
    said = parse_current(current)
    now = now or utcnow()
    seen, items = beat.split(list(HostState.query(host)))
    beat.beat(host, seen, now, active=any(i.status in HOST_UNSETTLED for i in items))
    _touch(items, now)
    _note_seen(items, said, now)
    ready, blocked = split_ready(items)
    _note_blocked(blocked)
    draining = [i for i in items if i.status == HostStatus.DRAINING]
    if not ready and not draining:
        return None
    return {"host": host,
            "pending": [{"project": i.project, "version": i.target_version, "kind": i.deploy_kind,
                         "deploy_id": i.deploy_id} for i in ready],
            "blocked": [{"project": i.project, "reason": r} for i, r in blocked],
            "draining": [{"project": i.project, "version": i.target_version,
                          "until": _drain_until(i)} for i in draining]}


def _drain_until(item: HostState) -> str | None:
    """When the item's drain ends (ISO 8601 UTC), as ``rollout.drain`` wrote it; None if unsaid."""
    until = (item.drain or {}).get("until") if isinstance(item.drain, dict) else None
    if isinstance(until, datetime.datetime):
        return format_time(until)
    return until if isinstance(until, str) else None


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


def _touch(items, now):
    """Write ``last_seen`` on an item never touched (first contact: once per item, ever) and,
    at most once per ``FABU_ACTIVE_HEARTBEAT_SECONDS``, on items held pending or draining."""
    due = now - datetime.timedelta(seconds=config.active_heartbeat_seconds())
    for item in items:
        if item.last_seen is None:
            condition = HostState.last_seen.does_not_exist()
        elif item.status in _ACTIVE and item.last_seen <= due:
            condition = HostState.last_seen <= due
        else:
            continue
        # False: another poll of the same host wrote it first (or the item is gone), as good.
        update_if(item, [HostState.last_seen.set(now)], HostState.host.exists() & condition)


def _note_seen(items, said, now):
    """Write what the agent says a project runs when it differs from the newest version known
    for the item (no write otherwise), and record ``host.drifted`` when that makes a drift."""
    for item in items:
        if item.project not in said or item.status in HOST_GONE:
            continue  # a project the host does not deploy (ignored), or a host that left
        version = said[item.project]
        if _already_known(item, version):
            continue
        before = drift.drift(item)
        seen = HostState.seen_at.does_not_exist() if item.seen_at is None else HostState.seen_at == item.seen_at
        actions = [HostState.seen_version.set(version) if version else HostState.seen_version.remove(),
                   HostState.seen_at.set(now)]
        if not update_if(item, actions, HostState.host.exists() & seen):
            continue  # deleted, or another poll of this host wrote it first
        after = drift.drift(item)
        if after is not None and after != before:
            _events().record(item.project, "host.drifted", item.host, after, host=item.host,
                          message=f"{item.host} runs {after['running'] or 'no release'}, not "
                                  f"{after['expected']} (what fabu deployed there)")


def _already_known(item, version):
    """True when ``version`` (None: no current release) is what the item already knows the host
    runs, or the host runs nothing and nobody said otherwise."""
    if drift.known(item):
        return version == drift.running(item)
    return version is None


def _events():
    """``chalicelib.events``, imported at the first event a poll records (rare: a drift, a new
    blocked reason), not by every cold poll (it brings the notification queue and boto3)."""
    from chalicelib import events
    return events


def _note_blocked(blocked):
    """Record a new blocked reason once (on the item, and as an event), not on every poll."""
    for item, reason in blocked:
        if item.blocked_reason == reason:
            continue
        if not update_if(item, [HostState.blocked_reason.set(reason)],
                         HostState.deploy_id == item.deploy_id):
            continue  # the item moved on to another deploy meanwhile
        _events().record(item.project, "host.blocked", "fabu", {"deploy_id": item.deploy_id,
                                                             "version": item.target_version},
                      host=item.host, message=reason)
