"""The event log: every transition (who, what, when) as one item, read by UI, notices, reports.

``record`` writes one ``Event`` and returns it as plain data. Event kinds are dotted names
(``project.created``, ``rollout.wave_started``, ``host.failed``); ``detail`` is a small JSON
object. Retention is DynamoDB TTL (``FABU_EVENT_TTL_DAYS``, default 90). Every stored event is
handed to ``notify.queue.enqueue``, which queues the ones worth telling people about.
``page`` reads a project's timeline; ``project_page`` is the same for the API, checking its input.

The ``day-index`` (every event of one UTC day, for the daily report) is sharded so a busy day is
spread over ``DAY_SHARDS`` partitions: ``Event.day`` is ``<YYYY-MM-DD>#<NN>`` (``day_key``), NN
the CRC-32 of the event's key (``<scope>#<sk>``) modulo 16, so an event's shard is fixed by its
key (a retried write lands on the same one) and, the key ending in random hex, events spread
evenly. ``day_values`` are the values a day's readers Query: the 16 shards and the unsharded
``<YYYY-MM-DD>`` of events written before the shards (kept ``FABU_EVENT_TTL_DAYS``).
``day_of`` is the plain date of either (what a user is ever shown).

An event that is an admin action (``chalicelib.audit.log.ADMIN_KINDS``, recorded by an admin)
is stored in one transaction with its audit entry (``audit.log.save_event``).
"""
import datetime
import secrets
import zlib

from chalicelib import config, pagination
from chalicelib.audit import log as audit_log
from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import Event, Project
from chalicelib.notify import queue
from chalicelib.times import parse_lenient, utcnow

#: Event ids and ``at`` keep microseconds (unlike ``times.format_time``): ids sort by time.
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ORDERS = (None, "asc", "desc")
#: Partitions of one day in the ``day-index`` (``day_key``).
DAY_SHARDS = 16


def day_key(scope: str, sk: str, moment: datetime.datetime) -> str:
    """``Event.day`` of the event (``scope``, ``sk``) at ``moment``: ``<YYYY-MM-DD>#<NN>``."""
    shard = zlib.crc32(f"{scope}#{sk}".encode()) % DAY_SHARDS
    return f"{moment.strftime('%Y-%m-%d')}#{shard:02d}"


def day_values(day: datetime.date) -> list[str]:
    """Every ``Event.day`` value of ``day``: its shards, then the legacy unsharded date."""
    date = day.isoformat()
    return [f"{date}#{shard:02d}" for shard in range(DAY_SHARDS)] + [date]


def day_of(value: str) -> str:
    """The plain ``YYYY-MM-DD`` of an ``Event.day`` value, sharded or not."""
    return value.split("#", 1)[0]


def _sort_key(moment: datetime.datetime) -> str:
    return f"{moment.strftime(_AT_FORMAT)}#{secrets.token_hex(4)}"


def to_dict(event: Event) -> dict:
    """An ``Event`` item as the API shows it."""
    return {"project": event.scope, "id": event.sk, "kind": event.kind, "actor": event.actor,
            "host": event.host, "message": event.message, "detail": event.detail or {},
            "at": event.at.strftime(_AT_FORMAT)}


def record(project: str, kind: str, actor: str | None = None, detail: dict | None = None, *,
           host: str | None = None, message: str | None = None,
           at: datetime.datetime | None = None) -> dict:
    """Store one event of ``project`` and queue it for notification; return it as a dict."""
    moment = at or utcnow()
    sk = _sort_key(moment)
    event = Event(project, sk, day=day_key(project, sk, moment), kind=kind,
                  actor=actor, host=host, message=message, detail=detail or {}, at=moment,
                  expires_at=moment + datetime.timedelta(days=config.event_ttl_days()))
    audit_log.save_event(event, Event.sk.does_not_exist())  # + its audit entry, if an admin's
    data = to_dict(event)
    queue.enqueue(data)
    return data


def page(project: str, *, limit: int = 50, cursor: str | None = None,
         since: datetime.datetime | None = None,
         newest_first: bool = True) -> tuple[list[dict], str | None]:
    """One page of a project's events: ``(events, next_cursor or None)``. One Query."""
    condition = None
    if since is not None:
        condition = Event.sk >= since.strftime(_AT_FORMAT)
    start = pagination.decode(cursor)
    result = Event.query(project, condition, scan_index_forward=not newest_first, limit=limit,
                         last_evaluated_key=start, page_size=limit)
    items = [to_dict(e) for e in result]
    return items, pagination.encode(result.last_evaluated_key)


def project_page(project_id: str, *, limit: int = 50, cursor: str | None = None,
                 since: str | None = None, order: str | None = None) -> tuple[list[dict], str | None]:
    """``GET /api/v1/project/{id}/events``: ``page`` with the query's own text checked.

    ``since`` is ISO 8601 (no zone means UTC), ``order`` ``desc`` (default) or ``asc``; either
    malformed is a ValidationError naming it, an unknown project NotFound, a foreign cursor a
    ValidationError (``pagination.decode``).
    """
    moment = _since(since)
    if order not in _ORDERS:
        raise ValidationError("order must be asc or desc", {"order": "must be asc or desc"})
    try:
        Project.get(project_id, attributes_to_get=["id"])
    except Project.DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None
    return page(project_id, limit=limit, cursor=cursor, since=moment, newest_first=order != "asc")


def _since(text: str | None) -> datetime.datetime | None:
    if text is None:
        return None
    try:
        return parse_lenient(text)
    except ValueError:
        raise ValidationError("since must be an ISO 8601 time like 2026-11-04T08:00:00Z",
                              {"since": "is not an ISO 8601 time"}) from None
