"""Route of the stage's audit log (admin callers only), and the middleware naming its requests.

``GET /api/v1/audit?actor=&project=&since=&until=&cursor=&limit=`` answers one page, newest
first (``chalicelib.audit.query``); ``POST /api/v1/audit`` ``{action, detail?, message?}``
records an admin action the CLI did itself (the local stack's host keys: 201 with the entry,
``chalicelib.audit.log.record_from_client``). ``audit`` is a reserved first path segment.
``request_ids`` (an ``http`` middleware, registered after the SigV4 one) binds each request's
id, so the audit entries its admin action writes carry it (``chalicelib.audit.log``).
"""
from collections.abc import Callable
from typing import Any

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api import access
from chalicelib.api.http import handles_errors, int_query, json_body, query, respond
from chalicelib.audit import log as audit_log
from chalicelib.audit import query as audit_query

bp = Blueprint(__name__)


@bp.route("/api/v1/audit", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def audit_page() -> Response:
    request = bp.current_request
    access.admin(request)
    return respond(audit_query.page(
        actor=query(request, "actor"), project=query(request, "project"),
        since=query(request, "since"), until=query(request, "until"),
        cursor=query(request, "cursor"),
        limit=int_query(request, "limit", audit_query.DEFAULT_LIMIT, 1, audit_query.MAX_LIMIT)))


@bp.route("/api/v1/audit", methods=["POST"], authorizer=access.iam, cors=access.cors)
@handles_errors
def audit_note() -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(audit_log.record_from_client(json_body(request), actor), 201)


def request_ids(event: Request, get_response: Callable[[Request], Any]) -> Any:
    """Bind the request's id (API Gateway's ``requestId``) for the audit entries it writes."""
    with audit_log.bound_request((event.context or {}).get("requestId")):
        return get_response(event)
