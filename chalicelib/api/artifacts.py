"""Routes of the CI upload path: a presigned PUT for a tarball CI built, then its verification."""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, json_body, respond
from chalicelib.build import ci_upload

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/artifact", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def request_upload(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(ci_upload.request_ci_upload(project_id, json_body(request), actor), 201)


@bp.route("/api/v1/project/{project_id}/artifact/complete", methods=["POST"],
          authorizer=access.iam, cors=access.cors)
@handles_errors
def complete_upload(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(ci_upload.complete_ci_upload(project_id, json_body(request), actor))
