"""The ``audit`` table: one item per admin action, keyed so every query is a Query, never a Scan.

* table key: ``pk = <YYYY-MM-DD>#<NN>`` (the UTC day and one of ``SHARDS`` shards, the CRC-32 of
  ``sk`` modulo ``SHARDS``: a retried write lands on the same shard) and ``sk = <at>#<random>``
  (``at`` with microseconds, so keys sort by time); a time window = one Query per shard of
  each day, merged;
* ``actor-index`` (``actor``, ``sk``): one caller's actions, newest first;
* ``project-index`` (``project``, ``sk``): one project's (``-`` for stage-wide actions: the
  freeze, on-demand reports, host keys);
* TTL ``expires_at`` = ``at`` + ``FABU_AUDIT_RETENTION_DAYS`` (``config.audit_retention_days``).

The table's ``Meta`` is built here (not from ``chalicelib.models``), so ``models`` may list this
model in ``ALL_MODELS`` without an import circle.
"""
import datetime
import zlib

from pynamodb.attributes import JSONAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib import config

#: Partitions of one day (a day's Query fans out to each; admin actions are few, 4 is plenty).
SHARDS = 4
#: ``at`` as it is kept in keys and shown (microseconds: ids sort by time).
AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: ``project`` of an action on the whole stage (project names never are ``-``).
STAGE_WIDE = "-"


def shard_key(sk: str, moment: datetime.datetime) -> str:
    """``pk`` of the entry ``sk`` written at ``moment``: ``<YYYY-MM-DD>#<NN>``."""
    return f"{moment.strftime('%Y-%m-%d')}#{zlib.crc32(sk.encode()) % SHARDS:02d}"


def day_keys(day: datetime.date) -> list[str]:
    """Every ``pk`` of ``day``: its shards."""
    return [f"{day.isoformat()}#{shard:02d}" for shard in range(SHARDS)]


class AuditActorIndex(GlobalSecondaryIndex):
    """One actor's entries, newest first."""
    class Meta:
        index_name = "actor-index"
        projection = AllProjection()
    actor = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditProjectIndex(GlobalSecondaryIndex):
    """One project's entries (``-``: the stage's own), newest first."""
    class Meta:
        index_name = "project-index"
        projection = AllProjection()
    project = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditEntry(Model):
    """Who (``actor``) did what (``action``: the event kind) to which ``project``, when (``at``)."""
    class Meta:
        table_name = config.table_name("audit")
        region = config.region()
        connect_timeout_seconds = 5
        read_timeout_seconds = 15
        max_retry_attempts = 4
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    project = UnicodeAttribute()
    detail = JSONAttribute(default=dict)
    message = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()
    actor_index = AuditActorIndex()
    project_index = AuditProjectIndex()


def to_dict(entry: AuditEntry) -> dict:
    """An entry as the API, the export and the CLI show it."""
    return {"id": entry.sk, "at": entry.at.strftime(AT_FORMAT), "actor": entry.actor,
            "action": entry.action, "project": entry.project, "detail": entry.detail or {},
            "message": entry.message, "request_id": entry.request_id}
