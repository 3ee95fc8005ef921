"""Who is calling (a host or an admin) and what they may call, from the IAM identity alone.

The identity is ``context["identity"]["userArn"]`` exactly as API Gateway's IAM authorizer fills
it on AWS, and as :mod:`chalicelib.auth.localauth` fills it in stage ``local``; no header is
trusted.

- ``arn:aws:iam::<acct>:user/fabu-hosts/<host>`` and
  ``arn:aws:sts::<acct>:assumed-role/fabu-host/<host>`` are the host ``<host>``; they may call
  only ``/api/v1/<host>...``. A host ARN is a host even when an admin pattern also matches it.
  Any other ARN under those two paths (``user/fabu-hosts/eu/web-1``, a session name that is no
  host name) is refused, even when an admin pattern matches it: the host path is never an admin.
- Any other ARN equal to, or matching (``fnmatch``, case-sensitive; ``*`` also crosses ``/``), one
  of the admin patterns (``FABU_ADMIN_ARNS``, comma-separated) is an admin: the project routes.
  ``{account}`` in a pattern stands for the API's own account id (API Gateway's
  ``requestContext.accountId``). Outside stage ``local`` a pattern must name its account: one
  whose account field is not 12 digits (``*``, a glob, empty) or with a glob before it is
  refused — logged once and ignored.
- Everyone else is refused.
"""

import logging
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from chalicelib.auth.sigv4 import AuthError
from chalicelib.projects.fields import host_name_problem

log = logging.getLogger(__name__)

LOCAL_ACCOUNT_ID = "000000000000"
HOST_USER_PATH = "/fabu-hosts/"
HOST_ROLE_NAME = "fabu-host"
#: Stands for the API's own account id in an admin pattern.
ACCOUNT_PLACEHOLDER = "{account}"
_HOST_ARN_RES = (
    re.compile(r"arn:aws[a-z-]*:iam::(?P<account>\d{12}):user/fabu-hosts/(?P<host>[^/]+)"),
    re.compile(r"arn:aws[a-z-]*:sts::(?P<account>\d{12}):assumed-role/fabu-host/(?P<host>[^/]+)"),
)
#: Everything under the host paths, well-formed or not.
_HOST_PATH_RES = (
    re.compile(r"arn:[^:]*:iam::[^:]*:user/fabu-hosts/.*", re.DOTALL),
    re.compile(r"arn:[^:]*:sts::[^:]*:assumed-role/fabu-host/.*", re.DOTALL),
)
_ACCOUNT_RE = re.compile(r"\d{12}")
_GLOB_CHARS = frozenset("*?[")
_refused_patterns: set[str] = set()


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


def admin_patterns(environ: Mapping[str, str] | None = None, *,
                   account: str | None = None) -> list[str]:
    """The admin ARNs and globs of this stage, from ``FABU_ADMIN_ARNS`` (comma-separated).

    ``{account}`` is replaced by ``account`` (the API's own account id). A pattern that cannot
    be pinned to one account (see the module docstring) is left out and logged once.
    """
    env = os.environ if environ is None else environ
    local = env.get("FABU_STAGE", "local") == "local"
    patterns = []
    for raw in env.get("FABU_ADMIN_ARNS", "").split(","):
        pattern = raw.strip()
        if not pattern:
            continue
        if ACCOUNT_PLACEHOLDER in pattern:
            if not isinstance(account, str) or not _ACCOUNT_RE.fullmatch(account):
                _refuse(pattern, f"the API's own account id is unknown ({account!r})")
                continue
            pattern = pattern.replace(ACCOUNT_PLACEHOLDER, account)
        problem = None if local else pattern_problem(pattern)
        if problem:
            _refuse(raw.strip(), problem)
            continue
        patterns.append(pattern)
    return patterns


def pattern_problem(pattern: str) -> str | None:
    """Why an admin pattern could match more than one account, or None when it cannot."""
    fields = pattern.split(":", 5)
    if len(fields) < 6:
        return "is not arn:<partition>:<service>:<region>:<account>:<resource>"
    if any(char in _GLOB_CHARS for field in fields[:5] for char in field):
        return "has a glob before the resource (in the partition, service, region or account)"
    if not _ACCOUNT_RE.fullmatch(fields[4]):
        return f"has no 12-digit account id (use {ACCOUNT_PLACEHOLDER} for the API's own)"
    return None


def _refuse(pattern: str, problem: str) -> None:
    if pattern not in _refused_patterns:
        _refused_patterns.add(pattern)
        log.error("FABU_ADMIN_ARNS: ignoring %r: %s", pattern, problem)


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
    if any(pattern.fullmatch(arn) for pattern in _HOST_PATH_RES):
        raise Forbidden(f"{arn} is under the fabu host path but is not one host: expected "
                        f"user/fabu-hosts/<host> or assumed-role/fabu-host/<host> with <host> an "
                        "RFC 1123 host name and a 12-digit account")
    if any(arn == pattern or fnmatchcase(arn, pattern) for pattern in patterns):
        return Caller(arn=arn, kind="admin")
    raise Forbidden(f"{arn} is neither a fabu host nor a listed admin")


def host_of_arn(arn: str) -> str | None:
    """The host name a host ARN stands for, or None for any other ARN."""
    for pattern in _HOST_ARN_RES:
        match = pattern.fullmatch(arn)
        if match:
            # Host names are DNS names, case-insensitive; routes compare them lower-cased.
            host = match["host"].lower()
            return None if host_name_problem(host) else host
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
