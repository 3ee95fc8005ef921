"""Route of a project's hosts a page at a time (admin callers only): filters and a signed cursor.

``GET /api/v1/project/{id}/hosts?status=&wave=&zone=&member=&q=&cursor=&limit=`` (see
``chalicelib.rollout.members_view``).
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, int_query, query, respond
from chalicelib.rollout import members_view

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/hosts", methods=["GET"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def project_hosts(project_id: str) -> Response:
    request = bp.current_request
    access.admin(request)
    return respond(members_view.page(
        project_id, status=query(request, "status"), wave=query(request, "wave"),
        zone=query(request, "zone"), member=query(request, "member"), q=query(request, "q"),
        cursor=query(request, "cursor"),
        limit=int_query(request, "limit", members_view.DEFAULT_LIMIT, 1, members_view.MAX_LIMIT)))
