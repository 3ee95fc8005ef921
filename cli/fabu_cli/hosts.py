"""Host helpers: ``fabu agent install HOST`` and the local stack's keys, ``fabu local host-key``.

``host-key NAME`` mints a key for the host into the principals file (the store the local API
reads on every request); ``host-key list`` shows the keys there (never a secret) and
``host-key revoke NAME|KEY`` removes them through the API's own writer
(``chalicelib.auth.principals.remove_principals``: under the ``<file>.lock`` flock, a temporary
file renamed over the original, mode 0600), so the running API never reads half a file and no
concurrent mint is lost.
"""
import json
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import click

from fabu_cli import audit, render
from fabu_cli.base import EXIT_API, client, fail, json_out
from fabu_cli.client import ConfigError

AGENT_PATH = "/opt/fabu/bin/fabu-agent.sh"
#: How often cron runs the agent by default (seconds): ``*/5``. The agent's ``FABU_INTERVAL``.
DEFAULT_INTERVAL = 300
#: The intervals a crontab can run at evenly: every N minutes, N dividing the hour.
CRON_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)
_HOST_RE = re.compile(r"(?=.{1,253}\Z)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
_KEY_RE = re.compile(r"[A-Z0-9]{16,128}")
#: The first path segments the API keeps for itself (its schema.RESERVED_HOSTS).
_RESERVED = ("project", "projects", "reports", "events", "health", "admin", "freeze", "audit")


def host_name(value: str) -> str:
    """``value`` when it is an RFC 1123 host name the API can route; BadParameter otherwise."""
    if not _HOST_RE.fullmatch(value or "") or value in _RESERVED:
        raise click.BadParameter(f"{value!r} is not an RFC 1123 host name (lowercase letters, "
                                 "digits, '-' and '.'), or is reserved by the API")
    return value


def interval_seconds(value: int | None) -> int:
    """``value`` (seconds) when cron can run the agent that often, evenly; BadParameter otherwise."""
    seconds = DEFAULT_INTERVAL if value is None else value
    if seconds % 60 or seconds // 60 not in CRON_MINUTES:
        raise click.BadParameter(f"{seconds} is not an interval cron runs at evenly: use "
                                 f"{', '.join(str(m * 60) for m in CRON_MINUTES)} seconds")
    return seconds


def cron_line(interval: int = DEFAULT_INTERVAL) -> str:
    """The crontab line of ``/etc/cron.d/fabu`` that runs the agent every ``interval`` seconds."""
    minutes = interval // 60
    schedule = {1: "*", 60: "0"}.get(minutes, f"*/{minutes}")
    return f"{schedule} * * * * deploy {AGENT_PATH}"


def agent_env(api_url: str, region: str, host: str, key: str | None = None,
              secret: str | None = None, interval: int = DEFAULT_INTERVAL) -> str:
    """The text of ``/etc/fabu/agent.env`` for one host (see docs/host.md)."""
    lines = [f"# /etc/fabu/agent.env for {host} (mode 0640 root:deploy)",
             f"FABU_API_URL={api_url}", f"FABU_REGION={region}", f"FABU_HOST={host}"]
    if key:
        lines += [f"AWS_ACCESS_KEY_ID={key}", f"AWS_SECRET_ACCESS_KEY={secret or '<secret>'}"]
    else:
        lines += [f"# Static keys of IAM user fabu-hosts/{host}, or nothing on EC2 with the",
                  "# instance role fabu-host (read through IMDSv2):",
                  "# AWS_ACCESS_KEY_ID=AKIA...", "# AWS_SECRET_ACCESS_KEY=..."]
    lines += ["FABU_ROOT=/opt/fabu",
              "# what the cron line runs at (seconds); the agent waits a per-host splay of up to",
              f"# 80% of it ({interval * 4 // 5} s) before polling (FABU_SPLAY=0 turns it off)",
              f"FABU_INTERVAL={interval}"]
    return "\n".join(lines) + "\n"


def _puppet(api_url: str, region: str, host: str, key: str | None, interval: int) -> str:
    keys = ""
    if key:
        keys = (f"\n    access_key_id     => '{key}',\n"
                "    secret_access_key => Sensitive(lookup('fabu::secret_access_key')),")
    return ("# The class fabu::agent is in docs/host.md (Puppet).\n"
            f"node '{host}' {{\n  class {{ 'fabu::agent':\n    api_url => '{api_url}',\n"
            f"    region   => '{region}',\n    interval => {interval},{keys}\n  }}\n}}\n")


@click.group()
def agent() -> None:
    """Install the cron agent on hosts."""


@agent.command("install")
@click.argument("host", callback=lambda ctx, param, value: host_name(value))
@click.option("--access-key-id", metavar="KEY", help="The host's static key (omit on EC2 with the "
              "fabu-host instance role).")
@click.option("--secret-access-key", metavar="SECRET", envvar="FABU_HOST_SECRET_ACCESS_KEY",
              help="Its secret (better: env FABU_HOST_SECRET_ACCESS_KEY).")
@click.option("--interval", type=int, metavar="SECONDS", callback=lambda ctx, param, value:
              interval_seconds(value), help="How often cron runs the agent (default 300: */5); "
              "the cron line and FABU_INTERVAL say the same.")
@click.pass_context
def agent_install(ctx: click.Context, host: str, access_key_id: str | None,
                  secret_access_key: str | None, interval: int) -> None:
    """Print the crontab line, agent.env and a Puppet snippet for HOST."""
    api = client(ctx)
    render.out.print(f"# 1. the agent: install -D -m 0755 agent/fabu-agent.sh {AGENT_PATH}")
    render.out.print("# 2. /etc/cron.d/fabu")
    render.out.print(cron_line(interval))
    render.out.print("# 3. /etc/fabu/agent.env")
    render.out.print(render.escape(agent_env(api.endpoint, api.region, host, access_key_id,
                                             secret_access_key, interval)))
    render.out.print("# or all of it with Puppet")
    render.out.print(render.escape(_puppet(api.endpoint, api.region, host, access_key_id,
                                           interval)))


# --- the local stack's keys -------------------------------------------------------------------

@click.group()
def local() -> None:
    """Helpers for the local stack of `make run`."""


def _fabu_module(name: str) -> ModuleType:
    """``chalicelib.auth.<name>`` from the fabu repository this CLI is installed from."""
    try:
        return __import__(f"chalicelib.auth.{name}", fromlist=[name])
    except ImportError:
        repo = Path(__file__).resolve().parents[2]
        if not (repo / "chalicelib" / "auth" / f"{name}.py").exists():
            raise ConfigError("`fabu local` needs the fabu repository (chalicelib); run it from "
                              "a checkout, with the CLI installed by `make`") from None
        sys.path.insert(0, str(repo))
        return __import__(f"chalicelib.auth.{name}", fromlist=[name])


def _principals_path(path: str | None) -> str:
    return path or os.environ.get("FABU_PRINCIPALS") or os.path.join(".fabu", "principals.json")


class _HostKeyGroup(click.Group):
    """``host-key NAME`` mints (as it always did); ``host-key list|revoke|mint ...`` otherwise."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["mint", *args]
        return super().parse_args(ctx, args)


_principals_option = click.option(
    "--principals", "path", metavar="FILE",
    help="Principals file (default: $FABU_PRINCIPALS or .fabu/principals.json).")


@local.group("host-key", cls=_HostKeyGroup)
def host_key() -> None:
    """Host keys of the local stack: `host-key NAME` mints one; `list`, `revoke NAME|KEY`.

    A host named `list`, `revoke` or `mint` is minted with `host-key mint NAME`.
    """


@host_key.command("mint")
@click.argument("name", callback=lambda ctx, param, value: host_name(value))
@_principals_option
@click.option("--rotate", is_flag=True, help="Revoke the host's other keys once the new one is in.")
@click.pass_context
def mint(ctx: click.Context, name: str, path: str | None, rotate: bool) -> None:
    """Mint host credentials for NAME into the local principals file; print its agent.env."""
    path = _principals_path(path)
    authz = _fabu_module("authz")
    arn = authz.host_user_arn(name)
    minted = _fabu_module("principals").add_principal(arn, path=path)
    api = client(ctx)
    render.note(f"minted {minted.access_key_id} for {arn} in {path}")
    revoked = []
    if rotate:
        for key, _ in _revoke(path, lambda key, entry: key != minted.access_key_id
                              and authz.host_of_arn(entry.get("arn", "")) == name):
            render.note(f"revoked {key} (the host's previous key)")
            revoked.append(key)
    audit.note(ctx, "key.minted", {"host": name, "access_key_id": minted.access_key_id,
                                   "revoked": revoked[:20]}, f"minted a key for host {name}")
    render.out.print(render.escape(agent_env(api.endpoint, api.region, name,
                                             minted.access_key_id, minted.secret_access_key)))


@host_key.command("list")
@_principals_option
@click.pass_context
def list_keys(ctx: click.Context, path: str | None) -> None:
    """The keys of the principals file: key id, who it is (never a secret)."""
    path = _principals_path(path)
    authz = _fabu_module("authz")
    rows = []
    for key, entry in sorted(_read(path).items(), key=lambda kv: (str(kv[1].get("arn")), kv[0])):
        arn = entry.get("arn", "")
        host = authz.host_of_arn(arn)
        rows.append({"access_key_id": key, "arn": arn, "host": host,
                     "kind": "host" if host else "other", "temporary": bool(entry.get("session_token"))})
    if json_out(ctx):
        render.as_json({"principals": path, "keys": rows})
    else:
        render.key_table(path, rows)


@host_key.command("revoke")
@click.argument("target", metavar="NAME|KEY")
@_principals_option
@click.option("--force", is_flag=True, help="Also revoke a key that is not a host's (an admin's).")
@click.pass_context
def revoke(ctx: click.Context, target: str, path: str | None, force: bool) -> None:
    """Remove every key of host NAME, or the access key KEY, from the principals file.

    The running API refuses a revoked key at once (it re-reads the file when it changes).
    """
    path = _principals_path(path)
    authz = _fabu_module("authz")
    entries = _read(path)
    if target in entries:
        host = authz.host_of_arn(entries[target].get("arn", ""))
        if host is None and not force:
            fail(ctx, f"{target} is not a host key ({entries[target].get('arn')}); revoking it "
                      "may lock you out", EXIT_API, "add --force to revoke it anyway")

        def chosen(key: str, entry: dict) -> bool:
            return key == target
    elif _HOST_RE.fullmatch(target):
        def chosen(key: str, entry: dict) -> bool:
            return authz.host_of_arn(entry.get("arn", "")) == target
    else:
        chosen = None
    removed = _revoke(path, chosen) if chosen else []
    if not removed:
        what = "key" if _KEY_RE.fullmatch(target) else "host key"
        fail(ctx, f"no {what} {target!r} in {path}", EXIT_API,
             "`fabu local host-key list` shows the keys there")
    for key, arn in removed:
        render.out.print(render.escape(f"revoked {key} ({arn}) from {path}"))
    audit.note(ctx, "key.revoked", {"target": target, "keys": [key for key, _ in removed][:20]},
               f"revoked {len(removed)} key(s) of {target}")


def _read(path: str) -> dict:
    """The principals file as JSON (an absent file has no keys)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        # Name the error class only: a JSON parser's message could quote a secret.
        raise ConfigError(f"cannot read principals file {path}: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"principals file {path} must hold a JSON object")
    return {key: entry for key, entry in data.items() if isinstance(entry, dict)}


def _revoke(path: str, chosen) -> list[tuple[str, str]]:
    """Remove the entries ``chosen(key, entry)`` picks, atomically (``chalicelib.auth.principals``,
    under the lock its writers take); ``[(key, arn)]`` removed."""
    principals = _fabu_module("principals")
    try:
        return principals.remove_principals(path, chosen)
    except principals.PrincipalsError as exc:
        raise ConfigError(str(exc)) from None
