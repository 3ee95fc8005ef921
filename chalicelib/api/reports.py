"""Routes of the daily reports (admin callers only): list the days, make one now, read one.

``GET /api/v1/reports`` lists the days that have a report (newest first, paginated);
``POST /api/v1/reports`` makes (or remakes) one day's report now, today's so far by default;
``GET /api/v1/reports/latest`` and ``/api/v1/reports/{date}`` read one, ``?format=html`` the page.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, int_query, json_body, query, respond
from chalicelib.notify import report_store, reports

bp = Blueprint(__name__)


def _answer(report: dict | str, fmt: str) -> Response:
    if fmt == "html":
        return Response(body=report, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
    return respond(report)


@bp.route("/api/v1/reports", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def list_reports() -> Response:
    request = bp.current_request
    access.admin(request)
    items, cursor = report_store.list_days(
        int_query(request, "limit", report_store.DEFAULT_LIST_LIMIT, 1, report_store.MAX_LIST_LIMIT),
        query(request, "cursor"))
    return respond({"reports": items, "next_cursor": cursor})


@bp.route("/api/v1/reports", methods=["POST"], authorizer=access.iam, cors=access.cors)
@handles_errors
def generate_report() -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(reports.generate_on_demand(json_body(request, required=False), actor))


@bp.route("/api/v1/reports/latest", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def latest_report() -> Response:
    request = bp.current_request
    access.admin(request)
    fmt = query(request, "format", "json")
    return _answer(report_store.latest(fmt), fmt)


@bp.route("/api/v1/reports/{date}", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def report_of(date: str) -> Response:
    request = bp.current_request
    access.admin(request)
    fmt = query(request, "format", "json")
    return _answer(report_store.get(date, fmt), fmt)
