"""Route of a project's event timeline (admin callers only): newest first, paginated."""
import datetime

from chalice import Blueprint

from chalicelib import events
from chalicelib.api import access
from chalicelib.errors import NotFound, ValidationError
from chalicelib.api.http import handles_errors, int_query, query, respond
from chalicelib.models import Project

bp = Blueprint(__name__)


def _since(text):
    """``since`` as an aware UTC datetime (ISO 8601; no zone means UTC); 400 otherwise."""
    if text is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("since must be an ISO 8601 time like 2026-11-04T08:00:00Z",
                              {"since": "is not an ISO 8601 time"}) from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def _order(text):
    if text not in (None, "asc", "desc"):
        raise ValidationError("order must be asc or desc", {"order": "must be asc or desc"})
    return text != "asc"


def _check_project(project_id):
    try:
        Project.get(project_id, attributes_to_get=["id"])
    except Project.DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None


@bp.route("/api/v1/project/{project_id}/events", methods=["GET"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def project_events(project_id):
    request = bp.current_request
    access.admin(request)
    since, newest_first = _since(query(request, "since")), _order(query(request, "order"))
    _check_project(project_id)
    items, cursor = events.page(project_id, limit=int_query(request, "limit", 50, 1, 200),
                                cursor=query(request, "cursor"), since=since,
                                newest_first=newest_first)
    return respond({"events": items, "next_cursor": cursor})
