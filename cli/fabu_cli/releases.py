"""``fabu release upload|list`` (the CI path for tarballs CI built) and ``fabu report``.

``release upload`` is what a CI job runs after building ``app.tgz``: it announces the file's
sha256 (``POST .../artifact``), PUTs the bytes to the presigned URL it gets back, and asks the
API to check them (``POST .../artifact/complete``); the release ends ``ready``, or ``failed``
(exit 10) when the stored bytes do not match. ``report`` prints a daily report's summary, and
makes one now with ``--generate``.
"""
import hashlib

import click
import requests

from fabu_cli import render
from fabu_cli.base import (EXIT_API, EXIT_CONNECTION, EXIT_RELEASE_FAILED, EXIT_USAGE, client, fail,
                           json_out, project_path)

#: Seconds to connect to the storage, and to wait for each answer while the upload streams.
UPLOAD_TIMEOUT = (10, 300)
_CHUNK = 1024 * 1024


def sha256_of(path: str) -> tuple[str, int]:
    """The file's sha256 (hex) and size, read in 1 MB chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@click.group()
def release() -> None:
    """Upload a tarball CI built, and list a project's releases."""


@release.command("upload")
@click.argument("project_id")
@click.argument("version")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--ci-server", metavar="NAME", help="The CI server to record (default: the project's).")
@click.pass_context
def upload(ctx: click.Context, project_id: str, version: str, path: str, ci_server: str | None) -> None:
    """Upload FILE as release VERSION of PROJECT_ID and have the API check it.

    Prints the sha256 and the release's state; exit 10 when the stored bytes failed their check.
    """
    api = client(ctx)
    digest, size = sha256_of(path)
    render.note(f"sha256 {digest}  {path} ({size} bytes)")
    body = {"version": version, "sha256": digest, "ci_server": ci_server}
    grant = api.post(project_path(project_id, "artifact"),
                     {k: v for k, v in body.items() if v is not None}).body
    limit = grant.get("max_bytes")
    if isinstance(limit, int) and size > limit:
        fail(ctx, f"{path} is {size} bytes; this API takes releases of at most {limit} bytes",
             EXIT_USAGE)
    _put(ctx, grant["upload_url"], path, size)
    done = api.post(project_path(project_id, "artifact/complete"), {"version": version}).body
    if json_out(ctx):
        render.as_json(done)
    else:
        render.out.print(f"sha256 {digest}")
        error = f": {done['error']}" if done.get("error") else ""
        render.out.print(render.escape(f"release {version} of {project_id}: {done.get('state')}{error}"))
    if done.get("state") != "ready":
        ctx.exit(EXIT_RELEASE_FAILED)


def _put(ctx: click.Context, url: str, path: str, size: int) -> None:
    """Stream the file to the presigned URL (no signature of ours: the URL carries it)."""
    try:
        with open(path, "rb") as handle:
            answer = requests.put(url, data=handle, headers={"Content-Length": str(size)},
                                  timeout=UPLOAD_TIMEOUT)
    except requests.RequestException as exc:
        fail(ctx, f"cannot upload {path} to the release bucket: {exc}", EXIT_CONNECTION)
    if answer.status_code >= 300:
        fail(ctx, f"the release bucket refused the upload: HTTP {answer.status_code} "
                  f"{answer.text.strip()[:300]}", EXIT_API,
             "the upload URL is valid for a few minutes only: run the upload again")


@release.command("list")
@click.argument("project_id")
@click.pass_context
def list_releases(ctx: click.Context, project_id: str) -> None:
    """A project's newest releases: version, state, size, sha256, error."""
    body = client(ctx).get(project_path(project_id)).body
    items = body.get("releases") or ([body["release"]] if body.get("release") else [])
    if json_out(ctx):
        render.as_json({"releases": items})
    else:
        render.release_table(items)


@click.command()
@click.argument("date", required=False, metavar="[DATE]")
@click.option("--generate", is_flag=True, help="Make the report now (default: today's so far) "
              "instead of reading the stored one.")
@click.option("--publish", is_flag=True, help="With --generate: also post its summary to the "
              "stage's SNS topic.")
@click.option("--list", "list_days", is_flag=True, help="List the days that have a report.")
@click.option("--limit", type=click.IntRange(1, 366), default=30, show_default=True,
              help="With --list: how many days.")
@click.pass_context
def report(ctx: click.Context, date: str | None, generate: bool, publish: bool, list_days: bool,
           limit: int) -> None:
    """The daily report of DATE (YYYY-MM-DD, UTC; default the newest): deploys, success rate,
    durations, failures, drift and silent hosts per project."""
    api = client(ctx)
    if publish and not generate:
        raise click.UsageError("--publish goes with --generate")
    if list_days:
        body = api.get("/api/v1/reports", params={"limit": limit}).body
        if json_out(ctx):
            render.as_json(body)
        else:
            render.report_days(body.get("reports") or [], body.get("next_cursor"))
        return
    if generate:
        wanted = {"date": date} if date else {}
        if publish:
            wanted["publish"] = True
        body = api.post("/api/v1/reports", wanted).body
    else:
        body = api.get(f"/api/v1/reports/{date or 'latest'}").body
    if json_out(ctx):
        render.as_json(body)
    else:
        render.report_summary(body)

