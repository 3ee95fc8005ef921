"""One heartbeat item per host: when the host last polled, and which hosts are silent now.

The beat lives in the host's own partition of the hosts table at ``(host, "#beat")`` (a project
slug starts with ``[a-z0-9]``, so ``#`` keys sort before every project and are never one), so the
poll's one Query returns it with the host's project items. It has no ``wave_key`` (it stays out
of the sparse ``project-index``) and is in no index: a beat is one write unit. (An index to
find silent hosts would have to move the beat's index key on every beat: two more write units
an hour per host, which alone was a quarter of the host's DynamoDB bill.) A reader that shows
silence reads the beats of the hosts it shows with BatchGetItem (``Silence.know``: only hosts
whose own items were not touched within S, at most ``Silence.limit`` a request or report).

The poll writes the beat (``last_seen``, and ``beat_due`` = when the next one is due) at most
once per interval I: ``FABU_HEARTBEAT_SECONDS`` (default 3600), or
``FABU_ACTIVE_HEARTBEAT_SECONDS`` (900) while the host is in an active rollout (an item waiting
for its wave or in flight), so hosts in a rollout are judged as precisely as before per-host
beats. The write is conditional, so racing polls write once. A polling host renews its beat by
``beat_due`` + one poll interval; a host is **silent** when its ``beat_due`` is more than
``FABU_SILENT_SECONDS`` (S, default 1800) ago and no project item of it was touched within S (a
first contact, lease, report or pending touch also proves it alive). So a host is shown silent
between S and S + I after its last poll, never while it polls every S or more often. A beat not
renewed for ``KEEP`` (30 days: ``expires_at``, the table's TTL) is forgotten with its host.

Every reader of a host partition other than the poll reads ``items_of(host)`` (a key condition
that leaves the ``#`` keys out).
"""
import dataclasses
import datetime
import logging

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib import config
from chalicelib.models import HostState, _meta, update_if

_log = logging.getLogger(__name__)
#: The beat's range key in the host's partition.
BEAT = "#beat"
#: Every project slug sorts at or after this ("0" < "9" < "a"); "#..." keys sort before it.
FIRST_PROJECT = "0"
#: Beats one ``Silence`` reads at most by default (50 BatchGetItem of 100): a request's share.
MAX_SILENT = 5_000
#: Keys of one BatchGetItem.
BATCH = 100
#: A beat not renewed for this long expires (its host is forgotten, not silent forever).
KEEP = datetime.timedelta(days=30)
#: Hosts ``silent`` looks up at most (the engine's candidates of one step: 10 BatchGetItem).
MAX_LOOKUP = 1000


class Beat(Model):
    """The heartbeat of one host: ``(host, "#beat")`` in the hosts table."""
    Meta = _meta("hosts")
    host = UnicodeAttribute(hash_key=True)
    project = UnicodeAttribute(range_key=True, default=BEAT)
    last_seen = UTCDateTimeAttribute(null=True)
    beat_due = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


def interval(active: bool) -> datetime.timedelta:
    """How often a polling host's beat is written: ``FABU_ACTIVE_HEARTBEAT_SECONDS`` while it is
    in an active rollout, ``FABU_HEARTBEAT_SECONDS`` otherwise."""
    seconds = config.active_heartbeat_seconds() if active else config.heartbeat_seconds()
    return datetime.timedelta(seconds=max(0, seconds))


def silent_after() -> datetime.timedelta:
    """How long without a poll makes a host silent (``FABU_SILENT_SECONDS``, default 1800)."""
    return datetime.timedelta(seconds=max(0, config.silent_seconds()))


def items_of(host: str, consistent_read: bool = False) -> list[HostState]:
    """The host's project items (one Query; the beat and any other ``#`` key left out)."""
    return list(HostState.query(host, HostState.project >= FIRST_PROJECT,
                                consistent_read=consistent_read))


def split(items: list[HostState]) -> tuple[datetime.datetime | None, list[HostState]]:
    """The beat's ``last_seen`` (None without a beat) and the project items, from a Query of the
    whole partition (the poll's)."""
    seen, projects = None, []
    for item in items:
        if item.project == BEAT:
            seen = item.last_seen
        elif not item.project.startswith("#"):
            projects.append(item)
    return seen, projects


def beat(host: str, last: datetime.datetime | None, now: datetime.datetime, active: bool) -> bool:
    """Write the host's beat when ``last`` (its ``last_seen`` as the poll read it) is older than
    the interval, or there is none; True when this call wrote it. Conditional: of racing polls,
    one writes."""
    every = interval(active)
    due = now - every
    if last is not None and last > due:
        return False
    # Through a HostState object: the poll's own client (the Query's), so a cold poll never
    # builds a second one; the beat's other attributes are plain paths of the same item.
    return update_if(HostState(host, BEAT),
                     [HostState.last_seen.set(now), Beat.beat_due.set(now + every),
                      Beat.expires_at.set(now + KEEP)],
                     HostState.last_seen.does_not_exist() | (HostState.last_seen <= due))


def silent(hosts: set[str], now: datetime.datetime) -> set[str]:
    """Those of ``hosts`` whose beat is not due within ``FABU_SILENT_SECONDS`` (or who have none):
    at most ``MAX_LOOKUP`` hosts are looked up (BatchGetItem), the others are never in it."""
    looked = sorted(hosts)[:MAX_LOOKUP]
    cutoff = now - silent_after()
    polling = {b.host for b in Beat.batch_get([(host, BEAT) for host in looked],
                                               attributes_to_get=["host", "project", "beat_due"])
               if b.beat_due is not None and b.beat_due >= cutoff}
    return set(looked) - polling


@dataclasses.dataclass
class Silence:
    """Which hosts are silent at ``now``. ``know(items)`` reads the beats of the items' hosts
    that could be (BatchGetItem of 100, at most ``limit`` hosts in all; ``truncated`` when more
    were left unread: those are not flagged); ``is_silent``/``last_seen`` then answer per item."""
    now: datetime.datetime
    limit: int = MAX_SILENT
    truncated: bool = False
    _beats: dict[str, Beat | None] = dataclasses.field(default_factory=dict)

    @property
    def cutoff(self) -> datetime.datetime:
        """A beat due, or an item touched, before this: no poll for ``FABU_SILENT_SECONDS``."""
        return self.now - silent_after()

    def _could_be(self, item: HostState) -> bool:
        return item.last_seen is None or item.last_seen < self.cutoff

    def know(self, items) -> None:
        """Read the beats of the hosts of ``items`` that could be silent and are not read yet."""
        wanted = sorted({i.host for i in items if self._could_be(i)} - set(self._beats))
        room = max(self.limit - len(self._beats), 0)
        if len(wanted) > room:
            self.truncated = True
            _log.warning("silence: %d hosts to look up, %d read (the limit is %d a request); "
                         "the others are not flagged", len(wanted), room, self.limit)
            wanted = wanted[:room]
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start:start + BATCH]
            found = {b.host: b for b in Beat.batch_get([(h, BEAT) for h in chunk])}
            self._beats.update({h: found.get(h) for h in chunk})

    def _silent_beat(self, item: HostState) -> Beat | None:
        if not self._could_be(item):
            return None
        if item.host not in self._beats:
            if self.truncated:
                return None  # over the limit: not read, not flagged (``truncated`` says so)
            self.know([item])  # a caller that did not call know() first: one lookup
        found = self._beats.get(item.host)
        if found is None or found.beat_due is None or found.beat_due < self.now - KEEP:
            return None  # never beat, or expired (the TTL deletes lazily): forgotten
        return found if found.beat_due < self.cutoff else None

    def is_silent(self, item: HostState) -> bool:
        """True when ``item``'s host has not polled for ``FABU_SILENT_SECONDS`` (see module)."""
        return self._silent_beat(item) is not None

    def last_seen(self, item: HostState) -> datetime.datetime | None:
        """The host's last poll as far as known: a silent host's beat (when newer than the
        item's), else the item's ``last_seen`` (first poll, lease, report, pending touch)."""
        found = self._silent_beat(item)
        seen = found.last_seen if found is not None else None
        if seen is not None and (item.last_seen is None or item.last_seen < seen):
            return seen
        return item.last_seen


def silence(now: datetime.datetime, limit: int = MAX_SILENT) -> Silence:
    """The silent hosts at ``now`` (read at first use; share one per request or report)."""
    return Silence(now=now, limit=limit)
