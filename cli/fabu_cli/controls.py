"""Rollout controls and the timeline: ``promote``, ``pause``, ``resume``, ``rollback``, ``events``."""
import click

from fabu_cli import render
from fabu_cli.base import EXIT_API, client, json_out, project_path, show_rollout
from fabu_cli.client import ApiError


@click.command()
@click.argument("project_id")
@click.option("--full", is_flag=True, help="Release every remaining wave at once.")
@click.option("--override-freeze", is_flag=True, help="Go through the stage's freeze (a hotfix); "
              "needs --reason, recorded as rollout.freeze_override.")
@click.option("--reason", metavar="TEXT", help="Why this promote goes through the freeze.")
@click.pass_context
def promote(ctx: click.Context, project_id: str, full: bool, override_freeze: bool,
            reason: str | None) -> None:
    """Release the next wave now (or start a scheduled rollout).

    While the stage is frozen (`fabu freeze`) a promote is refused unless --override-freeze
    --reason TEXT lets this one through.
    """
    if override_freeze and not (reason or "").strip():
        raise click.UsageError("--override-freeze needs --reason TEXT (why this promote goes "
                               "through the freeze)")
    if reason is not None and not override_freeze:
        raise click.UsageError("--reason goes with --override-freeze")
    params = {"full": "true" if full else None,
              "override_freeze": "true" if override_freeze else None, "reason": reason}
    show_rollout(ctx, client(ctx).post(project_path(project_id, "promote"), params=params).body)


@click.command()
@click.argument("project_id")
@click.pass_context
def pause(ctx: click.Context, project_id: str) -> None:
    """Stop releasing waves (hosts mid-deploy finish)."""
    show_rollout(ctx, client(ctx).post(project_path(project_id, "pause")).body)


@click.command()
@click.argument("project_id")
@click.pass_context
def resume(ctx: click.Context, project_id: str) -> None:
    """Continue a paused or halted rollout (a halted one retries its failed hosts)."""
    show_rollout(ctx, client(ctx).post(project_path(project_id, "resume")).body)


@click.command()
@click.argument("project_id")
@click.option("--to", "to", metavar="VERSION", help="Roll back to this version (default: the "
              "previous good one).")
@click.pass_context
def rollback(ctx: click.Context, project_id: str, to: str | None) -> None:
    """Send the hosts on the rollout's version back to the previous good version."""
    show_rollout(ctx, client(ctx).post(project_path(project_id, "rollback"), params={"to": to}).body)


@click.command()
@click.argument("project_id")
@click.option("--since", metavar="TIME", help="Only events at or after this ISO 8601 UTC time.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.pass_context
def events(ctx: click.Context, project_id: str, since: str | None, limit: int) -> None:
    """A project's timeline: who did what, when (the newest LIMIT, printed oldest first)."""
    try:
        body = client(ctx).get(project_path(project_id, "events"),
                               params={"since": since, "limit": limit}).body
    except ApiError as exc:
        if exc.status in (403, 404) and "error" not in exc.body:
            # API Gateway (and chalice local) answer an unknown route without fabu's {"error"}.
            render.failure(f"this API has no events route ({exc.message}): it is older than "
                           "this client")
            ctx.exit(EXIT_API)
        raise
    items = body.get("events", body.get("items", []))
    if json_out(ctx):
        render.as_json(body)
    else:
        render.events_table(items)


COMMANDS = (promote, pause, resume, rollback, events)
