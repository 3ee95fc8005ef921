"""``fabu promote-release``: give a project its upstream's release (``promote_from``), the same
artifact, never rebuilt: ``POST /api/v1/project/{id}/promote-release``.

``fabu promote-release prod`` takes the version of staging's newest succeeded rollout (once its
soak is over); ``--version V`` names one; ``--force --reason TEXT`` promotes a version whose
upstream rollout has not succeeded or is still soaking (recorded as forced, with the reason).
Admins only; the API's refusals (the upstream's rollout not done, no ``promote_from``) are
printed as it said them, exit 1.
"""
import click

from fabu_cli import render
from fabu_cli.base import client, json_out, project_path


def describe(done: dict) -> str:
    """One line: what was promoted from where (or that it already was)."""
    source = done.get("from") or {}
    release = done.get("release") or {}
    what = (f"{done.get('project')} {done.get('version')} from {source.get('project')} "
            f"(sha256 {release.get('sha256')})")
    if not done.get("promoted"):
        return f"{what}: already promoted, nothing changed"
    forced = f", forced: {done.get('reason')}" if done.get("forced") else ""
    return f"promoted {what}{forced}"


@click.command(name="promote-release")
@click.argument("project_id")
@click.option("--version", metavar="V", help="The upstream's version to promote (default: its "
              "newest succeeded rollout's).")
@click.option("--force", is_flag=True, help="Promote although the upstream's rollout of that "
              "version has not succeeded or is still soaking; needs --reason, recorded.")
@click.option("--reason", metavar="TEXT", help="Why this promotion is forced (at most 500 "
              "characters).")
@click.pass_context
def promote_release(ctx: click.Context, project_id: str, version: str | None, force: bool,
                    reason: str | None) -> None:
    """Give PROJECT_ID its upstream's release (promote_from): the same artifact, then its rollout.

    Refused (exit 1, with the upstream's state) while the upstream's rollout of the version is
    not done or still soaking, unless --force --reason TEXT.
    """
    if force and not (reason or "").strip():
        raise click.UsageError("--force needs --reason TEXT (why this promotion skips the checks)")
    body = {"version": version, "force": True if force else None, "reason": reason}
    done = client(ctx).post(project_path(project_id, "promote-release"),
                            {k: v for k, v in body.items() if v is not None}).body or {}
    if json_out(ctx):
        render.as_json(done)
        return
    render.out.print(render.escape(describe(done)))
    render.rollout_summary(done.get("rollout"))


COMMANDS = (promote_release,)
