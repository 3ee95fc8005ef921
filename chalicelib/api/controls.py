"""Routes of the rollout controls (admin callers only): promote, pause, resume, rollback.

Each parses the request, calls one function of ``chalicelib.rollout.controls`` and answers with
the rollout summary after the change; a control that the rollout's state forbids is a 409, a
``?to=`` version without a ready release a 400.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import bool_query, handles_errors, query, respond
from chalicelib.rollout import controls

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/promote", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def promote(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(controls.promote(project_id, actor, full=bool_query(request, "full"),
                                    override_freeze=bool_query(request, "override_freeze"),
                                    reason=query(request, "reason")))


@bp.route("/api/v1/project/{project_id}/pause", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def pause(project_id: str) -> Response:
    actor = access.admin(bp.current_request)
    return respond(controls.pause(project_id, actor))


@bp.route("/api/v1/project/{project_id}/resume", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def resume(project_id: str) -> Response:
    actor = access.admin(bp.current_request)
    return respond(controls.resume(project_id, actor))


@bp.route("/api/v1/project/{project_id}/rollback", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def rollback(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(controls.rollback(project_id, actor, to=query(request, "to")))
