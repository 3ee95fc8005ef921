"""Routes the web console needs beyond the project API (admin callers only): a host's report.

``GET /api/v1/project/{id}/hosts/{host}/report`` answers the phase reports (output included) of
the host's current deploy of that project (``chalicelib.hosts.reports.host_report``).
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, respond
from chalicelib.hosts import reports

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/hosts/{host}/report", methods=["GET"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def get_host_report(project_id: str, host: str) -> Response:
    access.admin(bp.current_request)
    return respond(reports.host_report(project_id, host.lower()))
