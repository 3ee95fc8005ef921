"""``fabu project ...``: create, update, show, list and delete projects; their scheduled updates.

``show``, ``list`` and ``delete`` are also top-level commands (``fabu show web``).
"""
import datetime
from pathlib import Path

import click

from fabu_cli import render
from fabu_cli.base import EXIT_USAGE, FIELDS_DOC, client, fail, json_out, project_path, show_project
from fabu_cli.files import load_body

_FIELDS_HELP = (f"Every field, its type, default and limits: {FIELDS_DOC} in the fabu repository "
                "(`fabu project fields` prints it).")


@click.group()
def project() -> None:
    """Create, update, show, list and delete projects; list and cancel scheduled updates."""


@project.command("create", epilog=_FIELDS_HELP)
@click.option("-f", "--file", "path", required=True, metavar="FILE",
              help="project.yaml or project.json ('-' for stdin).")
@click.pass_context
def create(ctx: click.Context, path: str) -> None:
    """Create a project from a YAML or JSON file (POST /api/v1/project).

    Quote versions in YAML (version: "1.10"): unquoted, YAML reads a number.
    """
    response = client(ctx).post("/api/v1/project", load_body(path))
    if not json_out(ctx):
        render.note(f"created project {response.body.get('id')}")
    show_project(ctx, response)


@project.command("update", epilog=_FIELDS_HELP)
@click.argument("project_id", required=False)
@click.option("-f", "--file", "path", required=True, metavar="FILE",
              help="the fields to change, YAML or JSON ('-' for stdin).")
@click.option("--if-match", metavar="ETAG", help="Only update if the project's ETag is still this "
              "(from `fabu show`); a stale one is refused with 409.")
@click.option("--apply-at", metavar="TIME", help="Schedule the change for this UTC time "
              "(2026-11-04T22:00:00Z) instead of applying it now (the file's apply_at otherwise).")
@click.option("--replace", is_flag=True, help="Replace the update already scheduled (without it, "
              "a second scheduled update is refused with 409).")
@click.pass_context
def update(ctx: click.Context, project_id: str | None, path: str, if_match: str | None,
           apply_at: str | None, replace: bool) -> None:
    """Update a project (PUT /api/v1/project/{id}); the id defaults to the file's name/id."""
    body = load_body(path)
    project_id = project_id or body.get("id") or body.get("name")
    if not isinstance(project_id, str) or not project_id:
        raise click.UsageError("name the project: `fabu project update ID -f FILE`, or put "
                               "`name:` in the file")
    if apply_at:
        body["apply_at"] = apply_at
    headers = {"If-Match": if_match} if if_match else None
    params = {"replace": "true"} if replace else None
    response = client(ctx).put(project_path(project_id), body, headers=headers, params=params)
    if not json_out(ctx):
        pending = (response.body.get("pending") if isinstance(response.body, dict) else None) or {}
        if body.get("apply_at") and _same_time(pending.get("apply_at"), body["apply_at"]):
            render.note(f"scheduled an update of {project_id} for {pending.get('apply_at')}")
        else:
            render.note(f"updated project {project_id}")
    show_project(ctx, response)


def _same_time(shown: str | None, asked: object) -> bool:
    """The API's ``2026-11-04T22:00:00Z`` is the ``apply_at`` asked for (``+00:00``, fractions)."""
    if not shown or not isinstance(asked, str):
        return False
    try:
        return datetime.datetime.fromisoformat(shown.replace("Z", "+00:00")) == \
            datetime.datetime.fromisoformat(asked.strip().replace("Z", "+00:00")).replace(microsecond=0)
    except ValueError:
        return False


@click.command("show")
@click.argument("project_id")
@click.pass_context
def show(ctx: click.Context, project_id: str) -> None:
    """A project: settings, release, rollout waves and hosts."""
    show_project(ctx, client(ctx).get(project_path(project_id)))


def _all_pages(ctx: click.Context, params: dict) -> list[dict]:
    projects, cursor = [], None
    while True:
        body = client(ctx).get("/api/v1/project", params=dict(params, limit=100, cursor=cursor)).body
        projects.extend(body.get("projects", []))
        cursor = body.get("next_cursor")
        if not cursor:
            return projects


@click.command("list")
@click.option("--scheduled", is_flag=True, help="Only projects with a scheduled update, soonest first.")
@click.pass_context
def list_(ctx: click.Context, scheduled: bool) -> None:
    """Every project with its version and rollout state."""
    projects = _all_pages(ctx, {"scheduled": "true" if scheduled else None})
    if json_out(ctx):
        render.as_json({"projects": projects})
    elif scheduled:
        render.scheduled_list(projects)
    else:
        render.project_list(projects)


@click.command("delete")
@click.argument("project_id")
@click.option("--force", is_flag=True, help="Delete even while a rollout is in progress.")
@click.pass_context
def delete(ctx: click.Context, project_id: str, force: bool) -> None:
    """Delete a project (DELETE /api/v1/project/{id})."""
    body = client(ctx).delete(project_path(project_id), params={"force": "true" if force else None}).body
    if json_out(ctx):
        render.as_json(body)
    else:
        render.out.print(f"deleted project {render.escape(project_id)}")


@project.command("scheduled")
@click.argument("project_id", required=False)
@click.pass_context
def scheduled(ctx: click.Context, project_id: str | None) -> None:
    """The update scheduled for PROJECT_ID (apply_at), or every project's, soonest first."""
    if project_id is None:
        ctx.invoke(list_, scheduled=True)
        return
    body = client(ctx).get(project_path(project_id, "scheduled")).body
    if json_out(ctx):
        render.as_json(body)
    else:
        render.scheduled_update(project_id, body.get("scheduled"))


@project.command("cancel-scheduled")
@click.argument("project_id")
@click.option("--if-match", metavar="ETAG", help="Only cancel if the project's ETag is still this.")
@click.pass_context
def cancel_scheduled(ctx: click.Context, project_id: str, if_match: str | None) -> None:
    """Cancel PROJECT_ID's scheduled update (DELETE /api/v1/project/{id}/scheduled)."""
    headers = {"If-Match": if_match} if if_match else None
    body = client(ctx).request("DELETE", project_path(project_id, "scheduled"), headers=headers).body
    if json_out(ctx):
        render.as_json(body)
    else:
        cancelled = body.get("cancelled") or {}
        render.out.print(f"cancelled the update of {render.escape(project_id)} scheduled for "
                         f"{render.escape(cancelled.get('apply_at'))}")


@project.command("fields")
@click.pass_context
def fields(ctx: click.Context) -> None:
    """Print the field reference (docs/fields.md) of the fabu repository this CLI came from."""
    doc = Path(__file__).resolve().parents[2] / FIELDS_DOC
    if not doc.is_file():
        fail(ctx, f"{FIELDS_DOC} is not next to this installation", EXIT_USAGE,
             f"read {FIELDS_DOC} in the fabu repository")
    click.echo(doc.read_text(encoding="utf-8"), nl=False)


for _command in (show, list_, delete):
    project.add_command(_command)
