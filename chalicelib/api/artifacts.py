"""Routes of the CI upload path: a presigned PUT for a tarball CI built, then its verification."""
from chalice import Blueprint

from chalicelib.api import access
from chalicelib.build import worker as builds
from chalicelib.projects import service as projects
from chalicelib.api.http import handles_errors, json_body, respond

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/artifact", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def request_upload(project_id):
    request = bp.current_request
    actor = access.admin(request)
    body = json_body(request)
    project = projects.get(project_id)
    ci_server = body.get("ci_server") or project.get("ci_server")
    return respond(builds.request_ci_upload(project_id, body.get("version"), body.get("sha256"),
                                            ci_server, actor), 201)


@bp.route("/api/v1/project/{project_id}/artifact/complete", methods=["POST"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def complete_upload(project_id):
    request = bp.current_request
    actor = access.admin(request)
    body = json_body(request)
    projects.get(project_id)
    return respond(builds.complete_ci_upload(project_id, body.get("version"), actor))
