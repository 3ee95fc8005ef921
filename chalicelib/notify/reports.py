"""The daily summary report: one UTC day of events per project, as JSON and HTML in S3, and SNS.

``generate(day)`` reads the day with **one Query** (paged) per ``Event.day_index`` partition of
the day (its 16 shards and the legacy unsharded date, concurrently: ``events.day_values``) and, per
project seen that day, one Query on ``HostState.project_index`` (drift and silent hosts; the
beats of the hosts that could be silent, in batches of 100: ``hosts.beat``); it never
scans. Definitions (see docs/notifications.md):

* a **deploy** is a rollout that reached a final outcome that day — ``rollout.succeeded``,
  ``rollout.halted`` or ``rollout.rolled_back``; the last of these that day is its outcome
  (cancelled and superseded rollouts never deployed and are not counted);
* **success rate** = succeeded deploys / deploys;
* **deploy duration** = from the rollout's ``rollout.started`` event to its final event (when it
  started on an earlier day: from the rollout's ``start_at``); median, and p95 by nearest rank;
* **host outcomes** count ``host.*`` outcome events; **top failure lines** are the last non-empty
  line of each failed host's ``output_tail``;
* **drift**: hosts that run something other than what fabu deployed to them, as
  ``chalicelib.drift`` defines it (the project view's definition);
  **silent**: hosts not seen for ``FABU_SILENT_SECONDS`` (default 1800) when the report is made
  (known within ``FABU_HEARTBEAT_SECONDS``: ``chalicelib.hosts.beat``), and hosts never seen.

Reports go to the release bucket as ``reports/<date>.json`` and ``reports/<date>.html`` (one
self-contained page, inline SVG, no external resource; ``chalicelib.notify.report_store`` reads,
writes and lists them). ``generate_on_demand`` is ``POST /api/v1/reports``: any day within the
events' retention, today's so far by default, within a time budget.
"""
import collections
import concurrent.futures
import datetime
import json
import logging
import math
import os
import statistics
import time
from collections.abc import Callable

from chalice import Cron

from chalicelib import config, events
from chalicelib.audit import export as audit_export
from chalicelib import drift as drifts
from chalicelib.errors import FabuError, ValidationError
from chalicelib.hosts import beat
from chalicelib.models import Event, HostState, Rollout
from chalicelib.notify import notifications as notify
from chalicelib.notify import report_store
from chalicelib.states import HOST_GONE, HostStatus, ReportStatus, RolloutState
from chalicelib.times import format_time, parse_time, utcnow

log = logging.getLogger("fabu.reports")

DEFAULT_CRON = "0 8 * * ? *"
#: Who makes the scheduled reports (the actor of their ``report.generated`` events).
SCHEDULE_ACTOR = "fabu:daily-report"
#: The event scope of ``report.generated``: not a project (project names have no ':'), so the
#: reports never count it; any scope with a ':' is the stage's own and is left out of reports.
REPORT_SCOPE = "fabu:reports"
#: Seconds ``POST /api/v1/reports`` may spend reading (``FABU_REPORT_API_SECONDS``): API Gateway
#: gives a request 29 s at most.
DEFAULT_API_BUDGET = 20
#: Queries of one day's ``day-index`` partitions (``events.day_values``: 17) run at once.
DAY_WORKERS = 8
#: Beats one report reads at most to find silent hosts (1,000 BatchGetItem; ``hosts.beat``).
REPORT_BEATS = 100_000
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


class ReportTooSlow(FabuError):
    """The day has too many events to report within the request's time budget (503)."""
    status = 503


def run_scheduled(event: dict | None, now: datetime.datetime | None = None) -> dict:
    """The scheduled handler: the report of the UTC day before the event's time, and that
    day's audit export (``audit/<date>.jsonl``).

    EventBridge's ``time`` is the scheduled minute even when the invocation is retried later.
    A time more than a day off the clock is a synthetic event (``chalice.test`` stamps
    2015-11-11 on the ones the local ticker sends): the clock is used then.
    """
    now = now or utcnow()
    when = _event_time((event or {}).get("time"))
    if when is None or abs(now - when) > datetime.timedelta(days=1):
        when = now
    day = (when - datetime.timedelta(days=1)).date()
    try:
        return generate(day, now)
    finally:  # the day's audit log goes to S3 even when its report fails (chalicelib.audit.export)
        audit_export.export_day(day)


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


def _day_events(day: datetime.date, deadline: float | None = None) -> list[Event]:
    """Every project event of ``day``, oldest first: one paged Query per ``day-index``
    partition of the day (its shards and the legacy unsharded date: ``events.day_values``), at
    most ``DAY_WORKERS`` at once, merged by sort key (time).

    Events of the stage's own scopes (``fabu:...``) are left out. Past ``deadline``
    (``time.monotonic()``), ``ReportTooSlow``.
    """
    def read(value: str) -> list[Event]:
        found, seen = [], 0
        for event in Event.day_index.query(value):
            if deadline is not None and seen % 500 == 0 and time.monotonic() > deadline:
                raise _too_slow(day, seen)
            seen += 1
            if ":" not in event.scope:
                found.append(event)
        return found
    with concurrent.futures.ThreadPoolExecutor(max_workers=DAY_WORKERS) as pool:
        parts = list(pool.map(read, events.day_values(day)))
    return sorted((event for part in parts for event in part), key=lambda event: event.sk)


def _too_slow(day: datetime.date, seen: int) -> ReportTooSlow:
    budget = config.int_setting("FABU_REPORT_API_SECONDS", DEFAULT_API_BUDGET)
    return ReportTooSlow(f"the report of {day} did not fit the request's time budget of {budget} s "
                         f"(FABU_REPORT_API_SECONDS; {seen} events read): the daily schedule, "
                         "which has no such limit, will make it")


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


def _hosts_now(project: str, silence: beat.Silence) -> tuple[list[dict], list[dict]]:
    """Drift and silent hosts from one Query of the project's hosts (and the report's silence)."""
    drift, silent = [], []
    items = [i for i in HostState.project_index.query(project) if i.status not in HOST_GONE]
    silence.know(items)  # left the fleet: neither drifted nor silent
    for item in items:
        drifted = drifts.drift(item)
        if drifted is not None:
            drift.append({"host": item.host, "running_version": drifted["running"],
                          "target_version": drifted["expected"], **drifted, "status": item.status})
        if item.last_seen is None or silence.is_silent(item):
            silent.append({"host": item.host, "last_seen": format_time(silence.last_seen(item))})
    return sorted(drift, key=lambda d: d["host"]), sorted(silent, key=lambda s: s["host"])


def _project_report(project: str, project_events: list[Event], silence: beat.Silence) -> dict:
    deploys = _deploys(project, project_events)
    durations = [d["duration_seconds"] for d in deploys if d["duration_seconds"] is not None]
    hosts = collections.Counter(HOST_OUTCOMES[e.kind] for e in project_events if e.kind in HOST_OUTCOMES)
    attempted = sum(hosts[k] for k in _ATTEMPTED)
    lines = collections.Counter(
        line for line in (_last_line((e.detail or {}).get("output_tail")) for e in project_events
                          if e.kind in FAILURE_KINDS) if line)
    messages = collections.Counter((e.detail or {}).get("level") for e in project_events
                                   if e.kind == "host.message")
    drift, silent = _hosts_now(project, silence)
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


def build(day: datetime.date, now: datetime.datetime | None = None, *,
          deadline: float | None = None) -> dict:
    """The report of ``day`` (a ``date``) as plain data, computed from the stored events.

    ``complete`` is false for a day not yet over at ``now`` (a report of today so far).
    """
    now = now or utcnow()
    by_project = collections.defaultdict(list)
    for event in _day_events(day, deadline):
        by_project[event.scope].append(event)
    projects = []
    silence = beat.silence(now, limit=REPORT_BEATS)  # shared by every project's report
    for name, project_events in sorted(by_project.items()):
        if deadline is not None and time.monotonic() > deadline:
            raise _too_slow(day, sum(len(evs) for evs in by_project.values()))
        projects.append(_project_report(name, project_events, silence))
    deploys = sum(p["deploys"] for p in projects)
    succeeded = sum(p["succeeded"] for p in projects)
    durations = [d["duration_seconds"] for p in projects for d in p["rollouts"]
                 if d["duration_seconds"] is not None]
    day_end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(),
                                        datetime.timezone.utc)
    return {"date": day.isoformat(), "generated_at": format_time(now), "complete": now >= day_end,
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


def generate(day: datetime.date, now: datetime.datetime | None = None, *,
             actor: str = SCHEDULE_ACTOR, publish: bool = True,
             budget: float | None = None) -> dict:
    """Build the report of ``day``, store JSON + HTML, move ``latest``, publish the summary.

    ``budget`` (seconds) bounds the reading: past it, ``ReportTooSlow`` (503) and nothing is
    written. An event ``report.generated`` (scope ``REPORT_SCOPE``) records who made it.
    """
    deadline = time.monotonic() + budget if budget is not None else None
    report = build(day, now, deadline=deadline)
    report["generated_by"] = actor
    moved = report_store.store(report, render_html(report))
    text = _summary_text(report)
    if publish:
        notify.publish(notify.stage_topic_arn(), text.splitlines()[0], text, {"kind": "report.daily"})
    events.record(REPORT_SCOPE, "report.generated", actor,
                  {"date": report["date"], "complete": report["complete"], "latest": moved,
                   "published": publish, "deploys": report["totals"]["deploys"]},
                  message=text.splitlines()[0])
    return report


def generate_on_demand(body: dict, actor: str, now: datetime.datetime | None = None) -> dict:
    """``POST /api/v1/reports``: ``{"date"?: "YYYY-MM-DD", "publish"?: bool}``, default today.

    Today's report covers the day so far (``complete`` false). A future day, or one older than
    the events' retention (its events are gone: the stored report is kept), is a 400.
    """
    now = now or utcnow()
    for key in body:
        if key not in ("date", "publish"):
            raise ValidationError(f"unknown field {key!r}: the body is {{date?, publish?}}",
                                  {key: "unknown field"})
    publish = body.get("publish", False)
    if not isinstance(publish, bool):
        raise ValidationError("publish must be true or false", {"publish": "must be true or false"})
    today = now.date()
    day = report_store.check_date(body["date"]) if body.get("date") is not None else today
    if day > today:
        raise ValidationError(f"{day} is in the future (today is {today} UTC)",
                              {"date": f"is after today ({today} UTC)"})
    oldest = today - datetime.timedelta(days=config.event_ttl_days() - 1)
    if day < oldest:
        raise ValidationError(
            f"the events of {day} are past their retention ({config.event_ttl_days()} days, "
            f"FABU_EVENT_TTL_DAYS): a report of it would be empty; the stored one is kept",
            {"date": f"is before {oldest}, the oldest day with events"})
    budget = config.int_setting("FABU_REPORT_API_SECONDS", DEFAULT_API_BUDGET)
    return generate(day, now, actor=actor, publish=publish, budget=budget)
