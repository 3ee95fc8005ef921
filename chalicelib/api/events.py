"""Route of a project's event timeline (admin callers only): newest first, paginated."""
from chalice import Blueprint, Response

from chalicelib import events
from chalicelib.api import access
from chalicelib.api.http import handles_errors, int_query, query, respond

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/events", methods=["GET"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def project_events(project_id: str) -> Response:
    request = bp.current_request
    access.admin(request)
    items, cursor = events.project_page(
        project_id, limit=int_query(request, "limit", 50, 1, 200), cursor=query(request, "cursor"),
        since=query(request, "since"), order=query(request, "order"))
    return respond({"events": items, "next_cursor": cursor})
