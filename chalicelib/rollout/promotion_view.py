"""What a promotion chain looks like: the upstream's state in words, and a project's ``promotion``.

``describe`` says where an upstream rollout stands in one line an operator reads in a 409 or the
console ("staging's rollout of 2.1 is running (wave 1 of 3)", "... succeeded 12 min ago,
soaking until ..."). ``chain`` is the ``promotion`` object of ``GET /api/v1/project/{id}``::

    {"from": {"project", "version", "state", "rollout_id", "succeeded_at", "soak_until",
              "soaking", "summary"} | null, "soak_seconds", "auto",
     "candidate": version | null, "blocked": reason | null}

``candidate`` is the upstream's newest rollout's version when it succeeded and is newer than the
project's version (promotion never goes back by itself); ``blocked`` says why it is not promoted
now (still soaking, the stage frozen, the project's own rollout under way: not one that only
waits for an artifact it will never get, ``stuck``) or why there is no candidate (the upstream's
rollout is not done). Reads: one Query of the upstream's newest
rollout, one GetItem of the stage's freeze only when there is a candidate.
"""
import datetime

from chalicelib import versions
from chalicelib.build import releases
from chalicelib.models import Rollout
from chalicelib.rollout import freeze, store
from chalicelib.states import ROLLOUT_ACTIVE, ReleaseState, RolloutState
from chalicelib.times import format_time, utcnow


def soak_until(rollout: Rollout, soak_seconds: int) -> datetime.datetime | None:
    """When a succeeded rollout's soak ends (None for a rollout that has not succeeded)."""
    if rollout.state != RolloutState.SUCCEEDED or rollout.finished_at is None:
        return None
    return rollout.finished_at + datetime.timedelta(seconds=int(soak_seconds or 0))


def span(seconds: float) -> str:
    """``"40 s"``, ``"12 min"``, ``"3 h 5 min"``, ``"2 d 4 h"``."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def describe(rollout: Rollout, soak_seconds: int, now: datetime.datetime) -> str:
    """Where ``rollout`` (an upstream's) stands, in words, starting with its project's name."""
    head = f"{rollout.project}'s rollout of {rollout.version}"
    state = rollout.state
    why = f" ({rollout.reason})" if rollout.reason else ""
    if state == RolloutState.SUCCEEDED:
        done = rollout.finished_at or now
        until = soak_until(rollout, soak_seconds) or now
        text = f"{head} succeeded {span((now - done).total_seconds())} ago"
        if until > now:
            return (f"{text}, soaking until {format_time(until)} "
                    f"({span((until - now).total_seconds())} left)")
        return text
    if state == RolloutState.RUNNING:
        return f"{head} is running (wave {int(rollout.wave) + 1} of {len(rollout.waves or [])})"
    if state == RolloutState.SCHEDULED:
        return f"{head} is scheduled for {format_time(rollout.start_at)}"
    if state == RolloutState.WAITING_RELEASE:
        return f"{head} is waiting to start{why}"
    if state == RolloutState.ROLLING_BACK:
        return f"{head} is rolling back to {rollout.rollback_to or 'the previous version'}{why}"
    if state == RolloutState.ROLLED_BACK:
        return f"{head} was rolled back to {rollout.rollback_to or 'the previous version'}{why}"
    return f"{head} is {state}{why}"  # paused, halted, superseded, cancelled


def upstream_dict(rollout: Rollout | None, upstream: str, soak_seconds: int,
                  now: datetime.datetime) -> dict:
    """The ``from`` object of ``chain`` (``version`` and ``state`` null without a rollout)."""
    if rollout is None:
        return {"project": upstream, "version": None, "state": None, "rollout_id": None,
                "succeeded_at": None, "soak_until": None, "soaking": False,
                "summary": f"{upstream} has no rollout yet"}
    until = soak_until(rollout, soak_seconds)
    succeeded = rollout.state == RolloutState.SUCCEEDED
    return {"project": upstream, "version": rollout.version, "state": rollout.state,
            "rollout_id": rollout.rollout_id,
            "succeeded_at": format_time(rollout.finished_at) if succeeded else None,
            "soak_until": format_time(until), "soaking": bool(until and until > now),
            "summary": describe(rollout, soak_seconds, now)}


def chain(project_id: str, spec: dict, own: Rollout | None,
          now: datetime.datetime | None = None) -> dict | None:
    """The project's ``promotion`` (see the module docstring); None without ``promote_from``.
    ``own`` is the project's newest rollout (the caller has read it)."""
    link = spec.get("promote_from")
    if not link:
        return None
    now = now or utcnow()
    upstream, soak = link["project"], int(link.get("soak_seconds") or 0)
    newest = store.newest(upstream)
    shown = {"from": upstream_dict(newest, upstream, soak, now), "soak_seconds": soak,
             "auto": bool(link.get("auto")), "candidate": None, "blocked": None}
    candidate, blocked = judge(newest, upstream, spec["version"], project_id, soak, now)
    if candidate and not blocked:
        blocked = hold(project_id, own, now)
    shown.update(candidate=candidate, blocked=blocked)
    return shown


def judge(newest: Rollout | None, upstream: str, current: str, project_id: str, soak: int,
          now: datetime.datetime) -> tuple[str | None, str | None]:
    """``(candidate, blocked)`` from the upstream's newest rollout alone (no reads)."""
    if newest is None:
        return None, f"{upstream} has no rollout yet"
    if newest.state != RolloutState.SUCCEEDED:
        return None, describe(newest, soak, now)
    order = versions.compare(newest.version, current)
    if order == 0:
        return None, None  # in step
    if order < 0:
        return None, (f"{project_id} is at {current}, newer than {newest.project}'s "
                      f"{newest.version}: promotion never goes back by itself")
    until = soak_until(newest, soak)
    if until and until > now:
        return newest.version, describe(newest, soak, now)
    return newest.version, None


def stuck(own: Rollout) -> bool:
    """True for a rollout that has not started and never will by itself: it waits for a release
    without an artifact (none, ``awaiting_artifact``, ``failed``), e.g. the first version of a
    project created to take its releases from another (one GetItem). A promotion replaces it."""
    if own.state != RolloutState.WAITING_RELEASE:
        return False
    release = releases.get(own.project, own.version)
    return release is None or release.state in (ReleaseState.AWAITING_ARTIFACT, ReleaseState.FAILED)


def busy(own: Rollout | None) -> bool:
    """The project's own rollout is under way: an automatic promotion waits until it ends."""
    return own is not None and own.state in ROLLOUT_ACTIVE and not stuck(own)


def hold(project_id: str, own: Rollout | None, now: datetime.datetime) -> str | None:
    """What holds an automatic promotion that is otherwise due: the project's own rollout under
    way (``busy``), or the stage's freeze (one GetItem); None when nothing does."""
    if busy(own):
        return (f"{project_id}'s rollout of {own.version} is {own.state}: a promotion waits "
                "until it ends")
    item = freeze.current(now)
    if item is not None:
        return f"the stage is {freeze.hold_reason(item)}: nothing is promoted until it thaws"
    return None
