"""Rich output of the ``fabu`` command: tables, rollout summaries, wave progress bars, errors.

Results go to stdout, errors and progress chatter to stderr, so ``fabu show web -o json | jq``
stays clean. Every value from the API is printed as text (``rich.markup.escape``), never as markup.
Printed to a pipe or a file, tables are as wide as they need to be (up to ``PIPE_WIDTH``): a
host name or a version is never cut to fit 80 columns there.
"""
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from fabu_cli import watching

#: The width of output that is not a terminal.
PIPE_WIDTH = 250


def _width(stream) -> int | None:
    """None (rich follows the terminal) on a terminal; else ``PIPE_WIDTH``."""
    return None if stream.isatty() else PIPE_WIDTH


out = Console(highlight=False, soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))

#: Host statuses that end a host's part in a wave (what the progress bars count as done).
DONE_STATUSES = ("succeeded", "skipped", "failed", "lost", "rolled_back")
BAD_STATUSES = ("failed", "lost")
FINAL_STATES = ("succeeded", "halted", "rolled_back", "failed", "cancelled", "superseded")
_STATE_STYLE = {"succeeded": "green", "running": "cyan", "rolling_back": "yellow",
                "rolled_back": "yellow", "halted": "red", "failed": "red", "paused": "magenta",
                "cancelled": "dim", "superseded": "dim", "scheduled": "blue",
                "waiting_release": "blue"}


def _e(value):
    return escape("" if value is None else str(value))


def state(value: str | None) -> str:
    """A rollout state, coloured."""
    return f"[{_STATE_STYLE.get(value, 'white')}]{_e(value)}[/]"


def as_json(data: object) -> None:
    out.print_json(json.dumps(data, default=str))


# --- projects ---------------------------------------------------------------------------------

def project_list(projects: list[dict]) -> None:
    table = Table("project", "version", "hosts", "release", "rollout", "wave", box=None)
    for p in projects:
        rollout = p.get("rollout") or {}
        release = p.get("release") or {}
        live = rollout and rollout.get("wave") is not None
        wave = f"{rollout['wave'] + 1}/{len(rollout.get('waves') or [])}" if live else ""
        table.add_row(_e(p.get("id")), _e(p.get("version")), _host_total(p),
                      _e(release.get("state", "")), state(rollout["state"]) if live else "-", wave)
    out.print(table if projects else "no projects")


def _host_total(project: dict) -> str:
    """Listed hosts plus fleet members (``host_total``; "?" while a fleet is not counted yet)."""
    if "host_total" not in project:  # an API from before host_total
        return str(len(project.get("hosts") or []))
    total = project["host_total"]
    return "?" if total is None else str(total)


def project_detail(project: dict, etag: str | None = None) -> None:
    """Settings, release, rollout with per-wave counts, and the hosts."""
    out.print(f"[bold]{_e(project.get('id'))}[/] {_e(project.get('version'))}  "
              f"etag {_e(etag or project.get('etag'))}")
    source = project.get("source")
    if source:
        ref = f" @ {_e(source['ref'])}" if source.get("ref") else ""
        out.print(f"source   {_e(source.get('type'))} {_e(source.get('url'))}{ref}")
    release = project.get("release")
    if release:
        error = f": {_e(release['error'])}" if release.get("error") else ""
        out.print(f"release  {_e(release.get('state'))}{error}")
    chain = project.get("promotion")  # promote_from: the upstream's rollout, what is due, why not
    if chain:
        up = chain.get("from") or {}
        due = f", candidate {_e(chain['candidate'])}" if chain.get("candidate") else ""
        held = f" ({_e(chain['blocked'])})" if chain.get("blocked") else ""
        out.print(f"promote  from {_e(up.get('summary'))}{due}{held}")
    pending = project.get("pending")
    if pending:
        out.print(f"pending  update of {_e(', '.join(sorted(pending.get('changes') or {})))} "
                  f"scheduled for {_e(pending.get('apply_at'))} by {_e(pending.get('by'))}")
    rollout_summary(project.get("rollout"))
    view = project.get("hosts_view") or {}
    if view.get("hosts"):
        hosts_summary(view, project.get("id") or "")
        host_table(view["hosts"])


def rollout_summary(rollout: dict | None) -> None:
    if not rollout or not rollout.get("state"):
        out.print("rollout  none")
        return
    reason = f": {_e(rollout['reason'])}" if rollout.get("reason") else ""
    out.print(f"rollout  {state(rollout.get('state'))} of {_e(rollout.get('version'))} "
              f"(from {_e(rollout.get('previous_version') or 'nothing')}){reason}")
    table = Table("wave", "size", "released", "counts", box=None)
    for wave in rollout.get("waves") or []:
        counts = ", ".join(f"{k} {v}" for k, v in sorted((wave.get("counts") or {}).items()))
        table.add_row(str(wave.get("wave")), str(wave.get("size")),
                      "yes" if wave.get("released") else "no", _e(counts))
    out.print(table)
    for line in watching.lines(rollout):  # alarms, analysis, window, freeze, bake: what watches it
        out.print(_e(line))


def _status_cell(h: dict) -> str:
    status = h.get("status")
    style = ("red" if status in BAD_STATUSES else "green" if status == "succeeded"
             else "dim" if status == "left" else "white")
    return f"[{style}]{_e(status)}[/]"


def drain_text(drain: dict | None) -> str:
    """``draining until 2026-11-04T10:05:00Z`` / ``out since ...`` / ``registered since ...``."""
    if not drain or not drain.get("state"):
        return ""
    state = drain["state"]
    if state == "draining" and drain.get("until"):
        return f"draining until {drain['until']}"
    return f"{state} since {drain['since']}" if drain.get("since") else state


def host_table(hosts: list[dict]) -> None:
    """The project view's host rows: zone and traffic draining too; hosts that left, dimmed, last."""
    table = Table("host", "zone", "wave", "status", "running", "target", "drain", "last phase",
                  box=None)
    for h in sorted(hosts, key=lambda h: h.get("status") == "left"):
        table.add_row(_e(h.get("host")), _e(h.get("zone") or "-"), _e(h.get("wave")),
                      _status_cell(h), _e(h.get("running_version")), _e(h.get("target_version")),
                      _e(drain_text(h.get("drain"))),
                      _e(" ".join(x for x in (h.get("last_phase"), h.get("last_status")) if x)))
    out.print(table)


def hosts_summary(view: dict, project_id: str) -> None:
    """How many hosts (listed, fleet, per zone), who joined or left lately, and, when the view
    holds only the first rows, how to see the rest."""
    counts = view.get("counts") or {}
    members = counts.get("member") or {}
    zones = ", ".join(f"{_e(z)} {n}" for z, n in sorted((counts.get("zone") or {}).items()) if z)
    day = view.get("last_day") or {}
    line = f"hosts    {view.get('total', len(view.get('hosts') or []))}"
    if members.get("fleet"):
        line += f" ({members.get('listed', 0)} listed, {members['fleet']} in the fleet)"
    if zones:
        line += f"; zones {zones}"
    if day.get("joined") or day.get("left"):
        line += f"; last day: {day.get('joined', 0)} joined, {day.get('left', 0)} left"
    out.print(line)
    if view.get("truncated"):
        note(f"showing the first {view.get('shown')} of {view.get('total')} hosts: "
             f"`fabu hosts {project_id}` pages through all of them")


def member_table(rows: list[dict]) -> None:
    """Rows of ``GET /api/v1/project/{id}/hosts`` (``fabu hosts``)."""
    table = Table("host", "member", "zone", "wave", "status", "running", "target", "drain",
                  "joined", "left", "last seen", box=None)
    for h in rows:
        flags = " drift" if h.get("drift") else ""
        flags += " silent" if h.get("silent") else ""
        table.add_row(_e(h.get("host")), _e(h.get("member")), _e(h.get("zone") or "-"),
                      _e(h.get("wave")), _status_cell(h) + _e(flags),
                      _e(h.get("running_version")), _e(h.get("target_version")),
                      _e(drain_text(h.get("drain"))), _e(h.get("joined_at") or ""),
                      _e(h.get("left_at") or ""), _e(h.get("last_seen") or ""))
    out.print(table if rows else "no hosts match")


def events_table(events: list[dict]) -> None:
    """One line per event, oldest first (like ``tail``): time, kind, who, what."""
    if not events:
        out.print("no events")
    for event in sorted(events, key=lambda e: e.get("at") or ""):
        who = event.get("actor") or "-"
        if event.get("host") and event.get("host") != who:
            who += " @" + event["host"]
        at = (event.get("at") or "")[:19] + "Z"
        out.print(f"{_e(at)}  {_e(event.get('kind')):<24} {_e(who)}  {_e(event.get('message'))}")


def host_failure(host: dict, report: dict | None = None, lines: int = 5) -> None:
    """One failed host: its status and, when known, the failed phase and its output's tail."""
    where = f" ({_e(host['zone'])})" if host.get("zone") else ""
    if report is None:
        after = f" after {_e(host.get('last_phase'))}" if host.get("last_phase") else ""
        drain = f", {_e(drain_text(host.get('drain')))}" if host.get("drain") else ""
        err.print(f"  {_e(host.get('host'))}{where}: {_e(host.get('status'))}{after}{drain}")
        return
    err.print(f"  {_e(host.get('host'))}{where}: {_e(report.get('phase'))} failed "
              f"(exit {_e(report.get('exit_code'))}):")
    for line in (report.get("output") or "").rstrip().splitlines()[-lines:]:
        err.print(f"    | {_e(line)}")


def scheduled_update(project_id: str, pending: dict | None) -> None:
    """One project's scheduled update (``fabu project scheduled NAME``)."""
    if not pending:
        out.print(f"no update of {_e(project_id)} is scheduled")
        return
    out.print(f"update of {_e(project_id)} scheduled for {_e(pending.get('apply_at'))} by "
              f"{_e(pending.get('by'))} (asked {_e(pending.get('requested_at'))}):")
    out.print(escape(json.dumps(pending.get("changes") or {}, indent=2, sort_keys=True)))


def scheduled_list(projects: list[dict]) -> None:
    """Every project's scheduled update, soonest first."""
    table = Table("project", "apply at", "changes", "by", "now", box=None)
    for p in projects:
        pending = p.get("pending") or {}
        table.add_row(_e(p.get("id")), _e(pending.get("apply_at")),
                      _e(", ".join(sorted(pending.get("changes") or {}))), _e(pending.get("by")),
                      _e(p.get("version")))
    out.print(table if projects else "no scheduled updates")


def release_table(releases: list[dict]) -> None:
    table = Table("version", "state", "size", "sha256", "created", "error", box=None)
    for r in releases:
        size = "" if r.get("size") is None else str(r["size"])
        table.add_row(_e(r.get("version")), _e(r.get("state")), size, _e((r.get("sha256") or "")[:12]),
                      _e((r.get("created_at") or "")[:19]), _e(r.get("error") or ""))
    out.print(table if releases else "no releases")


# --- reports ----------------------------------------------------------------------------------

def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(round(value)), 60)
    return f"{minutes}m{seconds:02d}s"


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def report_summary(report: dict) -> None:
    """A daily report: the totals, one row per project, the top failure lines."""
    totals = report.get("totals") or {}
    durations = totals.get("duration_seconds") or {}
    so_far = "" if report.get("complete", True) else " (the day so far)"
    by = f" by {report['generated_by']}" if report.get("generated_by") else ""
    out.print(f"[bold]report {_e(report.get('date'))}[/]{_e(so_far)}, generated "
              f"{_e(report.get('generated_at'))}{_e(by)}")
    out.print(f"{totals.get('deploys', 0)} deploys, {_percent(totals.get('success_rate'))} succeeded, "
              f"median {_seconds(durations.get('median'))}, p95 {_seconds(durations.get('p95'))}, "
              f"{totals.get('drift', 0)} drifted, {totals.get('silent', 0)} silent hosts")
    projects = report.get("projects") or []
    table = Table("project", "deploys", "failed", "success", "median", "p95", "drift", "silent",
                  box=None)
    for p in projects:
        d = p.get("duration_seconds") or {}
        table.add_row(_e(p.get("project")), str(p.get("deploys", 0)), str(p.get("failed", 0)),
                      _percent(p.get("success_rate")), _seconds(d.get("median")), _seconds(d.get("p95")),
                      str(p.get("drift_count", 0)), str(p.get("silent_count", 0)))
    if projects:
        out.print(table)
    for p in projects:
        for line in (p.get("top_failure_lines") or [])[:3]:
            out.print(f"  {_e(p.get('project'))}: {line.get('count')}x {_e(line.get('line'))}")


def report_days(days: list[dict], next_cursor: str | None = None) -> None:
    if not days:
        out.print("no reports yet (`fabu report --generate` makes today's)")
    for day in days:
        out.print(f"{_e(day.get('date'))}  made {_e(day.get('modified_at'))}")
    if next_cursor:
        note("(older days exist: raise --limit)")


def key_table(path: str, rows: list[dict]) -> None:
    """The keys of a principals file (``fabu local host-key list``): never a secret."""
    table = Table(box=None)
    for column in ("access key", "host", "arn"):
        table.add_column(column, overflow="fold")
    for row in rows:
        host = row["host"] or ("(temporary) " if row["temporary"] else "") + "-"
        table.add_row(_e(row["access_key_id"]), _e(host), _e(row["arn"]))
    note(f"{len(rows)} key{'' if len(rows) == 1 else 's'} in {path}")
    out.print(table if rows else "no keys")


# --- errors -----------------------------------------------------------------------------------

def api_error(exc, identity: str | None = None) -> None:
    """The API's error as it said it: the ``error`` line, then each field path and message."""
    err.print(f"[red]error:[/] HTTP {exc.status}: {_e(exc.message)}")
    for path, message in sorted(exc.fields.items()):
        err.print(f"  {_e(path or '(body)')}: {_e(message)}")
    scheduled = exc.body.get("scheduled")
    if isinstance(scheduled, dict):
        err.print(f"  scheduled: {_e(', '.join(sorted(scheduled.get('changes') or {})))} at "
                  f"{_e(scheduled.get('apply_at'))} by {_e(scheduled.get('by'))} (`fabu project "
                  "update --replace` replaces it, `fabu project cancel-scheduled` drops it)")
    if exc.status == 403:
        _explain_403(exc, identity)


def _explain_403(exc, identity):
    said = exc.message.lower()
    if identity:
        err.print(f"  signed with {_e(identity)}")
    if "signature" in said or "unknown access key" in said or "scope" in said or "expired" in said:
        err.print("  The API did not accept the signature: check that the key exists on this "
                  "stage (locally: the principals file, FABU_PRINCIPALS), the secret, "
                  "--region (the stage's region) and the clock.")
    elif "may only call" in said or "neither" in said or "admin" in said or "host" in said:
        err.print("  This identity is not an admin of this stage. Project routes need an ARN "
                  "listed in the stage's FABU_ADMIN_ARNS (.chalice/config.json); host keys "
                  "(user fabu-hosts/<host>) may call only /api/v1/<host>. Pick another identity "
                  "with --profile (locally: profile fabu-admin in .fabu/credentials).")
    else:
        err.print("  The API refused this call. Check --endpoint (a route this API does not "
                  "have is refused like an unsigned call) and the identity (--profile).")


def failure(message: str, hint: str | None = None) -> None:
    err.print(f"[red]error:[/] {_e(message)}")
    if hint:
        err.print(f"  {_e(hint)}")


def note(message: str) -> None:
    err.print(_e(message))


# --- watch ------------------------------------------------------------------------------------

class WaveBars:
    """Live progress bars, one per wave of one rollout, fed with rollout summaries."""

    def __init__(self, console=None):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                                 TimeElapsedColumn(), console=console or err, transient=False)
        self._tasks = {}
        self._last_line = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def update(self, rollout: dict) -> None:
        """Redraw from one summary; print a line whenever the state, wave or reason changes."""
        reason = f" ({rollout['reason']})" if rollout.get("reason") else ""
        line = (f"rollout of {rollout.get('version')}: {rollout.get('state')}, wave "
                f"{int(rollout.get('wave') or 0)} of {len(rollout.get('waves') or [])}{reason}")
        if line != self._last_line:
            self.progress.console.print(_e(line))
            self._last_line = line
        for wave in rollout.get("waves") or []:
            index = int(wave.get("wave", 0))
            counts = wave.get("counts") or {}
            done = sum(counts.get(s, 0) for s in DONE_STATUSES)
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())
                               if k not in ("succeeded", "waiting"))
            canary = " (canary)" if index == 0 and len(rollout["waves"]) > 1 else ""
            label = f"wave {index}{canary}"
            if not wave.get("released"):
                label += " (not released)"
            size = int(wave.get("size") or 0)
            if index not in self._tasks:
                self._tasks[index] = self.progress.add_task(_e(label), total=size, detail="",
                                                            start=False)
            task = self._tasks[index]
            if wave.get("released") and not self.progress.tasks[task].started:
                self.progress.start_task(task)  # elapsed time counts from the wave's release
            self.progress.update(task, description=_e(label), total=size,
                                 completed=min(done, size), detail=_e(detail))
        if rollout.get("state") in FINAL_STATES:
            for task in self._tasks.values():
                self.progress.stop_task(task)
