"""The ``fabu`` command: one click command per API operation, plus ``agent`` and ``local`` helpers.

Exit codes (``docs/cli.md``): 0 success; 1 the API answered with an error (shown as it said it);
2 usage or configuration (bad option, unreadable file, no credentials); 3 the API could not be
reached. ``fabu watch`` adds the final states of a rollout that did not succeed: 4 halted,
5 rolled back, 6 failed, 7 cancelled, 8 superseded, 9 ``--timeout`` reached.
"""
import json
import os
import re
import sys
import time
from pathlib import Path

import click
import yaml

from fabu_cli import render
from fabu_cli.client import ApiError, Client, ClientError, ConfigError, ConnectionFailed, default_endpoint

EXIT_API, EXIT_USAGE, EXIT_CONNECTION = 1, 2, 3
WATCH_EXIT = {"succeeded": 0, "halted": 4, "rolled_back": 5, "failed": 6, "cancelled": 7,
              "superseded": 8}
EXIT_TIMEOUT = 9
CRON_LINE = "*/5 * * * * deploy /opt/fabu/bin/fabu-agent.sh"
HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/%s"
_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class _Group(click.Group):
    """The root group: turns the client's failures into messages and exit codes, never tracebacks."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            render.api_error(exc, _identity(ctx))
            ctx.exit(EXIT_API)
        except ConnectionFailed as exc:
            hint = None
            if exc.reason == "connection refused" and _is_loopback(exc.url):
                hint = "is `make run` running? (or point --endpoint / FABU_API_URL at the API)"
            render.failure(str(exc), hint)
            ctx.exit(EXIT_CONNECTION)
        except ConfigError as exc:
            render.failure(str(exc))
            ctx.exit(EXIT_USAGE)


def _identity(ctx):
    client = ctx.find_object(Client)
    try:
        return client.identity() if client else None
    except ClientError:
        return None


def _is_loopback(url):
    return any(h in url for h in ("://127.", "://localhost", "://[::1]"))


def _client(ctx):
    return ctx.find_object(Client)


def _json_out(ctx):
    return ctx.find_root().params.get("output") == "json"


def _path(project_id, action=None):
    return "/api/v1/project/%s%s" % (project_id, "/" + action if action else "")


def _load_body(path):
    """A project body from a YAML or JSON file (``-`` reads stdin)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter("cannot read %s: %s" % (path, exc.strerror), param_hint="-f")
    try:
        body = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise click.BadParameter("%s is not valid %s: %s" % (
            path, "JSON" if path.endswith(".json") else "YAML", exc), param_hint="-f")
    if not isinstance(body, dict):
        raise click.BadParameter("%s must hold one object (a mapping of fields)" % path, param_hint="-f")
    return body


def _show_project(ctx, response):
    if _json_out(ctx):
        render.as_json(response.body)
    else:
        render.project_detail(response.body, response.etag)


def _show_rollout(ctx, body):
    if _json_out(ctx):
        render.as_json(body)
    else:
        render.rollout_summary(body)


# --- the root ---------------------------------------------------------------------------------

@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--endpoint", metavar="URL", default=default_endpoint, show_default="$FABU_API_URL or "
              "http://127.0.0.1:8000", help="Base URL of the API (on AWS: the stage URL, .../api).")
@click.option("--profile", metavar="NAME", help="AWS profile to sign with (default: the standard "
              "chain: AWS_PROFILE, environment keys, shared credentials file, SSO).")
@click.option("--region", metavar="REGION", help="SigV4 region (default: the profile's, else "
              "AWS_DEFAULT_REGION, else us-east-1).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              help="text (tables) or json (the API's answer).")
@click.pass_context
def cli(ctx, endpoint, profile, region, output):
    """fabu: create projects, roll their versions out wave by wave, and watch them."""
    ctx.obj = Client(endpoint=endpoint, profile=profile, region=region)


# --- projects ---------------------------------------------------------------------------------

@cli.group()
def project():
    """Create, update, show, list and delete projects."""


@project.command("create")
@click.option("-f", "--file", "path", required=True, metavar="FILE",
              help="project.yaml or project.json ('-' for stdin).")
@click.pass_context
def create(ctx, path):
    """Create a project from a YAML or JSON file (POST /api/v1/project)."""
    response = _client(ctx).post("/api/v1/project", _load_body(path))
    if not _json_out(ctx):
        render.note("created project %s" % response.body.get("id"))
    _show_project(ctx, response)


@project.command("update")
@click.argument("project_id", required=False)
@click.option("-f", "--file", "path", required=True, metavar="FILE",
              help="the fields to change, YAML or JSON ('-' for stdin).")
@click.option("--if-match", metavar="ETAG", help="Only update if the project's ETag is still this "
              "(from `fabu show`); a stale one is refused with 409.")
@click.pass_context
def update(ctx, project_id, path, if_match):
    """Update a project (PUT /api/v1/project/{id}); the id defaults to the file's name/id."""
    body = _load_body(path)
    project_id = project_id or body.get("id") or body.get("name")
    if not isinstance(project_id, str) or not project_id:
        raise click.UsageError("name the project: `fabu project update ID -f FILE`, or put "
                               "`name:` in the file")
    headers = {"If-Match": if_match} if if_match else None
    response = _client(ctx).put(_path(project_id), body, headers=headers)
    if not _json_out(ctx):
        render.note("updated project %s" % project_id)
    _show_project(ctx, response)


@click.command("show")
@click.argument("project_id")
@click.pass_context
def show(ctx, project_id):
    """A project: settings, release, rollout waves and hosts."""
    _show_project(ctx, _client(ctx).get(_path(project_id)))


@click.command("list")
@click.pass_context
def list_(ctx):
    """Every project with its version and rollout state."""
    projects, cursor = [], None
    while True:
        body = _client(ctx).get("/api/v1/project", params={"limit": 100, "cursor": cursor}).body
        projects.extend(body.get("projects", []))
        cursor = body.get("next_cursor")
        if not cursor:
            break
    if _json_out(ctx):
        render.as_json({"projects": projects})
    else:
        render.project_list(projects)


@click.command("delete")
@click.argument("project_id")
@click.option("--force", is_flag=True, help="Delete even while a rollout is in progress.")
@click.pass_context
def delete(ctx, project_id, force):
    """Delete a project (DELETE /api/v1/project/{id})."""
    body = _client(ctx).delete(_path(project_id), params={"force": "true" if force else None}).body
    if _json_out(ctx):
        render.as_json(body)
    else:
        render.out.print("deleted project %s" % render.escape(project_id))


for _command in (show, list_, delete):
    project.add_command(_command)
    cli.add_command(_command)


# --- rollout controls -------------------------------------------------------------------------

@cli.command()
@click.argument("project_id")
@click.option("--full", is_flag=True, help="Release every remaining wave at once.")
@click.pass_context
def promote(ctx, project_id, full):
    """Release the next wave now (or start a scheduled rollout)."""
    params = {"full": "true" if full else None}
    _show_rollout(ctx, _client(ctx).post(_path(project_id, "promote"), params=params).body)


@cli.command()
@click.argument("project_id")
@click.pass_context
def pause(ctx, project_id):
    """Stop releasing waves (hosts mid-deploy finish)."""
    _show_rollout(ctx, _client(ctx).post(_path(project_id, "pause")).body)


@cli.command()
@click.argument("project_id")
@click.pass_context
def resume(ctx, project_id):
    """Continue a paused or halted rollout (a halted one retries its failed hosts)."""
    _show_rollout(ctx, _client(ctx).post(_path(project_id, "resume")).body)


@cli.command()
@click.argument("project_id")
@click.option("--to", "to", metavar="VERSION", help="Roll back to this version (default: the "
              "previous good one).")
@click.pass_context
def rollback(ctx, project_id, to):
    """Send the hosts on the rollout's version back to the previous good version."""
    _show_rollout(ctx, _client(ctx).post(_path(project_id, "rollback"), params={"to": to}).body)


@cli.command()
@click.argument("project_id")
@click.option("--since", metavar="TIME", help="Only events at or after this ISO 8601 UTC time.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.pass_context
def events(ctx, project_id, since, limit):
    """A project's timeline: who did what, when (newest first)."""
    try:
        body = _client(ctx).get(_path(project_id, "events"), params={"since": since, "limit": limit}).body
    except ApiError as exc:
        if exc.status in (403, 404) and "error" not in exc.body:
            # API Gateway (and chalice local) answer an unknown route without fabu's {"error"}.
            render.failure("this API has no events route (%s): it is older than this client"
                           % exc.message)
            ctx.exit(EXIT_API)
        raise
    items = body.get("events", body.get("items", []))
    if _json_out(ctx):
        render.as_json(body)
    else:
        render.events_table(items)


@cli.command()
@click.argument("project_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=0, metavar="SECONDS",
              help="Give up after this long (exit 9); 0 waits for the end.")
@click.option("--interval", type=click.FloatRange(min=0.1), default=2.0, show_default=True,
              metavar="SECONDS", help="How often to read the rollout.")
@click.pass_context
def watch(ctx, project_id, timeout, interval):
    """Live progress bars per wave until the rollout ends.

    Exit 0 when it succeeded; 4 halted, 5 rolled back, 6 failed, 7 cancelled, 8 superseded,
    9 --timeout reached: a CI step can gate on it.
    """
    client = _client(ctx)
    deadline = time.monotonic() + timeout if timeout else None
    body = client.get(_path(project_id)).body
    rollout = body.get("rollout")
    if not rollout:
        render.failure("project %s has no rollout to watch" % project_id)
        ctx.exit(EXIT_API)
    watched = rollout["id"]
    with render.WaveBars() as bars:
        while True:
            bars.update(rollout)
            final = rollout["state"] in WATCH_EXIT
            if final or (deadline and time.monotonic() >= deadline):
                break
            time.sleep(interval)
            body = client.get(_path(project_id)).body
            latest = body.get("rollout")
            if latest and latest["id"] != watched:
                rollout = dict(rollout, state="superseded",
                               reason="superseded by the rollout of %s" % latest.get("version"))
            elif latest:
                rollout = latest
    code = WATCH_EXIT.get(rollout["state"], EXIT_TIMEOUT)
    message = "rollout of %s %s%s" % (rollout.get("version"), rollout["state"].replace("_", " "),
                                       ": %s" % rollout["reason"] if rollout.get("reason") else "")
    if code == EXIT_TIMEOUT:
        message = "gave up after %gs: %s" % (timeout, message)
    if _json_out(ctx):
        render.as_json(rollout)
    else:
        render.out.print(render.escape(message))
    if code in (WATCH_EXIT["halted"], WATCH_EXIT["rolled_back"], WATCH_EXIT["failed"]):
        explain_failures(client, project_id, body)
    ctx.exit(code)


def explain_failures(client, project_id, body):
    """Why it ended: the hosts whose deploy of this version failed, each with its failed phase
    and last output lines, from the ``host.failed``/``host.interrupted``/``host.lost`` events
    (a host the server has since rolled back no longer shows its failure in its state)."""
    version = (body.get("rollout") or {}).get("version")
    try:
        items = client.get(_path(project_id, "events"), params={"limit": 200}).body.get("events", [])
    except ApiError:
        items = None  # an API without the events route: fall back to the host states
    if items is not None:
        failures = [e for e in items if e.get("kind") in ("host.failed", "host.interrupted", "host.lost")
                    and (e.get("detail") or {}).get("version") in (None, version)]
        seen = set()
        for event in failures:
            if event.get("host") in seen or len(seen) == 3:
                continue
            seen.add(event.get("host"))
            detail = event.get("detail") or {}
            render.host_failure({"host": event.get("host"), "status": event.get("kind")},
                                {"phase": detail.get("phase"), "exit_code": detail.get("exit_code"),
                                 "output": detail.get("output_tail") or event.get("message") or ""})
        if seen:
            return
    hosts = (body.get("hosts_view") or {}).get("hosts") or []
    for host in [h for h in hosts if h.get("status") in render.BAD_STATUSES][:3]:
        render.host_failure(host)


# --- hosts ------------------------------------------------------------------------------------

def _host_name(value):
    if not _HOST_RE.match(value or "") or value in ("project", "reports"):
        raise click.BadParameter("%r is not an RFC 1123 host name (lowercase letters, digits, "
                                 "'-' and '.'), or is reserved by the API" % value)
    return value


def agent_env(api_url, region, host, key=None, secret=None):
    """The text of ``/etc/fabu/agent.env`` for one host (see docs/host.md)."""
    lines = ["# /etc/fabu/agent.env for %s (mode 0640 root:deploy)" % host,
             "FABU_API_URL=%s" % api_url, "FABU_REGION=%s" % region, "FABU_HOST=%s" % host]
    if key:
        lines += ["AWS_ACCESS_KEY_ID=%s" % key, "AWS_SECRET_ACCESS_KEY=%s" % (secret or "<secret>")]
    else:
        lines += ["# Static keys of IAM user fabu-hosts/%s, or nothing on EC2 with the" % host,
                  "# instance role fabu-host (read through IMDSv2):",
                  "# AWS_ACCESS_KEY_ID=AKIA...", "# AWS_SECRET_ACCESS_KEY=..."]
    lines += ["FABU_ROOT=/opt/fabu", "FABU_SPLAY=240"]
    return "\n".join(lines) + "\n"


def _puppet(api_url, region, host, key):
    keys = ""
    if key:
        keys = ("\n    access_key_id     => '%s',\n"
                "    secret_access_key => Sensitive(lookup('fabu::secret_access_key')),") % key
    return ("# The class fabu::agent is in docs/host.md (Puppet).\n"
            "node '%s' {\n  class { 'fabu::agent':\n    api_url => '%s',\n    region  => '%s',\n"
            "    splay   => 240,%s\n  }\n}\n" % (host, api_url, region, keys))


@cli.group()
def agent():
    """Install the cron agent on hosts."""


@agent.command("install")
@click.argument("host", callback=lambda ctx, param, value: _host_name(value))
@click.option("--access-key-id", metavar="KEY", help="The host's static key (omit on EC2 with the "
              "fabu-host instance role).")
@click.option("--secret-access-key", metavar="SECRET", envvar="FABU_HOST_SECRET_ACCESS_KEY",
              help="Its secret (better: env FABU_HOST_SECRET_ACCESS_KEY).")
@click.pass_context
def agent_install(ctx, host, access_key_id, secret_access_key):
    """Print the crontab line, agent.env and a Puppet snippet for HOST."""
    client = _client(ctx)
    render.out.print("# 1. the agent: install -D -m 0755 agent/fabu-agent.sh /opt/fabu/bin/fabu-agent.sh")
    render.out.print("# 2. /etc/cron.d/fabu")
    render.out.print(CRON_LINE)
    render.out.print("# 3. /etc/fabu/agent.env")
    render.out.print(render.escape(agent_env(client.endpoint, client.region, host, access_key_id,
                                             secret_access_key)))
    render.out.print("# or all of it with Puppet")
    render.out.print(render.escape(_puppet(client.endpoint, client.region, host, access_key_id)))


@cli.group()
def local():
    """Helpers for the local stack of `make run`."""


def _principals_module():
    """``chalicelib.auth.principals`` from the fabu repository this CLI is installed from."""
    try:
        from chalicelib.auth import principals
    except ImportError:
        repo = Path(__file__).resolve().parents[2]
        if not (repo / "chalicelib" / "auth" / "principals.py").exists():
            raise ConfigError("`fabu local` needs the fabu repository (chalicelib); run it from "
                              "a checkout, with the CLI installed by `make`") from None
        sys.path.insert(0, str(repo))
        from chalicelib.auth import principals
    return principals


@local.command("host-key")
@click.argument("name", callback=lambda ctx, param, value: _host_name(value))
@click.option("--principals", "path", metavar="FILE", help="Principals file (default: "
              "$FABU_PRINCIPALS or .fabu/principals.json).")
@click.pass_context
def host_key(ctx, name, path):
    """Mint host credentials for NAME into the local principals file; print its agent.env."""
    path = path or os.environ.get("FABU_PRINCIPALS") or os.path.join(".fabu", "principals.json")
    minted = _principals_module().add_principal(HOST_ARN % name, path=path)
    client = _client(ctx)
    render.note("minted %s for %s in %s" % (minted.access_key_id, HOST_ARN % name, path))
    render.out.print(render.escape(agent_env(client.endpoint, client.region, name,
                                             minted.access_key_id, minted.secret_access_key)))


def main():
    cli(prog_name="fabu")


if __name__ == "__main__":
    main()
