"""``GET /api/v1/audit``: the audit log, newest first, filtered by actor, project and time.

Which Query answers a page:

* ``actor`` (with or without ``project``): the ``actor-index`` partition of that actor, between
  ``since`` and ``until``; a ``project`` is then a filter applied here;
* ``project`` alone: the ``project-index`` partition of that project (``-``: the stage's own);
* neither: the day partitions, newest day first, each day one Query per shard
  (``model.SHARDS``, concurrently), merged in ``sk`` order.

Bounds (a page never runs unbounded): ``limit`` entries (default 50, at most 500);
``since`` defaults to 7 days before ``until`` (default now) and is raised to the retention
(``FABU_AUDIT_RETENTION_DAYS``: older entries are gone), ``until`` is held to now, so a walk
covers at most the retention's days; a filtered page reads at most ``MAX_SCANNED`` entries, and
every page stops when its time budget (``FABU_AUDIT_API_SECONDS``, default 10) is spent. A
page that stopped early for a bound says ``truncated: true`` (``scanned``: entries read) and
its ``next_cursor`` goes on from where it stopped. The cursor is the position reached (an
exclusive ``sk`` bound) signed for this query's parameters (``chalicelib.pagination``).
"""
import concurrent.futures
import datetime
import heapq
import re
import time

from chalicelib import config, pagination
from chalicelib.audit.model import AT_FORMAT, SHARDS, STAGE_WIDE, AuditEntry, day_keys, to_dict
from chalicelib.errors import ValidationError
from chalicelib.projects.schema import SLUG_RE
from chalicelib.times import format_time, parse_lenient, utcnow

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
#: The window when ``since`` is not given (before ``until``).
DEFAULT_DAYS = 7
#: Entries one filtered page (actor and project) reads at most before it stops.
MAX_SCANNED = 5000
#: Seconds a page may spend reading (``FABU_AUDIT_API_SECONDS``): API Gateway allows 29.
DEFAULT_BUDGET = 10
#: Entries a filtered Query asks DynamoDB for per request.
FILTERED_PAGE = 200
MAX_ACTOR_CHARS = 2048
_POSITION_RE = re.compile(r"\d{4}-\d{2}-\d{2}T(?:~|[0-9:.Z]{1,27}#[0-9a-f]{1,32})")
_UNTIL_SUFFIX = "#~"  # after every "<until>#<hex>" key: ``until`` is inclusive


def page(*, actor: str | None = None, project: str | None = None, since: str | None = None,
         until: str | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT,
         now: datetime.datetime | None = None) -> dict:
    """One page of the audit log (see the module docstring); 400 naming a bad parameter."""
    now = now or utcnow()
    actor, project = _check_actor(actor), _check_project(project)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}",
                              {"limit": f"must be between 1 and {MAX_LIMIT}"})
    high = min(_time("until", until) if until else now, now)
    low = _time("since", since) if since else high - datetime.timedelta(days=DEFAULT_DAYS)
    if low > high:
        raise ValidationError(f"since ({format_time(low)}) is after until ({format_time(high)}"
                              f"{'' if until else ': now'})", {"since": "is after until"})
    retention = config.audit_retention_days()
    low = max(low, now - datetime.timedelta(days=retention))
    position = _position(cursor)
    low_key = low.strftime(AT_FORMAT)
    high_key = high.strftime(AT_FORMAT) + _UNTIL_SUFFIX
    if position is not None:
        high_key = min(high_key, position)
    deadline = time.monotonic() + config.int_setting("FABU_AUDIT_API_SECONDS", DEFAULT_BUDGET)
    if low_key > high_key:
        found, reached, truncated, scanned = [], None, False, 0
    elif actor is not None or project is not None:
        found, reached, truncated, scanned = _partition(actor, project, low_key, high_key,
                                                        limit, deadline)
    else:
        found, reached, truncated, scanned = _days(low, low_key, high_key, limit, deadline)
    return {"entries": [to_dict(e) for e in found],
            "next_cursor": pagination.encode({"sk": {"S": reached}}) if reached else None,
            "truncated": truncated, "scanned": scanned, "since": format_time(low),
            "until": format_time(high), "retention_days": retention}


def _partition(actor, project, low_key, high_key, limit, deadline):
    """One index partition, newest first; the other filter applied here (bounded)."""
    if actor is not None:
        index, key, other = AuditEntry.actor_index, actor, project
    else:
        index, key, other = AuditEntry.project_index, project, None
    page_size = FILTERED_PAGE if other is not None else limit + 1
    found, scanned, last = [], 0, None
    for entry in index.query(key, AuditEntry.sk.between(low_key, high_key),
                             scan_index_forward=False, page_size=page_size):
        if entry.sk == high_key:
            continue  # the previous page's last entry (the cursor's bound is inclusive here)
        scanned += 1
        last = entry.sk
        if other is None or entry.project == other:
            found.append(entry)
            if len(found) == limit:
                return found, last, False, scanned
        if scanned >= MAX_SCANNED or time.monotonic() > deadline:
            return found, last, True, scanned
    return found, None, False, scanned


def _days(low, low_key, high_key, limit, deadline):
    """The day partitions from ``high_key``'s day back to ``low``'s, each day's shards merged."""
    found, scanned = [], 0
    day = datetime.date.fromisoformat(high_key[:10])
    with concurrent.futures.ThreadPoolExecutor(max_workers=SHARDS) as pool:
        while day >= low.date():
            need = limit - len(found)
            shards = list(pool.map(lambda pk: _shard(pk, low_key, high_key, need), day_keys(day)))
            got = list(heapq.merge(*shards, key=lambda e: e.sk, reverse=True))[:need]
            scanned += sum(len(s) for s in shards)
            found += got
            if len(found) == limit:
                return found, found[-1].sk, False, scanned
            day -= datetime.timedelta(days=1)
            high_key = f"{day.isoformat()}T~"  # after every key of the day before: all of it is left
            if day >= low.date() and time.monotonic() > deadline:
                return found, high_key, True, scanned
    return found, None, False, scanned


def _shard(pk, low_key, high_key, need):
    """Up to ``need`` entries of one shard, newest first, strictly before ``high_key``."""
    rows = AuditEntry.query(pk, AuditEntry.sk.between(low_key, high_key),
                            scan_index_forward=False, limit=need + 1, page_size=need + 1)
    return [e for e in rows if e.sk != high_key][:need]


def _check_actor(actor):
    if actor is None:
        return None
    if not actor.strip() or len(actor) > MAX_ACTOR_CHARS or not actor.isprintable():
        raise ValidationError(f"actor must be an ARN (at most {MAX_ACTOR_CHARS} characters)",
                              {"actor": "is not an ARN"})
    return actor


def _check_project(project):
    if project is None:
        return None
    if project != STAGE_WIDE and not SLUG_RE.fullmatch(project):
        raise ValidationError("project must be a project name, or - for the stage's own actions",
                              {"project": "is not a project name (or -)"})
    return project


def _time(field, text):
    try:
        return parse_lenient(text)
    except ValueError:
        raise ValidationError(f"{field} must be an ISO 8601 time like 2026-11-04T08:00:00Z",
                              {field: "is not an ISO 8601 time"}) from None


def _position(cursor):
    key = pagination.decode(cursor, keys=["sk"])
    if key is None:
        return None
    value = key["sk"].get("S")
    if not isinstance(value, str) or not _POSITION_RE.fullmatch(value):
        raise ValidationError("bad cursor: pass the next_cursor of the previous page",
                              {"cursor": "is not a cursor this API issued for this query"})
    return value
