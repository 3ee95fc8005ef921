"""The stage-wide deploy freeze from the CLI: ``fabu freeze`` (freeze, or show it) and ``fabu thaw``.

``fabu freeze --reason TEXT [--until ISO] [--replace]`` is ``POST /api/v1/freeze``;
``fabu freeze`` alone (or ``fabu freeze status``) is ``GET`` (the freeze in force and the latest
freezes and thaws); ``fabu thaw`` is ``DELETE``. Admins only; the API's refusals (already frozen,
not frozen, a bad ``until``) are printed as it said them, exit 1.
"""
import click

from fabu_cli import render
from fabu_cli.base import client, json_out

PATH = "/api/v1/freeze"
#: How many of the stage's latest freezes and thaws ``fabu freeze status`` prints (the API keeps 20).
HISTORY_SHOWN = 5


def describe(frozen: dict) -> str:
    """One line: ``frozen by <arn> since <t> until <t|thawed>: <reason>``."""
    until = frozen.get("until") or "it is thawed (fabu thaw)"
    return (f"frozen by {frozen.get('by')} since {frozen.get('since')} until {until}: "
            f"{frozen.get('reason')}")


def _show_status(ctx: click.Context) -> None:
    body = client(ctx).get(PATH).body or {}
    if json_out(ctx):
        render.as_json(body)
        return
    if body.get("frozen"):
        render.out.print(render.escape(f"the stage is {describe(body)}"))
    else:
        render.out.print("the stage is not frozen")
    history = (body.get("history") or [])[:HISTORY_SHOWN]
    if history:
        render.out.print(f"latest freezes and thaws (newest {len(history)}, oldest first):")
        render.events_table(history)


@click.group(invoke_without_command=True)
@click.option("--reason", metavar="TEXT", help="Why the stage is frozen (required to freeze; one "
              "line, at most 500 characters).")
@click.option("--until", metavar="ISO", help="End the freeze by itself at this ISO 8601 UTC time "
              "(at most 366 days ahead; default: until `fabu thaw`).")
@click.option("--replace", is_flag=True, help="Replace the freeze in force (else a second freeze "
              "is refused).")
@click.pass_context
def freeze(ctx: click.Context, reason: str | None, until: str | None, replace: bool) -> None:
    """Freeze the stage: no rollout of any project starts a wave until `fabu thaw`.

    Without --reason (or as `fabu freeze status`) it shows the freeze in force and the latest
    freezes and thaws. Rollbacks, pauses and waves already released go on while frozen; a
    hotfix goes through with `fabu promote PROJECT --override-freeze --reason TEXT`.
    """
    if ctx.invoked_subcommand is not None:
        if reason or until or replace:
            raise click.UsageError("--reason/--until/--replace freeze the stage: they do not go "
                                   f"with `{ctx.invoked_subcommand}`")
        return
    if reason is None:
        if until or replace:
            raise click.UsageError("--reason is required to freeze the stage (say why)")
        _show_status(ctx)
        return
    body = {"reason": reason, **({"until": until} if until else {}), **({"replace": True} if replace else {})}
    response = client(ctx).post(PATH, body)
    if json_out(ctx):
        render.as_json(response.body)
        return
    verb = "replaced the freeze: the stage is now" if response.status == 200 else "the stage is now"
    render.out.print(render.escape(f"{verb} {describe(response.body or {})}"))


@freeze.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show the freeze in force (if any) and the stage's latest freezes and thaws."""
    _show_status(ctx.parent)


@click.command()
@click.pass_context
def thaw(ctx: click.Context) -> None:
    """End the stage's freeze: held rollouts continue on the next tick."""
    body = client(ctx).delete(PATH).body or {}
    if json_out(ctx):
        render.as_json(body)
        return
    was = body.get("was") or {}
    render.out.print(render.escape(f"the stage is thawed (it was {describe(was)})"))


COMMANDS = (freeze, thaw)
