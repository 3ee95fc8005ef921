"""What the project list shows of a project's rollout and hosts, kept so a page costs O(1) reads.

Two things are kept, each written by the writes that change it (never by a host's report):

* ``Rollout.counts``: the rollout's host counts per wave and status and its failures, counted
  as the detail view counts them (``rollout.view.summary``: the rollout's own items, leavers
  left out), with the ``state``, ``wave`` and wave ``sizes`` they were counted at and when
  (``at``). The engine's step writes them (``counting`` around the step, ``note`` on the items it
  read anyway): the released waves from those items, the waves not released yet as counted
  before; when the state, the wave or the sizes moved since the last count (a start, a released
  wave, a halt, a rollback, a control, a resize) it counts again from one Query of the project's
  host items (``recount``). At most one write a step, none when nothing changed. So while a
  rollout is active the list lags the hosts' reports by at most one tick; the rollout's state,
  wave and reason are the rollout item itself and never lag.
* ``ProjectStatus``: one small item per project in the rollouts table, partition
  ``fabu:status:<project>`` (no project name has a ':', so no rollout Query and not the sparse
  ``active-index`` ever sees it): the newest rollout's id (``point_to``, when a rollout is
  created) and the fleet's member count (``set_members``, by the fleet sync when it changes).

A reader that counted a rollout itself (the detail view, the list's bounded refresh of rollouts
counted before this existed or finished with hosts still in flight) writes the counts with
``heal``: without touching the rollout's ``seq`` (no lock holder's next write goes stale), only
while nobody holds the lock and the rollout is as read.
"""
import contextlib
import threading
from collections.abc import Iterable, Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from chalicelib.models import HostState, Rollout, condition_failed, delete_if, update_if
from chalicelib.rollout import hostitems, plan, store
from chalicelib.states import HOST_FAILED, HOST_GONE, HOST_IN_FLIGHT, ROLLOUT_NOT_STARTED
from chalicelib.times import format_time, utcnow

#: ``ProjectStatus.project`` is this prefix and the project's id; its sort key is ``STATUS``.
PREFIX, STATUS = "fabu:status:", "status"
_META_FIELDS = ("table_name", "region", "connect_timeout_seconds", "read_timeout_seconds",
                "max_retry_attempts")


class ProjectStatus(Model):
    """A project's pointer to its newest rollout and its fleet's member count (see the module)."""
    Meta = type("Meta", (), {name: getattr(Rollout.Meta, name) for name in _META_FIELDS})
    project = UnicodeAttribute(hash_key=True)
    rollout_id = UnicodeAttribute(range_key=True, default=STATUS)
    newest = UnicodeAttribute(null=True)  # the id of the project's newest rollout
    members = NumberAttribute(null=True)  # fleet members (not listed, not left) at the last sync
    updated_at = UTCDateTimeAttribute(null=True)


def key(project_id: str) -> tuple[str, str]:
    """The (hash, range) key of the project's ``ProjectStatus``."""
    return f"{PREFIX}{project_id}", STATUS


def point_to(rollout: Rollout) -> bool:
    """Record ``rollout`` as its project's newest (never over a newer one: ids sort by time)."""
    status = ProjectStatus(*key(rollout.project))
    return update_if(status, [ProjectStatus.newest.set(rollout.rollout_id),
                              ProjectStatus.updated_at.set(utcnow())],
                     ProjectStatus.newest.does_not_exist()
                     | (ProjectStatus.newest < rollout.rollout_id))


def touch(project_id: str) -> None:
    """Write the project's status item (a project without a rollout yet)."""
    ProjectStatus(*key(project_id)).update(actions=[ProjectStatus.updated_at.set(utcnow())])


def set_members(project_id: str, members: int) -> None:
    """Record the fleet's member count (the fleet sync, when it changed)."""
    ProjectStatus(*key(project_id)).update(actions=[ProjectStatus.members.set(int(members)),
                                                    ProjectStatus.updated_at.set(utcnow())])


def forget(project_id: str) -> None:
    """Delete the project's status (the project was deleted)."""
    delete_if(ProjectStatus(*key(project_id)))


# ----------------------------------------------------------------------------- counting

def count(rollout: Rollout, items: Iterable[HostState]) -> dict:
    """The counts of ``rollout`` from host items (other rollouts' items and leavers left out)."""
    mine = [i for i in items if i.rollout_id == rollout.rollout_id and i.status not in HOST_GONE]
    return _counts(rollout, plan.wave_counts(mine))


def _counts(rollout: Rollout, per_wave: dict[int, dict[str, int]]) -> dict:
    sizes = [int(s) for s in rollout.waves or []]
    top = max([len(sizes) - 1, *per_wave])
    waves = [dict(sorted(per_wave.get(w, {}).items())) for w in range(top + 1)]
    failures = sum(n for wave in waves for status, n in wave.items() if status in HOST_FAILED)
    return {"waves": waves, "failures": failures, "state": str(rollout.state),
            "wave": int(rollout.wave), "sizes": sizes, "at": format_time(utcnow())}


def current(rollout: Rollout) -> bool:
    """True when the stored counts were counted at the rollout's state, wave and wave sizes."""
    stored = rollout.counts
    return (isinstance(stored, dict) and stored.get("state") == rollout.state
            and stored.get("wave") == int(rollout.wave)
            and stored.get("sizes") == [int(s) for s in rollout.waves or []])


def same(a: dict | None, b: dict | None) -> bool:
    """The same counts, whenever counted."""
    strip = lambda c: {k: v for k, v in (c or {}).items() if k != "at"}  # noqa: E731
    return a is not None and b is not None and strip(a) == strip(b)


def in_flight(counts: dict | None) -> bool:
    """True when the counts hold hosts on their way to an outcome."""
    waves = (counts or {}).get("waves") or []
    return any(status in HOST_IN_FLIGHT for wave in waves for status in wave)


def _partial(rollout: Rollout, released: list[HostState]) -> dict:
    """The released waves from the step's items, the others as counted before."""
    wave = int(rollout.wave)
    fresh = plan.wave_counts(released)
    kept = (rollout.counts or {}).get("waves") or []
    per_wave = {w: c for w, c in fresh.items() if w <= wave}
    per_wave.update({w: c for w, c in enumerate(kept) if w > wave and c})
    return _counts(rollout, per_wave)


_frames = threading.local()


@contextlib.contextmanager
def counting(rollout: Rollout) -> Iterator[None]:
    """Around one engine step under the rollout's lock: afterwards (unless it raised) write the
    counts when they changed, from the items the step ``note``-d, or from one Query when the
    step moved the state, the wave or the sizes (at most one write)."""
    stack = _frames.__dict__.setdefault("stack", [])
    frame = {"rollout": rollout, "items": None}
    stack.append(frame)
    try:
        yield
    finally:
        stack.remove(frame)
    settle(rollout, frame["items"])


def note(rollout: Rollout, items: list[HostState]) -> list[HostState]:
    """The step read ``items`` (the released waves' items, ``hostitems.released_items``): they
    are counted after the step (the moves it makes update them in place). Returns ``items``."""
    for frame in reversed(getattr(_frames, "stack", [])):
        if frame["rollout"] is rollout:
            frame["items"] = items
            break
    return items


def settle(rollout: Rollout, released: list[HostState] | None) -> None:
    """Write the rollout's counts after a step if they changed (see ``counting``)."""
    if not rollout.waves and not rollout.counts:
        return  # nothing planned: nothing to count
    if current(rollout):
        if released is None:
            return  # the step read no item and moved nothing the counts show
        fresh = _partial(rollout, released)
    else:
        fresh = count(rollout, hostitems.all_items(rollout.project))
    if not same(fresh, rollout.counts):
        store.set_fields(rollout, counts=fresh)


def recount(rollout: Rollout, items: list[HostState] | None = None) -> dict:
    """Count ``rollout`` again (``items``: the project's, else one Query) and write the counts
    if they changed; the caller holds the rollout's lock. Returns the counts."""
    fresh = count(rollout, hostitems.all_items(rollout.project) if items is None else items)
    if not same(fresh, rollout.counts):
        store.set_fields(rollout, counts=fresh)
    return fresh


def shift(rollout: Rollout, moves: Iterable[tuple[int, str, int]], sizes: list[int]) -> None:
    """Apply ``(wave, status, +1/-1)`` moves the caller made (the fleet sync's joins and leaves
    of this rollout) to the stored counts and write them once, at the rollout's wave sizes now;
    counts that were not current at ``sizes`` (the sizes before the moves) are left to the next
    step or reader (``current``). The caller holds the rollout's lock."""
    stored = rollout.counts
    if not isinstance(stored, dict) or stored.get("state") != rollout.state \
            or stored.get("wave") != int(rollout.wave) \
            or stored.get("sizes") != [int(s) for s in sizes]:
        return
    per_wave = {w: dict(c) for w, c in enumerate(stored.get("waves") or [])}
    for wave, status, delta in moves:
        wave_counts = per_wave.setdefault(int(wave), {})
        wave_counts[status] = wave_counts.get(status, 0) + delta
        if wave_counts[status] <= 0:
            del wave_counts[status]
    fresh = _counts(rollout, per_wave)
    if not same(fresh, stored):
        store.set_fields(rollout, counts=fresh)


def heal(rollout: Rollout, counts: dict, force: bool = False) -> bool:
    """Write counts a reader made, outside any lock: not touching ``seq``, only while nobody
    holds the rollout's lock and it is as read (False, and nothing written, otherwise). Unless
    ``force`` (a refresh records when it counted), counts the same as stored are not written."""
    if not force and same(counts, rollout.counts):
        return True
    condition = (Rollout.seq == rollout.seq) & (Rollout.lock_owner.does_not_exist()
                                                | (Rollout.lock_until < utcnow()))
    try:
        Rollout._get_connection().update_item(rollout.project, range_key=rollout.rollout_id,
                                              actions=[Rollout.counts.set(counts)],
                                              condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return False
        raise
    rollout.counts = counts
    return True


# ----------------------------------------------------------------------------- shown

def shown(rollout: Rollout | None, counts: dict | None) -> dict:
    """The list's rollout: id, versions, state, reason, wave, per-wave ``size``/``counts``/
    ``released``, failures, and when it was counted (``counted_at`` None: not counted yet)."""
    if rollout is None:
        return {"state": None, "wave": None, "waves": []}
    sizes = [int(s) for s in rollout.waves or []]
    per_wave = (counts or {}).get("waves") or []
    started = rollout.state not in ROLLOUT_NOT_STARTED
    if counts is None and not sizes:
        counts = {"waves": [], "failures": 0}  # nothing planned: nothing to count
    waves = [{"wave": w, "size": size, "counts": per_wave[w] if w < len(per_wave) else {},
              "released": started and w <= int(rollout.wave)} for w, size in enumerate(sizes)]
    return {"id": rollout.rollout_id, "version": rollout.version,
            "previous_version": rollout.previous_version, "state": rollout.state,
            "reason": rollout.reason, "wave": int(rollout.wave), "waves": waves,
            "rollback_to": rollout.rollback_to,
            "failures": int(counts["failures"]) if counts else None,
            "counted_at": counts.get("at") if counts else None,
            "start_at": format_time(rollout.start_at),
            "finished_at": format_time(rollout.finished_at), "created_by": rollout.created_by}
