"""Routes of the stage-wide deploy freeze (admin callers only): freeze, read, thaw.

``POST /api/v1/freeze`` ``{reason, until?, replace?}`` is 201 with the new freeze, 200 when it
replaced one (``replace``), 409 when the stage is already frozen; ``GET`` is 200 with the freeze
or ``{"frozen": false}``; ``DELETE`` is 200, or 404 when the stage is not frozen. The logic is
``chalicelib.rollout.freeze``. ``freeze`` is a reserved first path segment, never a host name.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import bool_query, handles_errors, json_body, respond
from chalicelib.rollout import freeze

bp = Blueprint(__name__)


@bp.route("/api/v1/freeze", methods=["GET"], authorizer=access.iam, cors=access.cors)
@handles_errors
def freeze_status() -> Response:
    access.admin(bp.current_request)
    return respond(freeze.status())


@bp.route("/api/v1/freeze", methods=["POST"], authorizer=access.iam, cors=access.cors)
@handles_errors
def freeze_stage() -> Response:
    request = bp.current_request
    actor = access.admin(request)
    shown, created = freeze.freeze(json_body(request), actor, replace=bool_query(request, "replace"))
    return respond(shown, 201 if created else 200)


@bp.route("/api/v1/freeze", methods=["DELETE"], authorizer=access.iam, cors=access.cors)
@handles_errors
def thaw_stage() -> Response:
    actor = access.admin(bp.current_request)
    return respond(freeze.thaw(actor))
