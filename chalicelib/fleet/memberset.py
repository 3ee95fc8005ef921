"""A project's last synced fleet membership, stored where a diff reads it cheaply.

The set is ``FleetShard`` items in the hosts table, outside ``project-index`` (so no reader of a
project's host items sees them): partition ``fleet#<project>``, ``SHARDS`` shard items
(``shard#NN``: instance id → zone of the members, instance id → when it left of the leavers
still kept) and one ``meta`` item (the ``key`` the set was computed from, the last sync error
and since when). A project's whole set is one Query; a sync writes only the shards that changed
(nothing when nothing did). The set is a cache of what the host items say: every item write the
sync makes is conditional and idempotent, so a set that is missing, stale or from another
selector (``key``) is rebuilt from the project's items (``from_items``, one Query) and any
difference heals on the next sweep.
"""
import dataclasses
import datetime
import zlib

from chalicelib.models import FleetShard, HostState
from chalicelib.states import HostStatus
from chalicelib.times import format_time

#: Shards per project (a shard holds about 9,000 members under DynamoDB's 400 KB item limit).
SHARDS = 64
#: The most members one project's fleet may have (past it the project's sync fails, saying so).
MAX_MEMBERS = 500_000
META = "meta"
FLEET = "fleet"  # ``HostState.member`` of a host found by the sync


def partition(project_id: str) -> str:
    return f"fleet#{project_id}"


def _shard(host: str) -> str:
    return f"shard#{zlib.crc32(host.encode()) % SHARDS:02d}"


@dataclasses.dataclass
class MemberSet:
    """``members`` (id → zone) and ``left`` (id → ISO time it left) as stored; ``key`` and the
    last ``error``; ``stored``: the shards as read (``save`` writes only those that differ)."""
    members: dict[str, str] = dataclasses.field(default_factory=dict)
    left: dict[str, str] = dataclasses.field(default_factory=dict)
    key: str | None = None
    error: str | None = None
    error_since: datetime.datetime | None = None
    stored: dict[str, tuple[dict, dict]] = dataclasses.field(default_factory=dict)


def load(project_id: str) -> MemberSet:
    """The stored set (one consistent Query; empty when there is none)."""
    found = MemberSet()
    for item in FleetShard.query(partition(project_id), consistent_read=True):
        if item.project == META:
            found.key, found.error, found.error_since = item.key, item.error, item.error_since
            continue
        members, left = dict(item.members or {}), dict(item.left or {})
        found.stored[item.project] = (members, left)
        found.members.update(members)
        found.left.update(left)
    return found


def from_items(project_id: str, stored: MemberSet) -> MemberSet:
    """The set as the project's host items say (one Query on ``project-index``), keeping what
    ``stored`` has in storage (so ``save`` rewrites what differs)."""
    rebuilt = MemberSet(key=stored.key, error=stored.error, error_since=stored.error_since,
                        stored=stored.stored)
    for item in HostState.project_index.query(project_id):
        if item.member != FLEET:
            continue
        if item.status == HostStatus.LEFT:
            rebuilt.left[item.host] = format_time(item.left_at or item.updated_at)
        else:
            rebuilt.members[item.host] = item.zone or ""
    return rebuilt


def save(project_id: str, stored: MemberSet, members: dict[str, str], left: dict[str, str]) -> int:
    """Write the shards of ``members``/``left`` that differ from ``stored`` (deleting emptied
    ones); returns how many items were written."""
    shards: dict[str, tuple[dict, dict]] = {}
    for host, zone in members.items():
        shards.setdefault(_shard(host), ({}, {}))[0][host] = zone
    for host, when in left.items():
        shards.setdefault(_shard(host), ({}, {}))[1][host] = when
    writes = 0
    for name in sorted(set(shards) | set(stored.stored)):
        new = shards.get(name)
        if new == stored.stored.get(name):
            continue
        if new is None:
            FleetShard(partition(project_id), name).delete()
        else:
            FleetShard(partition(project_id), name, members=new[0] or None,
                       left=new[1] or None).save()
        writes += 1
    return writes


def save_meta(project_id: str, key: str | None, error: str | None,
              since: datetime.datetime | None) -> None:
    """The set's ``key`` and its last sync error (None: it synced)."""
    FleetShard(partition(project_id), META, key=key, error=error, error_since=since).save()


def meta(project_id: str) -> FleetShard | None:
    """The stored set's ``meta`` item (one GetItem): its ``key`` and last ``error``; None when
    the fleet never synced."""
    try:
        return FleetShard.get(partition(project_id), META, consistent_read=True)
    except FleetShard.DoesNotExist:
        return None
