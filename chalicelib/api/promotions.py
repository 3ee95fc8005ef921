"""The route of promotion (admin callers only): ``POST /api/v1/project/{id}/promote-release``.

It parses the body ``{version?, force?, reason?}``, calls ``chalicelib.rollout.promotions`` and
answers the promotion with the project's rollout after it (200, also for a retry that found it
done: ``promoted: false``); 409 when the upstream's rollout is not done (naming where it
stands) or the project has no ``promote_from``, 400 for a bad body, 404 for an unknown project.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, json_body, respond
from chalicelib.rollout import promotions

bp = Blueprint(__name__)


@bp.route("/api/v1/project/{project_id}/promote-release", methods=["POST"], authorizer=access.iam,
          cors=access.cors)
@handles_errors
def promote_release(project_id: str) -> Response:
    request = bp.current_request
    actor = access.admin(request)
    return respond(promotions.promote_release(project_id, json_body(request, required=False), actor))
