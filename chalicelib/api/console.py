"""Routes the web console needs beyond the project API (admin callers only): a host's report.

``GET /api/v1/project/{id}/hosts/{host}/report[?deploy_id=d-...]`` answers one deploy of the host
in that project (its current one unless ``deploy_id`` names one of the deploys it was issued)
with its phase reports, output included (``chalicelib.hosts.reports.host_report``).
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, query, respond
from chalicelib.hosts import reports

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/hosts/{host}/report", methods=["GET"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def get_host_report(project_id: str, host: str) -> Response:
    request = bp.current_request
    access.admin(request)
    return respond(reports.host_report(project_id, host.lower(), query(request, "deploy_id")))
