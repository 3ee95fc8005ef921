"""Routes of the daily reports (admin callers only): the latest one, or one UTC day's.

``?format=html`` answers the self-contained HTML page instead of the JSON data.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.notify import reports
from chalicelib.api.http import handles_errors, query, respond

bp = Blueprint(__name__)


def _answer(fetch):
    fmt = query(bp.current_request, "format", "json")
    report = fetch(fmt)
    if fmt == "html":
        return Response(body=report, status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
    return respond(report)


@bp.route("/api/v1/reports/latest", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def latest_report():
    access.admin(bp.current_request)
    return _answer(reports.latest)


@bp.route("/api/v1/reports/{date}", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def report_of(date):
    access.admin(bp.current_request)
    return _answer(lambda fmt: reports.get(date, fmt))
