"""Time: the clock, and the one text form in which every time enters and leaves the API."""
import datetime

_UTC = datetime.timezone.utc
_EXAMPLE = "2026-12-01T09:30:00Z"


def utcnow() -> datetime.datetime:
    """Now, as an aware UTC datetime."""
    return datetime.datetime.now(_UTC)


def parse_time(value: object) -> datetime.datetime:
    """ISO 8601 with an explicit UTC offset → aware UTC datetime; ``ValueError`` otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(f"must be an ISO 8601 UTC time such as {_EXAMPLE}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 UTC time such as {_EXAMPLE}") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone: end it with Z (UTC)")
    if parsed.utcoffset() != datetime.timedelta(0):
        raise ValueError("must be in UTC (Z or +00:00)")
    return parsed.astimezone(_UTC)


def parse_lenient(value: str) -> datetime.datetime:
    """ISO 8601 in any zone (none means UTC) → aware UTC datetime; ``ValueError`` otherwise.

    For query parameters such as ``?since=``, where a reader's local offset is fine.
    """
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC)


def format_time(moment: datetime.datetime | None) -> str | None:
    """``2026-12-01T09:30:00Z`` (None stays None): how every time leaves the API."""
    if moment is None:
        return None
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
