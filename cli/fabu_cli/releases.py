"""``fabu release upload|list|show`` (CI uploads, a project's releases, one release's provenance)
and ``fabu report``.

``release upload`` is what a CI job runs after building ``app.tgz``: it announces the file's
sha256 (``POST .../artifact``), PUTs the bytes to the presigned URL it gets back, and asks the
API to check them (``POST .../artifact/complete``); the release ends ``ready``, or ``failed``
(exit 10) when the stored bytes do not match; ``--commit`` (default: the CI's own variable, e.g.
``GITHUB_SHA``) records the commit it was built from. ``show`` prints what a release was built
from and the commits since the previous release. ``report`` prints a daily report's summary, and
makes one now with ``--generate``.
"""
import hashlib
import os

import click
import requests

from fabu_cli import render
from fabu_cli.base import (EXIT_API, EXIT_CONNECTION, EXIT_RELEASE_FAILED, EXIT_USAGE, client, fail,
                           json_out, project_path)
from fabu_cli.client import ApiError, Client

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
@click.option("--commit", "commit_sha", metavar="SHA",
              help="The commit FILE was built from (default: $GITHUB_SHA, $CI_COMMIT_SHA, "
                   "$GIT_COMMIT or $BITBUCKET_COMMIT when set).")
@click.option("--commit-subject", metavar="TEXT", help="That commit's subject line.")
@click.option("--commit-ref", metavar="REF", help="The branch or tag it was built from.")
@click.option("--commit-url", metavar="URL", help="A link to the commit (http(s)).")
@click.pass_context
def upload(ctx: click.Context, project_id: str, version: str, path: str, ci_server: str | None,
           commit_sha: str | None, commit_subject: str | None, commit_ref: str | None,
           commit_url: str | None) -> None:
    """Upload FILE as release VERSION of PROJECT_ID and have the API check it.

    Prints the sha256 and the release's state; exit 10 when the stored bytes failed their check.
    """
    api = client(ctx)
    digest, size = sha256_of(path)
    render.note(f"sha256 {digest}  {path} ({size} bytes)")
    body = {"version": version, "sha256": digest, "ci_server": ci_server,
            "commit": _commit(commit_sha, commit_subject, commit_ref, commit_url)}
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


#: Where CI servers put the commit they build (GitHub Actions, GitLab CI, Jenkins, Bitbucket).
_COMMIT_VARIABLES = ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", "BITBUCKET_COMMIT")


def _commit(sha: str | None, subject: str | None, ref: str | None, url: str | None) -> dict | None:
    """The upload's ``commit`` (None when no commit is known)."""
    sha = sha or next((os.environ[n] for n in _COMMIT_VARIABLES if os.environ.get(n)), None)
    if not sha:
        return None
    fields = {"sha": sha, "subject": subject, "ref": ref, "url": url}
    return {k: v for k, v in fields.items() if v}


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
@click.option("--limit", type=click.IntRange(1, 50), default=20, show_default=True,
              help="How many of the newest releases.")
@click.pass_context
def list_releases(ctx: click.Context, project_id: str, limit: int) -> None:
    """A project's newest releases: version, state, size, sha256, what each was built from."""
    body = client(ctx).get(project_path(project_id, "releases"), params={"limit": limit}).body
    items = body.get("releases") or []
    if json_out(ctx):
        render.as_json({"releases": items, "next_cursor": body.get("next_cursor")})
        return
    render.release_table(items)
    for item in items:
        if item.get("built_from"):
            line = f"{item.get('version')}: built from {item['built_from']}"
            render.out.print(render.escape(line))


@release.command("show")
@click.argument("project_id")
@click.argument("version")
@click.pass_context
def show_release(ctx: click.Context, project_id: str, version: str) -> None:
    """One release: its state and checksum, what its source resolved to (the revision, the
    commit) and, for git, the commits since the previous release (at most 100)."""
    body = client(ctx).get(project_path(project_id, f"releases/{version}")).body
    if json_out(ctx):
        render.as_json(body)
        return
    for line in release_lines(body):
        render.out.print(render.escape(line))


def release_lines(body: dict) -> list[str]:
    """The lines ``release show`` prints for a release of ``GET .../releases/{version}``."""
    lines = [f"release {body.get('version')} of {body.get('project')}: {body.get('state')}"
             + (f": {body['error']}" if body.get("error") else "")]
    if body.get("sha256"):
        lines.append(f"sha256 {body['sha256']}  ({body.get('size')} bytes)")
    prov = body.get("provenance") or {}
    lines.append(f"built from {body.get('built_from') or 'an unrecorded source'}")
    for key in ("type", "url", "ref", "revision", "commit", "author", "date", "etag",
                "last_modified", "version_id", "last_changed_revision", "note"):
        if prov.get(key) not in (None, ""):
            lines.append(f"  {key}: {prov[key]}")
    lines += changes_lines(prov.get("changes"))
    return lines


def changes_lines(changes: dict | None) -> list[str]:
    """What changed since the previous release, one line per commit (newest first)."""
    if not changes:
        return []
    since = f"since {changes.get('previous_version')}"
    if changes.get("changes_unknown"):
        return [f"changes {since}: unknown ({changes['changes_unknown']})"]
    total = changes.get("total", 0)
    lines = [f"{total} commit{'' if total == 1 else 's'} {since}:"]
    for commit in changes.get("commits") or []:
        lines.append(f"  {(commit.get('sha') or '')[:7]} {commit.get('subject')} "
                     f"({commit.get('author')}, {(commit.get('date') or '')[:10]})")
    shown = len(changes.get("commits") or [])
    if changes.get("truncated") and total > shown:
        lines.append(f"  … and {total - shown} older (only the newest {shown} are kept)")
    return lines


def provenance_header(api: Client, project_id: str, version: str | None) -> str | None:
    """``fabu watch``'s header: ``1.1.0: git abc1234 'subject', 3 commits since 1.0.0``; None
    when the API has no release route or the release records nothing yet."""
    if not version:
        return None
    try:
        body = api.get(project_path(project_id, f"releases/{version}")).body
    except ApiError:
        return None
    prov = body.get("provenance") or {}
    if not body.get("built_from"):
        return None
    changes = prov.get("changes") or {}
    count = ""
    if changes.get("changes_unknown"):
        count = f", changes since {changes.get('previous_version')} unknown"
    elif "total" in changes:
        total = changes["total"]
        count = (f", {total} commit{'' if total == 1 else 's'} since "
                 f"{changes.get('previous_version')}")
    return f"{version}: built from {body['built_from']}{count}"


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

