"""``fabu audit``: who did what, when, across every project (``GET /api/v1/audit``), and
``note`` for the admin actions the CLI does itself (the local stack's host keys).

The table is newest first: time, actor, action, project, summary. ``--limit`` rows in all,
read ``--page-size`` at a time, following ``next_cursor`` (a page the server stopped early,
``truncated``, may hold fewer rows and is followed too) until the limit, the last page or
``MAX_PAGES``; when more remain it prints the command that goes on. ``--since``/``--until`` take
ISO 8601 or a time ago: ``30m``, ``12h``, ``7d``, ``2w``.
"""
import datetime
import json
import re

import click

from fabu_cli import render
from fabu_cli.base import client, json_out
from fabu_cli.client import ClientError

#: Most pages one call reads (it says so when it stops there).
MAX_PAGES = 200
MAX_LIMIT = 10_000
_AGO_RE = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SUMMARY_CHARS = 100


def when(value: str | None) -> str | None:
    """``7d`` → the ISO 8601 time 7 days ago; anything else is passed on (the API checks it)."""
    if value is None:
        return None
    found = _AGO_RE.fullmatch(value.strip())
    if not found:
        return value
    ago = datetime.timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    return (datetime.datetime.now(datetime.timezone.utc) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(entry: dict) -> str:
    """One short line: the entry's message, else its detail as compact JSON."""
    text = entry.get("message") or json.dumps(entry.get("detail") or {}, sort_keys=True,
                                              separators=(",", ":"))
    return text if len(text) <= _SUMMARY_CHARS else text[:_SUMMARY_CHARS - 1] + "…"


@click.command("audit")
@click.option("--actor", metavar="ARN", help="Only this caller's actions.")
@click.option("--project", metavar="ID", help="Only this project's (- for the stage's own: "
              "freezes, reports, host keys).")
@click.option("--since", metavar="TIME", help="From this time: ISO 8601 or ago (30m, 12h, 7d, "
              "2w); default 7 days before --until.")
@click.option("--until", metavar="TIME", help="Up to this time (ISO 8601 or ago); default now.")
@click.option("--limit", type=click.IntRange(1, MAX_LIMIT), default=50, show_default=True,
              help="Rows in all (read page by page).")
@click.option("--page-size", type=click.IntRange(1, 500), default=100, show_default=True,
              help="Rows per request.")
@click.option("--cursor", metavar="CURSOR", help="Go on from here (printed by the previous call).")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON (as -o json).")
@click.pass_context
def audit(ctx: click.Context, actor: str | None, project: str | None, since: str | None,
          until: str | None, limit: int, page_size: int, cursor: str | None, as_json: bool) -> None:
    """Who did what, when: every admin action across projects, newest first."""
    params = {"actor": actor, "project": project, "since": when(since), "until": when(until)}
    rows, pages, body = [], 0, {}
    while True:
        size = min(page_size, limit - len(rows))
        body = client(ctx).get("/api/v1/audit", params=dict(params, limit=size, cursor=cursor)).body
        rows += body.get("entries") or []
        cursor, pages = body.get("next_cursor"), pages + 1
        if not cursor or len(rows) >= limit or pages >= MAX_PAGES:
            break
    if as_json or json_out(ctx):
        render.as_json({"entries": rows, "next_cursor": cursor, "since": body.get("since"),
                        "until": body.get("until"), "retention_days": body.get("retention_days")})
        return
    _table(rows)
    if cursor:
        shown = " ".join(f"--{name} {value}" for name, value in
                         (("actor", actor), ("project", project), ("since", params["since"]),
                          ("until", params["until"])) if value is not None)
        stopped = f"stopped after {MAX_PAGES} pages; " if pages >= MAX_PAGES else ""
        render.note(f"{stopped}more entries: fabu audit {shown} --limit {limit} "
                    f"--cursor {cursor}".replace("  ", " "))


def _table(rows: list[dict]) -> None:
    from rich.table import Table
    if not rows:
        render.out.print("no audit entries match")
        return
    table = Table("time", "actor", "action", "project", "summary", box=None)
    for entry in rows:
        at = (entry.get("at") or "")[:19] + "Z"
        table.add_row(*(render.escape(str(v)) for v in (
            at, entry.get("actor"), entry.get("action"), entry.get("project"), summary(entry))))
    render.out.print(table)


def note(ctx: click.Context, action: str, detail: dict, message: str) -> None:
    """Record an admin action the CLI did itself (``POST /api/v1/audit``); a warning when the
    API cannot take it (the action is done either way)."""
    try:
        client(ctx).post("/api/v1/audit", {"action": action, "detail": detail, "message": message})
    except ClientError as exc:
        render.note(f"warning: {action} not recorded in the audit log ({exc})")
