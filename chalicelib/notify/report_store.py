"""Stored daily reports in the release bucket: write, read one, read the newest, list the days.

Keys: ``reports/<YYYY-MM-DD>.json`` (the data), ``reports/<YYYY-MM-DD>.html`` (the page) and
``reports/latest.json`` (``{"date": <the newest report's day>}``). Listing never walks the whole
prefix: it lists one year (``reports/<YYYY>-``, at most 733 keys: one S3 page) at a time, newest
year first, and stops after ``MAX_YEARS_PER_PAGE`` years, handing out a cursor to go on.
"""
import datetime
import json
import re

from chalicelib import aws, config, pagination
from chalicelib.errors import NotFound, ValidationError
from chalicelib.times import format_time, utcnow

PREFIX = "reports/"
LATEST = f"{PREFIX}latest.json"
FORMATS = ("json", "html")
#: The most days one page of the list may hold (a year), and the default.
MAX_LIST_LIMIT, DEFAULT_LIST_LIMIT = 366, 30
#: Years (one S3 List each) one page of the list looks at before handing out a cursor.
MAX_YEARS_PER_PAGE = 5
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_KEY_RE = re.compile(rf"{PREFIX}(\d{{4}}-\d{{2}}-\d{{2}})\.json")
_ANY_DAY_KEY_RE = re.compile(rf"{PREFIX}(\d{{4}})-\d{{2}}-\d{{2}}\.(?:json|html)")


def check_date(text: object, field: str = "date") -> datetime.date:
    """``YYYY-MM-DD`` as a date; ValidationError (400) naming ``field`` otherwise."""
    try:
        if not isinstance(text, str) or not _DATE_RE.fullmatch(text):
            raise ValueError(text)
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError("a report date is YYYY-MM-DD (UTC), like 2026-11-04",
                              {field: "is not a date YYYY-MM-DD"}) from None


def put(key: str, body: bytes, content_type: str) -> None:
    """Write one object of the reports prefix."""
    aws.client("s3").put_object(Bucket=config.release_bucket(), Key=key, Body=body,
                                ContentType=content_type)


def read(key: str) -> bytes | None:
    """One object's bytes; None when there is no such key (any other S3 error propagates)."""
    s3 = aws.client("s3")
    try:
        return s3.get_object(Bucket=config.release_bucket(), Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def store(report: dict, html: str) -> bool:
    """Write a report's JSON and page; move ``latest`` to it unless a newer day is there.

    True when ``latest`` now names this report's day (regenerating an older day keeps the newest).
    """
    date = report["date"]
    put(f"{PREFIX}{date}.json", json.dumps(report, indent=1, sort_keys=True).encode(), "application/json")
    put(f"{PREFIX}{date}.html", html.encode(), "text/html; charset=utf-8")
    latest_date = json.loads(read(LATEST) or b"{}").get("date")
    if latest_date is None or latest_date <= date:
        put(LATEST, json.dumps({"date": date}).encode(), "application/json")
        return True
    return False


def get(date: str, fmt: str = "json") -> dict | str:
    """A stored report: the JSON data, or (``fmt="html"``) the page's text. NotFound if none."""
    day = check_date(date)
    if fmt not in FORMATS:
        raise ValidationError("format must be json or html", {"format": "must be json or html"})
    raw = read(f"{PREFIX}{day.isoformat()}.{fmt}")
    if raw is None:
        raise NotFound(f"no report for {day.isoformat()}: POST /api/v1/reports with this date "
                       "makes one (GET /api/v1/reports lists the days there are)")
    return json.loads(raw) if fmt == "json" else raw.decode()


def latest(fmt: str = "json") -> dict | str:
    """The newest stored report (see ``get``); NotFound before the first one."""
    pointer = read(LATEST)
    if pointer is None:
        raise NotFound("no report has been generated yet: the daily schedule makes one at "
                       "08:00 UTC, or POST /api/v1/reports makes today's now")
    return get(json.loads(pointer)["date"], fmt)


def list_days(limit: int = DEFAULT_LIST_LIMIT, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """The days that have a report, newest first: ``([{date, modified_at, size}], next_cursor)``.

    One S3 List for the earliest key, then one per year looked at (at most
    ``MAX_YEARS_PER_PAGE``); a page that stops early still hands out ``next_cursor``.
    """
    before = _cursor_day(cursor)
    earliest = _earliest_year()
    if earliest is None:
        return [], None
    year = (before - datetime.timedelta(days=1)).year if before else utcnow().year
    found: list[dict] = []
    for _ in range(MAX_YEARS_PER_PAGE):
        if year < earliest:
            return found, None
        days = [d for d in _year_days(year) if before is None or d["date"] < before.isoformat()]
        for day in days:
            if len(found) == limit:
                return found, _cursor(found[-1]["date"])
            found.append(day)
        year -= 1
    return found, (_cursor(f"{year + 1}-01-01") if year >= earliest else None)


def _cursor(before: str) -> str | None:
    """The next page starts before this day (in the key shape ``pagination`` signs)."""
    return pagination.encode({"before": {"S": before}})


def _cursor_day(cursor: str | None) -> datetime.date | None:
    key = pagination.decode(cursor, keys=("before",))
    if key is None:
        return None
    try:
        return check_date(key["before"].get("S"), "cursor")
    except ValidationError:
        raise ValidationError("bad cursor: pass the next_cursor of the previous page",
                              {"cursor": "is not a cursor this API issued"}) from None


def _earliest_year() -> int | None:
    """The year of the oldest report (keys sort by date; ``latest.json`` sorts after them)."""
    listed = aws.client("s3").list_objects_v2(Bucket=config.release_bucket(), Prefix=PREFIX, MaxKeys=1)
    for item in listed.get("Contents", []):
        match = _ANY_DAY_KEY_RE.fullmatch(item["Key"])
        if match:
            return int(match.group(1))
    return None


def _year_days(year: int) -> list[dict]:
    """The reports of one year, newest first (a year has at most 733 keys: one S3 page)."""
    days = []
    pages = aws.client("s3").get_paginator("list_objects_v2").paginate(
        Bucket=config.release_bucket(), Prefix=f"{PREFIX}{year:04d}-")
    for page in pages:
        for item in page.get("Contents", []):
            match = _KEY_RE.fullmatch(item["Key"])
            if match:
                days.append({"date": match.group(1), "modified_at": format_time(item["LastModified"]),
                             "size": item["Size"]})
    return sorted(days, key=lambda d: d["date"], reverse=True)
