"""One heartbeat item per host: when the host last polled, and which hosts are silent now.

The beat lives in the host's own partition of the hosts table at ``(host, "#beat")`` (a project
slug starts with ``[a-z0-9]``, so ``#`` keys sort before every project and are never one), so the
poll's one Query returns it with the host's project items. It has no ``wave_key`` (it stays out
of the sparse ``project-index``) and carries ``beat_shard = beat#<crc32(host) % 8>`` and
``beat_due``, the keys of the sparse ``seen-index``: "silent hosts now" is one Query per shard,
whatever the number of hosts or projects.

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
import zlib

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib import config
from chalicelib.models import HostState, _meta, update_if

_log = logging.getLogger(__name__)
#: The beat's range key in the host's partition.
BEAT = "#beat"
#: Every project slug sorts at or after this ("0" < "9" < "a"); "#..." keys sort before it.
FIRST_PROJECT = "0"
#: ``seen-index`` partitions: 100,000 hosts beating hourly are about 3.5 writes/s per shard.
SHARDS = 8
#: Silent hosts one ``Silence`` reads at most (each shard its share, the newest silence first).
MAX_SILENT = 50_000
#: A beat not renewed for this long expires (its host is forgotten, not silent forever).
KEEP = datetime.timedelta(days=30)
#: Hosts ``silent`` looks up at most (the engine's candidates of one step: 10 BatchGetItem).
MAX_LOOKUP = 1000


class SeenIndex(GlobalSecondaryIndex):
    """The beats of one shard by ``beat_due``: the silent ones are a range."""
    class Meta:
        index_name = "seen-index"
        projection = IncludeProjection(["last_seen"])
    beat_shard = UnicodeAttribute(hash_key=True)
    beat_due = UTCDateTimeAttribute(range_key=True)


class Beat(Model):
    """The heartbeat of one host: ``(host, "#beat")`` in the hosts table."""
    Meta = _meta("hosts")
    host = UnicodeAttribute(hash_key=True)
    project = UnicodeAttribute(range_key=True, default=BEAT)
    beat_shard = UnicodeAttribute(null=True)
    last_seen = UTCDateTimeAttribute(null=True)
    beat_due = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    seen_index = SeenIndex()


def shard_of(host: str) -> str:
    """The ``seen-index`` partition of ``host``'s beat."""
    return f"beat#{zlib.crc32(host.encode()) % SHARDS}"


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
                      Beat.beat_shard.set(shard_of(host)), Beat.expires_at.set(now + KEEP)],
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
    """Which hosts are silent at ``now``: read once (lazily, at the first item whose host could
    be), then asked per item. ``truncated`` when more than ``limit`` beats were silent."""
    now: datetime.datetime
    limit: int = MAX_SILENT
    truncated: bool = False
    _beats: dict[str, datetime.datetime] | None = None

    @property
    def cutoff(self) -> datetime.datetime:
        """A beat due, or an item touched, before this: no poll for ``FABU_SILENT_SECONDS``."""
        return self.now - silent_after()

    def beats(self) -> dict[str, datetime.datetime]:
        """``{host: last_seen}`` of every silent host (one Query per shard, paged)."""
        if self._beats is None:
            self._beats = {}
            per_shard = max(1, self.limit // SHARDS)
            since = self.now - KEEP
            for shard in range(SHARDS):
                found = 0
                for item in Beat.seen_index.query(f"beat#{shard}", Beat.beat_due < self.cutoff,
                                                  scan_index_forward=False, limit=per_shard + 1):
                    if item.beat_due < since:
                        break  # expired (TTL deletes lazily): forgotten, and all older ones
                    if found == per_shard:
                        self.truncated = True  # the longest-silent hosts are left out
                        _log.warning("more than %d silent hosts: the longest-silent are not "
                                     "flagged (seen-index shard %d)", self.limit, shard)
                        break
                    self._beats[item.host] = item.last_seen
                    found += 1
        return self._beats

    def is_silent(self, item: HostState) -> bool:
        """True when ``item``'s host has not polled for ``FABU_SILENT_SECONDS`` (see module)."""
        if item.last_seen is not None and item.last_seen >= self.cutoff:
            return False
        return item.host in self.beats()

    def last_seen(self, item: HostState) -> datetime.datetime | None:
        """The host's last poll as far as known: a silent host's beat (when newer than the
        item's), else the item's ``last_seen`` (first poll, lease, report, pending touch)."""
        seen = self.beats().get(item.host) if self.is_silent(item) else None
        if seen is not None and (item.last_seen is None or item.last_seen < seen):
            return seen
        return item.last_seen


def silence(now: datetime.datetime, limit: int = MAX_SILENT) -> Silence:
    """The silent hosts at ``now`` (read at first use; share one per request or report)."""
    return Silence(now=now, limit=limit)
