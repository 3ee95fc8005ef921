"""``fabu watch``: follow a project's newest rollout until it ends; its outcome is the exit code.

Every ``--interval`` seconds it reads ``GET /api/v1/project/{id}`` (the rollout with per-wave
counts, and the project's releases), first prints what the release was built from and how many
commits it brings (once it is ready: ``releases.provenance_header``), redraws one progress bar per
wave and prints what watches the rollout whenever it changes (alarms and their states, each wave's
analysis, the deploy window, the stage's freeze, the time left: ``watching``). It ends when the
rollout does (0 succeeded, 4 halted, 5 rolled back, 6 failed, 7 cancelled, 8 superseded), when the
release the rollout waits for has failed (10: its build, or a CI upload that failed its check; the
rollout itself keeps waiting for a fixed release), or after ``--timeout`` (9)."""
import time

import click

from fabu_cli import releases, render, watching
from fabu_cli.base import (EXIT_API, EXIT_RELEASE_FAILED, EXIT_TIMEOUT, WATCH_EXIT, client, json_out,
                           project_path)
from fabu_cli.client import ApiError, Client

DEFAULT_TIMEOUT = 3600
#: Rollouts that wait for their release (a failed release keeps them waiting for good).
_NOT_STARTED = ("scheduled", "waiting_release")
_FAILED_HOST_EVENTS = ("host.failed", "host.interrupted", "host.lost")


def release_of(project: dict, version: str | None) -> dict | None:
    """The release of ``version`` in a project's JSON (its current one, else its history)."""
    current = project.get("release")
    if current and current.get("version") == version:
        return current
    return next((r for r in project.get("releases") or [] if r.get("version") == version), None)


def _failed_release(project: dict, rollout: dict) -> dict | None:
    if rollout.get("state") not in _NOT_STARTED:
        return None
    release = release_of(project, rollout.get("version"))
    return release if release and release.get("state") == "failed" else None


@click.command()
@click.argument("project_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT, show_default=True,
              metavar="SECONDS", help="Give up after this long (exit 9); 0 waits for the end.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="How often to read the rollout.")
@click.pass_context
def watch(ctx: click.Context, project_id: str, timeout: float, interval: float) -> None:
    """Live progress bars per wave until the rollout ends.

    Exit 0 when it succeeded; 4 halted, 5 rolled back, 6 failed, 7 cancelled, 8 superseded,
    9 --timeout reached, 10 its release failed to build (or its CI upload failed its check):
    a CI step can gate on it.
    """
    api = client(ctx)
    deadline = time.monotonic() + timeout if timeout else None
    body = api.get(project_path(project_id)).body
    rollout = body.get("rollout")
    if not rollout or not rollout.get("id"):
        render.failure(f"project {project_id} has no rollout to watch")
        ctx.exit(EXIT_API)
    watched, failed_release, header_done = rollout["id"], None, False
    with render.WaveBars() as bars:
        watched_by = watching.Watched(bars.progress.console)
        while True:
            if not header_done and not json_out(ctx):
                header_done = _header(api, bars.progress.console, project_id, body, rollout)
            bars.update(rollout)
            watched_by.update(rollout)
            failed_release = _failed_release(body, rollout)
            if rollout["state"] in WATCH_EXIT or failed_release:
                break
            if deadline and time.monotonic() >= deadline:
                break
            time.sleep(interval)
            body = api.get(project_path(project_id)).body
            latest = body.get("rollout")
            if latest and latest.get("id") not in (None, watched):
                rollout = dict(rollout, state="superseded",
                               reason=f"superseded by the rollout of {latest.get('version')}")
            elif latest and latest.get("id"):
                rollout = latest
    _finish(ctx, api, project_id, body, rollout, failed_release, timeout)


def _header(api: Client, console, project_id: str, body: dict, rollout: dict) -> bool:
    """Print what the rollout's release was built from once it is ready (one request); True
    once done."""
    release = release_of(body, rollout.get("version"))
    if not release or release.get("state") != "ready":
        return False
    line = releases.provenance_header(api, project_id, rollout.get("version"))
    if line:
        console.print(render.escape(line))
    return True


def _finish(ctx: click.Context, api: Client, project_id: str, body: dict, rollout: dict,
            failed_release: dict | None, timeout: float) -> None:
    """Say how it ended (and why, when it went wrong) and exit with its code."""
    state = rollout["state"]
    reason = f": {rollout['reason']}" if rollout.get("reason") else ""
    message = f"rollout of {rollout.get('version')} {state.replace('_', ' ')}{reason}"
    if failed_release:
        code = EXIT_RELEASE_FAILED
        message = (f"release {failed_release.get('version')} of {project_id} failed: "
                   f"{failed_release.get('error') or 'no error recorded'} (the rollout waits "
                   f"in {state}; fix the source or upload, then update the project)")
    else:
        code = WATCH_EXIT.get(state, EXIT_TIMEOUT)
        if code == EXIT_TIMEOUT:
            message = f"gave up after {timeout:g}s: {message}"
    if json_out(ctx):
        render.as_json(dict(rollout, release=failed_release) if failed_release else rollout)
    else:
        render.out.print(render.escape(message))
    if code in (WATCH_EXIT["halted"], WATCH_EXIT["rolled_back"], WATCH_EXIT["failed"]):
        explain_failures(api, project_id, body)
    ctx.exit(code)


def explain_failures(api: Client, project_id: str, body: dict) -> None:
    """Why it ended: the hosts whose deploy of this version failed, each with its failed phase
    and last output lines, from the ``host.failed``/``host.interrupted``/``host.lost`` events
    (a host the server has since rolled back no longer shows its failure in its state)."""
    version = (body.get("rollout") or {}).get("version")
    try:
        items = api.get(project_path(project_id, "events"), params={"limit": 200}).body.get("events", [])
    except ApiError:
        items = None  # an API without the events route: fall back to the host states
    rows = {h.get("host"): h for h in (body.get("hosts_view") or {}).get("hosts") or []}
    if items is not None:
        seen = set()
        for event in items:
            detail = event.get("detail") or {}
            if event.get("kind") not in _FAILED_HOST_EVENTS or detail.get("version") not in (None, version):
                continue
            if event.get("host") in seen or len(seen) == 3:
                continue
            seen.add(event.get("host"))
            render.host_failure({"host": event.get("host"), "status": event.get("kind"),
                                 "zone": (rows.get(event.get("host")) or {}).get("zone")},
                                {"phase": detail.get("phase"), "exit_code": detail.get("exit_code"),
                                 "output": detail.get("output_tail") or event.get("message") or ""})
        if seen:
            return
    hosts = (body.get("hosts_view") or {}).get("hosts") or []
    for host in [h for h in hosts if h.get("status") in render.BAD_STATUSES][:3]:
        render.host_failure(host)
