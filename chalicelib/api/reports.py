"""Routes of the daily reports (admin callers only): the latest one, or one UTC day's.

``?format=html`` answers the self-contained HTML page instead of the JSON data.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, query, respond
from chalicelib.notify import reports

bp = Blueprint(__name__)


def _answer(report: dict | str, fmt: str) -> Response:
    if fmt == "html":
        return Response(body=report, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
    return respond(report)


@bp.route("/api/v1/reports/latest", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def latest_report() -> Response:
    request = bp.current_request
    access.admin(request)
    fmt = query(request, "format", "json")
    return _answer(reports.latest(fmt), fmt)


@bp.route("/api/v1/reports/{date}", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def report_of(date: str) -> Response:
    request = bp.current_request
    access.admin(request)
    fmt = query(request, "format", "json")
    return _answer(reports.get(date, fmt), fmt)
