"""Who is calling (a host or an admin) and what they may call, from the IAM identity alone.

The identity is ``context["identity"]["userArn"]`` exactly as API Gateway's IAM authorizer fills
it on AWS, and as :mod:`chalicelib.auth.localauth` fills it in stage ``local``; no header is
trusted.

- ``arn:aws:iam::<acct>:user/fabu-hosts/<host>`` and
  ``arn:aws:sts::<acct>:assumed-role/fabu-host/<host>`` are the host ``<host>``; they may call
  only ``/api/v1/<host>...``. A host ARN is a host even when an admin pattern also matches it.
- Any other ARN equal to, or matching (``fnmatch``, case-sensitive; ``*`` also crosses ``/``), one
  of the admin patterns (``FABU_ADMIN_ARNS``, comma-separated) is an admin: the project routes.
- Everyone else is refused.
"""

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from chalicelib.auth.sigv4 import AuthError

LOCAL_ACCOUNT_ID = "000000000000"
HOST_USER_PATH = "/fabu-hosts/"
HOST_ROLE_NAME = "fabu-host"
_HOST_ARN_RES = (
    re.compile(r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):user/fabu-hosts/(?P<host>[^/]+)"),
    re.compile(r"arn:aws[a-z-]*:sts::(?P<account>\d{12}):assumed-role/fabu-host/(?P<host>[^/]+)"),
)


class Forbidden(AuthError):
    """The caller is authenticated but may not call this route (or is nobody we know).

    Every route's refusal: an ``AuthError``, hence a ``FabuError`` with status 403, which passes
    straight through the Blueprints to ``api.http.handles_errors``: ``403 {"error": <reason>}``.
    """


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: a host (with its name) or an admin."""

    arn: str
    kind: str  # "host" | "admin"
    host: str | None = None


def admin_patterns(environ: Mapping[str, str] | None = None) -> list[str]:
    """The admin ARNs and globs of this stage, from ``FABU_ADMIN_ARNS`` (comma-separated)."""
    raw = (os.environ if environ is None else environ).get("FABU_ADMIN_ARNS", "")
    return [pattern.strip() for pattern in raw.split(",") if pattern.strip()]


def caller_from_context(context: Mapping, patterns: Iterable[str]) -> Caller:
    """Classify the caller of an IAM-authorized request; raise :class:`Forbidden` if unknown."""
    identity = context.get("identity") or {}
    arn = identity.get("userArn")
    if not arn:
        raise Forbidden("no IAM identity on the request (is the route behind IAMAuthorizer?)")
    return classify_arn(arn, patterns)


def classify_arn(arn: str, patterns: Iterable[str]) -> Caller:
    """A :class:`Caller` for this ARN, or :class:`Forbidden` when it is neither host nor admin."""
    host = host_of_arn(arn)
    if host is not None:
        return Caller(arn=arn, kind="host", host=host)
    if any(arn == pattern or fnmatchcase(arn, pattern) for pattern in patterns):
        return Caller(arn=arn, kind="admin")
    raise Forbidden(f"{arn} is neither a fabu host nor a listed admin")


def host_of_arn(arn: str) -> str | None:
    """The host name a host ARN stands for, or None for any other ARN."""
    for pattern in _HOST_ARN_RES:
        match = pattern.fullmatch(arn)
        if match:
            # Host names are DNS names, case-insensitive; routes compare them lower-cased.
            return match["host"].lower()
    return None


def host_user_arn(host: str, account: str = LOCAL_ACCOUNT_ID) -> str:
    """The IAM user ARN of a host (what ``fabu local host-key NAME`` mints)."""
    return f"arn:aws:iam::{account}:user{HOST_USER_PATH}{host}"


def require_host(caller: Caller, host: str, *, allow_admin: bool = False) -> None:
    """Let only the host ``host`` itself (and admins, when ``allow_admin``) through."""
    if caller.kind == "host" and caller.host == host:
        return
    if caller.kind == "admin" and allow_admin:
        return
    if caller.kind == "host":
        raise Forbidden(f"host {caller.host} may only call /api/v1/{caller.host}/...")
    raise Forbidden(f"only host {host} may call /api/v1/{host}/...")


def require_admin(caller: Caller) -> None:
    """Let only admins through (the project routes)."""
    if caller.kind != "admin":
        raise Forbidden(
            f"host {caller.host} may only call /api/v1/{caller.host}/..., not the project routes"
        )
