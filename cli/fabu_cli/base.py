"""The root of the ``fabu`` command: global options, exit codes, errors as messages, shared helpers.

Exit codes (``docs/cli.md``): 0 success; 1 the API answered with an error (shown as it said it);
2 usage or configuration (bad option, unreadable file, no credentials); 3 the API could not be
reached. ``fabu watch`` adds the final states of a rollout that did not succeed: 4 halted,
5 rolled back, 6 failed, 7 cancelled, 8 superseded, 9 ``--timeout`` reached; and 10 when the
release the rollout waits for failed (its build, or a CI upload's check), also the exit of a
``fabu release upload`` whose tarball failed its check.
"""
import click

from fabu_cli import render
from fabu_cli.client import ApiError, Client, ClientError, ConfigError, ConnectionFailed, default_endpoint

EXIT_API, EXIT_USAGE, EXIT_CONNECTION = 1, 2, 3
WATCH_EXIT = {"succeeded": 0, "halted": 4, "rolled_back": 5, "failed": 6, "cancelled": 7,
              "superseded": 8}
EXIT_TIMEOUT = 9
EXIT_RELEASE_FAILED = 10
#: Where every field of a project body is described (in the fabu repository).
FIELDS_DOC = "docs/fields.md"


class Group(click.Group):
    """The root group: turns the client's failures into messages and exit codes, never tracebacks."""

    def invoke(self, ctx: click.Context):
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


def _identity(ctx: click.Context) -> str | None:
    client = ctx.find_object(Client)
    try:
        return client.identity() if client else None
    except ClientError:
        return None


def _is_loopback(url: str) -> bool:
    return any(h in url for h in ("://127.", "://localhost", "://[::1]"))


def client(ctx: click.Context) -> Client:
    """The signed API client of this invocation."""
    return ctx.find_object(Client)


def json_out(ctx: click.Context) -> bool:
    """True with ``-o json``: print the API's answer as it came."""
    return ctx.find_root().params.get("output") == "json"


def project_path(project_id: str, action: str | None = None) -> str:
    """``/api/v1/project/<id>[/<action>]``."""
    return f"/api/v1/project/{project_id}" + (f"/{action}" if action else "")


def show_project(ctx: click.Context, response) -> None:
    if json_out(ctx):
        render.as_json(response.body)
    else:
        render.project_detail(response.body, response.etag)


def show_rollout(ctx: click.Context, body: dict | None) -> None:
    if json_out(ctx):
        render.as_json(body)
    else:
        render.rollout_summary(body)


def fail(ctx: click.Context, message: str, code: int, hint: str | None = None) -> None:
    """Print ``error: message`` (and the hint) to stderr and exit with ``code``."""
    render.failure(message, hint)
    ctx.exit(code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--endpoint", metavar="URL", default=default_endpoint, show_default="$FABU_API_URL or "
              "http://127.0.0.1:8000", help="Base URL of the API (on AWS: the stage URL, .../api).")
@click.option("--profile", metavar="NAME", help="AWS profile to sign with (default: the standard "
              "chain: AWS_PROFILE, environment keys, shared credentials file, SSO).")
@click.option("--region", metavar="REGION", help="SigV4 region (default: the profile's, else "
              "AWS_DEFAULT_REGION, else us-east-1).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              help="text (tables) or json (the API's answer).")
@click.pass_context
def cli(ctx: click.Context, endpoint: str, profile: str | None, region: str | None, output: str) -> None:
    """fabu: create projects, roll their versions out wave by wave, and watch them.

    Every field of a project file, with its type, default and limits: docs/fields.md
    (`fabu project fields` prints it).
    """
    ctx.obj = Client(endpoint=endpoint, profile=profile, region=region)
