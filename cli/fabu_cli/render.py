"""Rich output of the ``fabu`` command: tables, rollout summaries, wave progress bars, errors.

Results go to stdout, errors and progress chatter to stderr, so ``fabu show web -o json | jq``
stays clean. Every value from the API is printed as text (``rich.markup.escape``), never as markup.
"""
import json

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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


def state(value):
    """A rollout state, coloured."""
    return "[%s]%s[/]" % (_STATE_STYLE.get(value, "white"), _e(value))


def as_json(data):
    out.print_json(json.dumps(data, default=str))


# --- projects ---------------------------------------------------------------------------------

def project_list(projects):
    table = Table("project", "version", "hosts", "release", "rollout", "wave", box=None)
    for p in projects:
        rollout = p.get("rollout") or {}
        release = p.get("release") or {}
        wave = "%d/%d" % (rollout["wave"] + 1, len(rollout.get("waves") or [])) if rollout else ""
        table.add_row(_e(p.get("id")), _e(p.get("version")), str(len(p.get("hosts") or [])),
                      _e(release.get("state", "")), state(rollout["state"]) if rollout else "-", wave)
    out.print(table if projects else "no projects")


def project_detail(project, etag=None):
    """Settings, release, rollout with per-wave counts, and the hosts."""
    out.print("[bold]%s[/] %s  etag %s" % (_e(project.get("id")), _e(project.get("version")),
                                            _e(etag or project.get("etag"))))
    source = project.get("source")
    if source:
        out.print("source   %s %s%s" % (_e(source.get("type")), _e(source.get("url")),
                                         " @ " + _e(source["ref"]) if source.get("ref") else ""))
    release = project.get("release")
    if release:
        out.print("release  %s%s" % (_e(release.get("state")),
                                      ": " + _e(release["error"]) if release.get("error") else ""))
    rollout_summary(project.get("rollout"))
    hosts = (project.get("hosts_view") or {}).get("hosts")
    if hosts:
        host_table(hosts)


def rollout_summary(rollout):
    if not rollout:
        out.print("rollout  none")
        return
    out.print("rollout  %s of %s (from %s)%s" % (
        state(rollout.get("state")), _e(rollout.get("version")),
        _e(rollout.get("previous_version") or "nothing"),
        ": " + _e(rollout["reason"]) if rollout.get("reason") else ""))
    table = Table("wave", "size", "released", "counts", box=None)
    for wave in rollout.get("waves") or []:
        counts = ", ".join("%s %d" % (k, v) for k, v in sorted((wave.get("counts") or {}).items()))
        table.add_row(str(wave.get("wave")), str(wave.get("size")),
                      "yes" if wave.get("released") else "no", _e(counts))
    out.print(table)


def host_table(hosts):
    table = Table("host", "wave", "status", "running", "target", "last phase", box=None)
    for h in hosts:
        status = h.get("status")
        style = "red" if status in BAD_STATUSES else "green" if status == "succeeded" else "white"
        table.add_row(_e(h.get("host")), _e(h.get("wave")), "[%s]%s[/]" % (style, _e(status)),
                      _e(h.get("running_version")), _e(h.get("target_version")),
                      _e(" ".join(x for x in (h.get("last_phase"), h.get("last_status")) if x)))
    out.print(table)


def events_table(events):
    """One line per event, oldest first (like ``tail``): time, kind, who, what."""
    if not events:
        out.print("no events")
    for event in sorted(events, key=lambda e: e.get("at") or ""):
        who = event.get("actor") or "-"
        if event.get("host") and event.get("host") != who:
            who += " @" + event["host"]
        out.print("%s  %-24s %s  %s" % (_e((event.get("at") or "")[:19] + "Z"), _e(event.get("kind")),
                                        _e(who), _e(event.get("message"))))


def host_failure(host, report=None, lines=5):
    """One failed host: its status and, when known, the failed phase and its output's tail."""
    if report is None:
        err.print("  %s: %s%s" % (_e(host.get("host")), _e(host.get("status")),
                                  " after " + _e(host.get("last_phase")) if host.get("last_phase") else ""))
        return
    err.print("  %s: %s failed (exit %s):" % (_e(host.get("host")), _e(report.get("phase")),
                                               _e(report.get("exit_code"))))
    for line in (report.get("output") or "").rstrip().splitlines()[-lines:]:
        err.print("    | %s" % _e(line))


# --- errors -----------------------------------------------------------------------------------

def api_error(exc, identity=None):
    """The API's error as it said it: the ``error`` line, then each field path and message."""
    err.print("[red]error:[/] HTTP %d: %s" % (exc.status, _e(exc.message)))
    for path, message in sorted(exc.fields.items()):
        err.print("  %s: %s" % (_e(path or "(body)"), _e(message)))
    if exc.status == 403:
        _explain_403(exc, identity)


def _explain_403(exc, identity):
    said = exc.message.lower()
    if identity:
        err.print("  signed with %s" % _e(identity))
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


def failure(message, hint=None):
    err.print("[red]error:[/] %s" % _e(message))
    if hint:
        err.print("  %s" % _e(hint))


def note(message):
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

    def update(self, rollout):
        """Redraw from one summary; print a line whenever the state, wave or reason changes."""
        line = "rollout of %s: %s, wave %d of %d%s" % (
            rollout.get("version"), rollout.get("state"), int(rollout.get("wave") or 0),
            len(rollout.get("waves") or []), " (%s)" % rollout["reason"] if rollout.get("reason") else "")
        if line != self._last_line:
            self.progress.console.print(_e(line))
            self._last_line = line
        for wave in rollout.get("waves") or []:
            index = int(wave.get("wave", 0))
            counts = wave.get("counts") or {}
            done = sum(counts.get(s, 0) for s in DONE_STATUSES)
            detail = ", ".join("%s %d" % (k, v) for k, v in sorted(counts.items())
                               if k not in ("succeeded", "waiting"))
            label = "wave %d%s" % (index, " (canary)" if index == 0 and len(rollout["waves"]) > 1 else "")
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
