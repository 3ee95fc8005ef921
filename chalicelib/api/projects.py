"""Routes of the operators' project API (admin callers only). Each handler: parse, call, answer."""
from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api import access
from chalicelib.api.http import bool_query, handles_errors, int_query, json_body, query, respond
from chalicelib.errors import ValidationError
from chalicelib.projects import service as projects

bp = Blueprint(__name__)


def _etag_headers(project: dict) -> dict:
    return {"ETag": project["etag"]}


def _if_match(request: Request) -> int | None:
    """``"3"`` / ``W/"3"`` / ``3`` → 3; None when absent or ``*``; 400 when not one of ours."""
    value = request.headers.get("if-match")
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= 15):  # not '²': int() fails
        raise ValidationError("If-Match must be the ETag of the project (a number in quotes)",
                              {"If-Match": "is not an ETag this API issued"})
    return int(text)


@bp.route("/api/v1/project", methods=["POST"], authorizer=access.iam, cors=access.cors)
@handles_errors
def create_project() -> Response:
    request = bp.current_request
    actor = access.admin(request)
    project = projects.create(json_body(request), actor)
    return respond(project, 201, _etag_headers(project))


@bp.route("/api/v1/project", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def list_projects() -> Response:
    request = bp.current_request
    access.admin(request)
    lister = projects.list_scheduled if bool_query(request, "scheduled") else projects.list_page
    items, cursor = lister(int_query(request, "limit", 50, 1, 100), query(request, "cursor"))
    return respond({"projects": items, "next_cursor": cursor})


@bp.route("/api/v1/project/{project_id}", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def get_project(project_id: str) -> Response:
    access.admin(bp.current_request)
    project = projects.get(project_id)
    return respond(project, 200, _etag_headers(project))


def _update(project_id: str, body: dict | None = None) -> Response:
    """The caller must be an admin before its body is read (unless the route needed the id)."""
    request = bp.current_request
    actor = access.admin(request)
    if body is None:
        body = json_body(request)
    project = projects.update(project_id, body, actor, if_match=_if_match(request),
                              replace=bool_query(request, "replace"))
    return respond(project, 200, _etag_headers(project))


@bp.route("/api/v1/project", methods=["PUT"], authorizer=access.iam, cors=access.cors)
@handles_errors
def update_project_in_body() -> Response:
    body = json_body(bp.current_request)
    project_id = body.get("id") or body.get("name")
    if not isinstance(project_id, str) or not project_id:
        raise ValidationError("PUT /api/v1/project needs the project id in the body",
                              {"id": "is required"})
    return _update(project_id, body)


@bp.route("/api/v1/project/{project_id}", methods=["PUT"], authorizer=access.iam, cors=access.cors)
@handles_errors
def update_project(project_id: str) -> Response:
    return _update(project_id)


@bp.route("/api/v1/project/{project_id}", methods=["DELETE"], authorizer=access.iam, cors=access.cors)
@handles_errors
def delete_project(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(projects.delete(project_id, actor, force=bool_query(request, "force"),
                                   if_match=_if_match(request)))


@bp.route("/api/v1/project/{project_id}/scheduled", methods=["GET"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def scheduled_update(project_id: str) -> Response:
    access.admin(bp.current_request)
    found = projects.scheduled_update(project_id)
    return respond(found, 200, {"ETag": found["etag"]})


@bp.route("/api/v1/project/{project_id}/scheduled", methods=["DELETE"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def cancel_scheduled_update(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    cancelled = projects.cancel_scheduled(project_id, actor, if_match=_if_match(request))
    return respond(cancelled, 200, {"ETag": cancelled["etag"]})
