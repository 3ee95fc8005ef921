"""The daily summary report: one UTC day of events per project, as JSON and HTML in S3, and SNS.

``generate(day)`` reads the day with **one Query** (paged) on ``Event.day_index`` and, per
project seen that day, one Query on ``HostState.project_index`` (drift and silent hosts); it never
scans. Definitions (see docs/notifications.md):

* a **deploy** is a rollout that reached a final outcome that day — ``rollout.succeeded``,
  ``rollout.halted`` or ``rollout.rolled_back``; the last of these that day is its outcome
  (cancelled and superseded rollouts never deployed and are not counted);
* **success rate** = succeeded deploys / deploys;
* **deploy duration** = from the rollout's ``rollout.started`` event to its final event (when it
  started on an earlier day: from the rollout's ``start_at``); median, and p95 by nearest rank;
* **host outcomes** count ``host.*`` outcome events; **top failure lines** are the last non-empty
  line of each failed host's ``output_tail``;
* **drift**: hosts no longer in flight whose running version differs from their target;
  **silent**: hosts not seen for ``FABU_SILENT_SECONDS`` (default 1800) when the report is made.

Reports go to the release bucket as ``reports/<date>.json`` and ``reports/<date>.html`` (one
self-contained page, inline SVG, no external resource); ``reports/latest.json`` names the newest.
"""
import collections
import datetime
import json
import logging
import math
import os
import re
import statistics
from collections.abc import Callable

from chalice import Cron

from chalicelib import aws, config
from chalicelib.errors import NotFound, ValidationError
from chalicelib.models import Event, HostState, Rollout
from chalicelib.notify import notifications as notify
from chalicelib.states import HOST_UNSETTLED, HostStatus, ReportStatus, RolloutState
from chalicelib.times import format_time, parse_time, utcnow

log = logging.getLogger("fabu.reports")

DEFAULT_CRON = "0 8 * * ? *"
PREFIX = "reports/"
_LATEST = f"{PREFIX}latest.json"  # {"date": <the newest report's date>}
#: The events that end a deploy (cancelled and superseded rollouts never deployed).
FINAL = tuple(f"rollout.{state}" for state in (
    RolloutState.SUCCEEDED, RolloutState.HALTED, RolloutState.ROLLED_BACK))
#: Host outcome events, by the outcome they count as.
HOST_OUTCOMES = {f"host.{outcome}": outcome for outcome in (
    HostStatus.SUCCEEDED, HostStatus.FAILED, HostStatus.LOST, ReportStatus.INTERRUPTED,
    HostStatus.ROLLED_BACK, "rollback_failed")}
#: Outcomes of a host that tried to deploy (the host success rate's denominator).
_ATTEMPTED = (HostStatus.SUCCEEDED, HostStatus.FAILED, HostStatus.LOST, ReportStatus.INTERRUPTED)
#: Host events whose output's last line is a failure line.
FAILURE_KINDS = (f"host.{HostStatus.FAILED}", f"host.{ReportStatus.INTERRUPTED}", "host.rollback_failed")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")


# ----------------------------------------------------------------------------- schedule

def cron() -> Cron:
    """The report's schedule: ``FABU_REPORT_CRON`` (six EventBridge cron fields), default 08:00 UTC.

    Read when ``app.py`` is imported (the decorator is evaluated then). A malformed value is
    logged and the default used: a typo must not take the API down with it.
    """
    raw = os.environ.get("FABU_REPORT_CRON", DEFAULT_CRON).strip()
    fields = raw[5:-1].split() if raw.startswith("cron(") and raw.endswith(")") else raw.split()
    if len(fields) != 6 or "?" not in (fields[2], fields[4]):
        log.warning("FABU_REPORT_CRON=%r is not 6 cron fields with '?' as day of month or week; "
                    "using %r", raw, DEFAULT_CRON)
        fields = DEFAULT_CRON.split()
    return Cron(*fields)


def run_scheduled(event: dict | None, now: datetime.datetime | None = None) -> dict:
    """The scheduled handler: the report of the UTC day before the event's time.

    EventBridge's ``time`` is the scheduled minute even when the invocation is retried later.
    A time more than a day off the clock is a synthetic event (``chalice.test`` stamps
    2015-11-11 on the ones the local ticker sends): the clock is used then.
    """
    now = now or utcnow()
    when = _event_time((event or {}).get("time"))
    if when is None or abs(now - when) > datetime.timedelta(days=1):
        when = now
    return generate((when - datetime.timedelta(days=1)).date(), now)


def _event_time(text: str | None) -> datetime.datetime | None:
    try:
        return parse_time(text)
    except ValueError:
        return None


# ----------------------------------------------------------------------------- numbers

def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``fraction`` of values <= it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = math.ceil(round(fraction * len(ordered), 9))  # 0.95 * 20 must be 19, never 20
    return ordered[max(0, rank - 1)]


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _last_line(text: str | None) -> str | None:
    for line in reversed((text or "").splitlines()):
        if line.strip():
            return line.strip()[:200]
    return None


def _day_events(day: datetime.date) -> list[Event]:
    """Every event of ``day`` (a date), oldest first: one paged Query on the day index."""
    return list(Event.day_index.query(day.isoformat()))


def _rollout_start(project: str, rollout_id: str) -> datetime.datetime | None:
    try:
        return Rollout.get(project, rollout_id).start_at
    except Rollout.DoesNotExist:
        return None


def _deploys(project: str, project_events: list[Event]) -> list[dict]:
    """Per rollout finished that day: outcome and duration (seconds)."""
    started, finals = {}, {}
    for event in project_events:
        rollout_id = (event.detail or {}).get("rollout_id")
        if not rollout_id:
            continue
        if event.kind == "rollout.started":
            started.setdefault(rollout_id, event.at)
        elif event.kind in FINAL:
            finals[rollout_id] = event  # oldest first: the last one wins
    deploys = []
    for rollout_id, event in sorted(finals.items()):
        start = started.get(rollout_id) or _rollout_start(project, rollout_id)
        deploys.append({"rollout_id": rollout_id, "version": (event.detail or {}).get("version"),
                        "outcome": event.kind.split(".", 1)[1], "finished_at": format_time(event.at),
                        "duration_seconds": (event.at - start).total_seconds() if start else None})
    return deploys


def _hosts_now(project: str, now: datetime.datetime) -> tuple[list[dict], list[dict]]:
    """Drift and silent hosts from one Query of the project's hosts."""
    cutoff = now - datetime.timedelta(seconds=config.int_setting("FABU_SILENT_SECONDS", 1800))
    drift, silent = [], []
    for item in HostState.project_index.query(project):
        if item.target_version and item.status not in HOST_UNSETTLED and item.running_version != item.target_version:
            drift.append({"host": item.host, "running_version": item.running_version,
                          "target_version": item.target_version, "status": item.status})
        if item.last_seen is None or item.last_seen < cutoff:
            silent.append({"host": item.host, "last_seen": format_time(item.last_seen)})
    return sorted(drift, key=lambda d: d["host"]), sorted(silent, key=lambda s: s["host"])


def _project_report(project: str, project_events: list[Event], now: datetime.datetime) -> dict:
    deploys = _deploys(project, project_events)
    durations = [d["duration_seconds"] for d in deploys if d["duration_seconds"] is not None]
    hosts = collections.Counter(HOST_OUTCOMES[e.kind] for e in project_events if e.kind in HOST_OUTCOMES)
    attempted = sum(hosts[k] for k in _ATTEMPTED)
    lines = collections.Counter(
        line for line in (_last_line((e.detail or {}).get("output_tail")) for e in project_events
                          if e.kind in FAILURE_KINDS) if line)
    messages = collections.Counter((e.detail or {}).get("level") for e in project_events
                                   if e.kind == "host.message")
    drift, silent = _hosts_now(project, now)
    succeeded = sum(1 for d in deploys if d["outcome"] == RolloutState.SUCCEEDED)
    return {"project": project, "events": len(project_events), "deploys": len(deploys),
            "succeeded": succeeded, "failed": len(deploys) - succeeded,
            "success_rate": _rate(succeeded, len(deploys)),
            "duration_seconds": {"median": median(durations), "p95": percentile(durations, 0.95),
                                 "max": max(durations) if durations else None},
            "rollouts": deploys,
            "hosts": dict(sorted(hosts.items())),
            "host_success_rate": _rate(hosts[HostStatus.SUCCEEDED], attempted),
            "top_failure_lines": [{"line": line, "count": count} for line, count in
                                  sorted(lines.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
            "messages": {level: messages[level] for level in ("info", "warn", "error") if messages[level]},
            "drift": drift[:200], "drift_count": len(drift),
            "silent": silent[:200], "silent_count": len(silent)}


def build(day: datetime.date, now: datetime.datetime | None = None) -> dict:
    """The report of ``day`` (a ``date``) as plain data, computed from the stored events."""
    now = now or utcnow()
    by_project = collections.defaultdict(list)
    for event in _day_events(day):
        by_project[event.scope].append(event)
    projects = [_project_report(p, evs, now) for p, evs in sorted(by_project.items())]
    deploys = sum(p["deploys"] for p in projects)
    succeeded = sum(p["succeeded"] for p in projects)
    durations = [d["duration_seconds"] for p in projects for d in p["rollouts"]
                 if d["duration_seconds"] is not None]
    return {"date": day.isoformat(), "generated_at": format_time(now),
            "totals": {"projects": len(projects), "deploys": deploys, "succeeded": succeeded,
                       "success_rate": _rate(succeeded, deploys),
                       "duration_seconds": {"median": median(durations),
                                            "p95": percentile(durations, 0.95)},
                       "drift": sum(p["drift_count"] for p in projects),
                       "silent": sum(p["silent_count"] for p in projects)},
            "projects": projects}


# ----------------------------------------------------------------------------- output


def _bars(rows: list[dict], value_of: Callable[[dict], float | None], scale: float,
          label_of: Callable[[float | None], str]) -> dict:
    """Geometry of a horizontal SVG bar chart (computed here: the template only draws)."""
    bars = []
    for index, row in enumerate(rows):
        value = value_of(row)
        width = 0 if not value or not scale else round(300 * value / scale, 1)
        bars.append({"y": 10 + index * 24, "width": width, "label": row["project"],
                     "value": label_of(value)})
    return {"bars": bars, "height": 20 + 24 * len(rows)}


def _fmt_seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}m{seconds:02d}s"


def render_html(report: dict) -> str:
    """One self-contained HTML page (inline CSS and SVG; no script, font or CDN)."""
    import jinja2  # once a day: not worth a cold-start import
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True)
    projects = report["projects"]
    longest = max([p["duration_seconds"]["p95"] or 0 for p in projects] or [0])
    charts = {
        "success": _bars(projects, lambda p: p["success_rate"], 1,
                         lambda v: "-" if v is None else f"{100 * v:.1f}%"),
        "p95": _bars(projects, lambda p: p["duration_seconds"]["p95"], longest, _fmt_seconds),
    }
    return env.get_template("report.html.j2").render(report=report, charts=charts, fmt=_fmt_seconds)


def _summary_text(report: dict) -> str:
    """The SNS summary of ``report``: a headline, then one line per project."""
    totals = report["totals"]
    rate = "-" if totals["success_rate"] is None else f"{100 * totals['success_rate']:.1f}%"
    durations = totals["duration_seconds"]
    lines = [f"fabu report {report['date']}: {totals['deploys']} deploys, {rate} succeeded, "
             f"median {_fmt_seconds(durations['median'])}, p95 {_fmt_seconds(durations['p95'])}, "
             f"{totals['drift']} drifted, {totals['silent']} silent hosts"]
    for p in report["projects"]:
        lines.append(f"- {p['project']}: {p['deploys']} deploys ({p['failed']} failed), "
                     f"p95 {_fmt_seconds(p['duration_seconds']['p95'])}, "
                     f"drift {p['drift_count']}, silent {p['silent_count']}")
    return "\n".join(lines)


def _put(key: str, body: bytes, content_type: str) -> None:
    aws.client("s3").put_object(Bucket=config.release_bucket(), Key=key, Body=body,
                                ContentType=content_type)


def _get(key: str) -> bytes | None:
    s3 = aws.client("s3")
    try:
        return s3.get_object(Bucket=config.release_bucket(), Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None


def generate(day: datetime.date, now: datetime.datetime | None = None) -> dict:
    """Build the report of ``day``, store JSON + HTML, move ``latest``, publish the summary."""
    report = build(day, now)
    date = report["date"]
    _put(f"{PREFIX}{date}.json", json.dumps(report, indent=1, sort_keys=True).encode(), "application/json")
    _put(f"{PREFIX}{date}.html", render_html(report).encode(), "text/html; charset=utf-8")
    latest_date = json.loads(_get(_LATEST) or b"{}").get("date")
    if latest_date is None or latest_date <= date:  # regenerating an old day keeps the newest
        _put(_LATEST, json.dumps({"date": date}).encode(), "application/json")
    text = _summary_text(report)
    notify.publish(notify.stage_topic_arn(), text.splitlines()[0], text, {"kind": "report.daily"})
    return report


# ----------------------------------------------------------------------------- reading

def check_date(text: str | None) -> datetime.date:
    """``YYYY-MM-DD`` as a date; ValidationError (400) otherwise."""
    try:
        if not _DATE_RE.match(text or ""):
            raise ValueError(text)
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError("a report date is YYYY-MM-DD (UTC), like 2026-11-04",
                              {"date": "is not a date YYYY-MM-DD"}) from None


def get(date: str, fmt: str = "json") -> dict | str:
    """A stored report: the JSON data, or (``fmt="html"``) the page's text. NotFound if none."""
    day = check_date(date)
    if fmt not in ("json", "html"):
        raise ValidationError("format must be json or html", {"format": "must be json or html"})
    raw = _get(f"{PREFIX}{day.isoformat()}.{fmt}")
    if raw is None:
        raise NotFound(f"no report for {day.isoformat()}")
    return json.loads(raw) if fmt == "json" else raw.decode()


def latest(fmt: str = "json") -> dict | str:
    """The newest stored report (see ``get``); NotFound before the first one."""
    pointer = _get(_LATEST)
    if pointer is None:
        raise NotFound("no report has been generated yet")
    return get(json.loads(pointer)["date"], fmt)
