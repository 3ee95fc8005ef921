"""Stage ``local``: check SigV4 in the app, as API Gateway's IAMAuthorizer does on AWS.

``chalice local`` does not enforce ``IAMAuthorizer``: it issues a warning and lets every request
through, signed or not, with a ``context["identity"]`` holding only ``sourceIp``. So this HTTP
middleware verifies the signature of every request to an IAM-protected route against the
principals file, and on success fills ``context["identity"]`` the way API Gateway does. It does
nothing unless ``FABU_LOCAL_SIGV4=1`` (set only by the local stage), so on AWS the identity comes
from API Gateway alone.

Wire it in ``app.py``::

    app.register_middleware(make_sigv4_middleware(app), 'http')
"""

import logging
import os
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Chalice, IAMAuthorizer, Response
from chalice.app import Request

from chalicelib.auth import principals
from chalicelib.auth.authz import LOCAL_ACCOUNT_ID
from chalicelib.auth.sigv4 import AuthError, Principal, verify_request

_log = logging.getLogger(__name__)
_ENABLED_VALUES = ("1", "true", "yes")

Lookup = Callable[[str], Principal | None]


def make_sigv4_middleware(
    app: Chalice, *, lookup: Lookup | None = None
) -> Callable[[Request, Callable[[Request], Any]], Any]:
    """An ``http`` middleware verifying SigV4 for ``app``'s IAMAuthorizer routes.

    ``lookup`` defaults to the principals file named by ``FABU_PRINCIPALS`` (read per request).
    """

    def sigv4_middleware(event: Request, get_response: Callable[[Request], Any]) -> Any:
        if not local_sigv4_enabled():
            return get_response(event)
        event.context.setdefault("requestId", str(uuid.uuid4()))
        event.context.setdefault("accountId", LOCAL_ACCOUNT_ID)
        if not _is_iam_route(app, event):
            return get_response(event)
        try:
            principal = _verify(event, lookup or principals.lookup)
        except AuthError as exc:
            _log.info("local SigV4 refused %s %s: %s", event.method, event.context.get("path"), exc)
            return Response(status_code=403, body={"error": str(exc)},
                            headers=_cors_headers(app, event))
        event.context["identity"] = {**event.context.get("identity", {}), **identity(principal)}
        return get_response(event)

    return sigv4_middleware


def local_sigv4_enabled() -> bool:
    """Whether this process checks signatures itself (``FABU_LOCAL_SIGV4=1``)."""
    return os.environ.get("FABU_LOCAL_SIGV4", "").strip().lower() in _ENABLED_VALUES


def identity(principal: Principal) -> dict[str, str]:
    """``requestContext.identity`` as API Gateway fills it for IAM auth.

    Locally there are no IAM unique ids (AIDA.../AROA...); the access key id stands in for them.
    """
    arn = principal.arn
    user = principal.access_key_id
    if ":assumed-role/" in arn:
        user = f"{user}:{arn.rsplit('/', 1)[-1]}"
    return {
        "accessKey": principal.access_key_id,
        "accountId": _account_of(arn),
        "caller": user,
        "user": user,
        "userArn": arn,
    }


def _verify(event: Request, lookup: Lookup) -> Principal:
    body = event.raw_body
    return verify_request(
        event.method,
        _raw_path(event),
        _query_pairs(event),
        event.headers,
        body.encode("utf-8") if isinstance(body, str) else body,
        region=_region(),
        lookup=lookup,
    )


def _is_iam_route(app: Chalice, event: Request) -> bool:
    entry = app.routes.get(event.context.get("resourcePath", ""), {}).get(event.method)
    return entry is not None and isinstance(entry.authorizer, IAMAuthorizer)


def _cors_headers(app: Chalice, event: Request) -> dict[str, str]:
    # The refusal skips the view, so Chalice adds no CORS headers; without them a browser (the
    # web console) sees only "Failed to fetch" instead of the 403 and its reason.
    entry = app.routes.get(event.context.get("resourcePath", ""), {}).get(event.method)
    cors = getattr(entry, "cors", None)
    return cors.get_access_control_headers() if cors else {}


def _raw_path(event: Request) -> str:
    # chalice local puts the path as received (percent-encoded, no query) in
    # requestContext.path; API Gateway puts it at the top level of the event.
    path = event.context.get("path") or event.to_original_event().get("path") or "/"
    return path.split("?", 1)[0]


def _query_pairs(event: Request) -> list[tuple[str, str]]:
    params = event.query_params
    if params is None:
        return []
    return [(key, value) for key in params for value in params.getlist(key)]


def _region() -> str:
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if not region:
        raise AuthError("server misconfigured: AWS_DEFAULT_REGION is not set")
    return region


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""
