"""Routes of the operators' project API (admin callers only). Each handler: parse, call, answer."""
from chalice import Blueprint

from chalicelib.api import access
from chalicelib.projects import service as projects
from chalicelib.api.http import bool_query, handles_errors, int_query, json_body, query, respond

bp = Blueprint(__name__)


def _etag_headers(project):
    return {"ETag": project["etag"]}


@bp.route("/api/v1/project", methods=["POST"], authorizer=access.iam, cors=access.cors)
@handles_errors
def create_project():
    request = bp.current_request
    actor = access.admin(request)
    project = projects.create(json_body(request), actor)
    return respond(project, 201, _etag_headers(project))


@bp.route("/api/v1/project", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def list_projects():
    request = bp.current_request
    access.admin(request)
    items, cursor = projects.list_page(int_query(request, "limit", 50, 1, 100),
                                       query(request, "cursor"))
    return respond({"projects": items, "next_cursor": cursor})


@bp.route("/api/v1/project/{project_id}", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def get_project(project_id):
    access.admin(bp.current_request)
    project = projects.get(project_id)
    return respond(project, 200, _etag_headers(project))


def _update(project_id):
    request = bp.current_request
    actor = access.admin(request)
    body = json_body(request)
    if_match = projects.parse_if_match(request.headers.get("if-match"))
    project = projects.update(project_id, body, actor, if_match=if_match)
    return respond(project, 200, _etag_headers(project))


@bp.route("/api/v1/project", methods=["PUT"], authorizer=access.iam, cors=access.cors)
@handles_errors
def update_project_in_body():
    body = json_body(bp.current_request)
    project_id = body.get("id") or body.get("name")
    if not isinstance(project_id, str) or not project_id:
        from chalicelib.errors import ValidationError
        raise ValidationError("PUT /api/v1/project needs the project id in the body",
                              {"id": "is required"})
    return _update(project_id)


@bp.route("/api/v1/project/{project_id}", methods=["PUT"], authorizer=access.iam, cors=access.cors)
@handles_errors
def update_project(project_id):
    return _update(project_id)


@bp.route("/api/v1/project/{project_id}", methods=["DELETE"], authorizer=access.iam, cors=access.cors)
@handles_errors
def delete_project(project_id):
    request = bp.current_request
    actor = access.admin(request)
    if_match = projects.parse_if_match(request.headers.get("if-match"))
    return respond(projects.delete(project_id, actor, force=bool_query(request, "force"),
                                   if_match=if_match))
