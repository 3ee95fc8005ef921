"""``fabu hosts PROJECT`` (also ``fabu project hosts``): a project's hosts, a page at a time.

Reads ``GET /api/v1/project/{id}/hosts`` with the filters given (``--status``, ``--wave``,
``--zone``, ``--member``, ``--name``): one page of ``--limit`` rows, then the command that shows
the next one; ``--all`` follows the pages to the end (at most ``MAX_PAGES``). A page of a sparse
filter may hold fewer rows than ``--limit``, or none, and still not be the last (the server
bounds each page's work): ``--all`` keeps going until the API says there is no next page.
"""
import click

from fabu_cli import render
from fabu_cli.base import client, json_out, project_path

#: Most pages ``--all`` reads (1,000,000 hosts at ``--limit 1000``); it says so when it stops.
MAX_PAGES = 1000


@click.command("hosts")
@click.argument("project_id")
@click.option("--status", metavar="STATUS[,STATUS]",
              help="Only hosts in these statuses (e.g. failed,lost; left: members that left).")
@click.option("--wave", type=click.IntRange(0, 19), help="Only hosts of this wave (0 is the first).")
@click.option("--zone", metavar="ZONE", help="Only hosts in this zone (e.g. us-east-1a).")
@click.option("--member", type=click.Choice(["listed", "fleet"]),
              help="Only listed hosts, or only members found by the fleet sync.")
@click.option("--name", "needle", metavar="TEXT", help="Only hosts whose name contains TEXT.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Rows per page.")
@click.option("--all", "every", is_flag=True, help="Follow the pages to the last one.")
@click.option("--cursor", metavar="CURSOR", help="Start at this page (printed by the previous call).")
@click.pass_context
def hosts(ctx: click.Context, project_id: str, status: str | None, wave: int | None,
          zone: str | None, member: str | None, needle: str | None, limit: int, every: bool,
          cursor: str | None) -> None:
    """PROJECT_ID's hosts: zone, member kind, status, wave, versions, traffic draining, joined/left."""
    params = {"status": status, "wave": wave, "zone": zone, "member": member, "q": needle,
              "limit": limit}
    rows, pages = [], 0
    while True:
        body = client(ctx).get(project_path(project_id, "hosts"), params=dict(params, cursor=cursor)).body
        rows += body.get("hosts") or []
        cursor, pages = body.get("next_cursor"), pages + 1
        if not (every and cursor) or pages >= MAX_PAGES:
            break
    if json_out(ctx):
        render.as_json({"hosts": rows, "next_cursor": cursor})
        return
    render.member_table(rows)
    if cursor:
        shown = " ".join(f"--{k} {v}" for k, v in (("status", status), ("wave", wave), ("zone", zone),
                                                  ("member", member), ("name", needle))
                         if v is not None)
        stopped = f"stopped after {MAX_PAGES} pages; " if every else ""
        render.note(f"{stopped}more hosts: fabu hosts {project_id} {shown} --limit {limit} "
                    f"--cursor {cursor} (or --all)".replace("  ", " "))
