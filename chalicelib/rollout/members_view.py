"""A project's hosts a page at a time: ``GET /api/v1/project/{id}/hosts`` (filters, signed cursor).

Every host item of the project (listed hosts once planned, fleet members, members that left and
are still kept) can be listed, whatever the fleet's size: each page is **one** Query on the hosts
table's ``project-index`` (``wave_key = <wave:03d>#<status>#<host>``), so a page's cost is bounded
and never depends on the size of the project:

* ``wave`` (and ``wave`` with a single ``status``) is a key condition: ``begins_with(wave_key,
  "003#")`` / ``begins_with(wave_key, "003#failed#")`` reads only those items.
* ``status`` without ``wave``, a list of statuses, ``zone``, ``member`` and ``q`` (host name
  contains) are a filter: that page's Query reads at most ``EVALUATED_PER_PAGE`` items (and at
  most DynamoDB's 1 MB) and returns the ones that match, so a sparse filter's page may hold fewer
  rows than ``limit``, or none, and still carry a ``next_cursor``: keep paging until it is null.

Rows are in index order (wave, status, host). The cursor is ``chalicelib.pagination``'s: signed
and tied to this route, project and filters (``limit`` may change between pages).
"""
from pynamodb.expressions.condition import Condition

from chalicelib import pagination
from chalicelib.errors import NotFound, ValidationError
from chalicelib.hosts import beat
from chalicelib.models import HostState, Project
from chalicelib.projects import hostlist, schema
from chalicelib.rollout import view
from chalicelib.states import HostStatus
from chalicelib.times import utcnow

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Items one page's Query may read when a filter applies (DynamoDB stops at 1 MB anyway).
EVALUATED_PER_PAGE = 4000
#: The key attributes of a ``project-index`` page's end: the index's and the table's.
_KEYS = ("host", "project", "wave_key")
_MAX_WAVE = schema.MAX_WAVES - 1
_STATUSES = tuple(str(s) for s in HostStatus)


def page(project_id: str, *, status: str | None = None, wave: str | None = None,
         zone: str | None = None, member: str | None = None, q: str | None = None,
         cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict:
    """One page of the project's host rows (``view.member_row``) and the ``next_cursor``.

    Each bad parameter is a ValidationError naming it; an unknown project is NotFound.
    """
    statuses = _statuses(status)
    wave_number = _wave(wave)
    zone = _zone(zone)
    member = _member(member)
    needle = _needle(q)
    start = pagination.decode(cursor, keys=_KEYS)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"limit must be between 1 and {MAX_LIMIT}",
                              {"limit": f"must be between 1 and {MAX_LIMIT}"})
    try:
        spec = Project.get(project_id, attributes_to_get=["id", "spec"]).spec
    except Project.DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None
    zones = hostlist.zones(spec)
    key_condition, key_statuses = _key_condition(wave_number, statuses)
    filters = _filter(statuses if not key_statuses else [], zone, member, needle, zones)
    evaluated = limit if filters is None else max(limit, EVALUATED_PER_PAGE)
    result = HostState.project_index.query(project_id, key_condition, filters,
                                           last_evaluated_key=start, page_size=evaluated)
    raw = result.page_iter.next()
    items = [HostState.from_raw_data(i) for i in raw.get("Items", [])]
    end = raw.get("LastEvaluatedKey")
    if zone is not None:  # a listed host's zone may be in the spec only
        items = [i for i in items if (i.zone or zones.get(i.host)) == zone]
    if len(items) > limit:  # the page ends at its last row, not at the last item read
        items = items[:limit]
        end = {name: {"S": getattr(items[-1], name)} for name in _KEYS}
    silence = beat.silence(utcnow())
    silence.know(items)  # the beats of the page's hosts that could be silent: <= 10 BatchGets
    return {"project": project_id, "hosts": [view.member_row(i, silence, zones) for i in items],
            "next_cursor": pagination.encode(end), "evaluated": int(raw.get("ScannedCount", 0)),
            "limit": limit}


def _key_condition(wave: int | None, statuses: list[str]) -> tuple[Condition | None, bool]:
    """The ``wave_key`` condition, and whether it also selects the (single) status."""
    if wave is None:
        return None, False
    if len(statuses) == 1:
        return HostState.wave_key.startswith(f"{wave:03}#{statuses[0]}#"), True
    return HostState.wave_key.startswith(f"{wave:03}#"), False


def _filter(statuses: list[str], zone: str | None, member: str | None, needle: str | None,
            zones: dict[str, str]) -> Condition | None:
    parts: list[Condition] = []
    if statuses:
        parts.append(HostState.status.is_in(*statuses))
    if member == view.LISTED:
        parts.append(HostState.member.does_not_exist() | (HostState.member == view.LISTED))
    elif member is not None:
        parts.append(HostState.member == member)
    if zone is not None:
        zoned = HostState.zone == zone
        # a listed host's zone may be in the spec only: those are judged after the Query
        parts.append(zoned | HostState.zone.does_not_exist() if zone in zones.values() else zoned)
    if needle:
        parts.append(HostState.host.contains(needle))
    combined = None
    for part in parts:
        combined = part if combined is None else combined & part
    return combined


def _bad(name: str, message: str) -> ValidationError:
    return ValidationError(f"{name} {message}", {name: message})


def _statuses(text: str | None) -> list[str]:
    """``failed`` or ``failed,lost``: each a host status, none twice."""
    if text is None:
        return []
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in _STATUSES]
    if unknown or not names:
        raise _bad("status", f"must be host statuses separated by commas, each one of "
                             f"{', '.join(_STATUSES)} (not {unknown[0][:40]!r})")
    return list(dict.fromkeys(names))


def _wave(text: str | None) -> int | None:
    if text is None:
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= _MAX_WAVE):
        raise _bad("wave", f"must be a wave number from 0 to {_MAX_WAVE}")
    return int(value)


def _zone(text: str | None) -> str | None:
    if text is None:
        return None
    if len(text) > schema.MAX_ZONE_LENGTH or not schema.ZONE_RE.fullmatch(text):
        raise _bad("zone", f"must be a zone name (letters, digits and '-', at most "
                           f"{schema.MAX_ZONE_LENGTH} characters), like us-east-1a")
    return text


def _member(text: str | None) -> str | None:
    if text is None:
        return None
    if text not in view.MEMBER_KINDS:
        raise _bad("member", f"must be one of {', '.join(view.MEMBER_KINDS)}")
    return text


def _needle(text: str | None) -> str | None:
    """``q``: part of a host name (lowercase letters, digits, '.', '-')."""
    if text is None or not text.strip():
        return None
    value = text.strip().lower()
    if len(value) > schema.MAX_HOST_NAME or not all(c.isascii() and (c.isalnum() or c in ".-")
                                                    for c in value):
        raise _bad("q", f"must be part of a host name (letters, digits, '.' and '-', at most "
                        f"{schema.MAX_HOST_NAME} characters)")
    return value
