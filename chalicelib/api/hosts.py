"""Routes of the host protocol (each host may call only its own). Parse, call, answer.

The routes' logic is ``chalicelib.hostfront.routes``, shared with the Function URL front.
"""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, respond
from chalicelib.hostfront import routes

bp = Blueprint(__name__)


def _answer(reply: routes.Reply) -> Response:
    if isinstance(reply.body, dict):
        return respond(reply.body, reply.status, reply.headers)
    return Response(body=reply.body, status_code=reply.status, headers=reply.headers)


@bp.route("/api/v1/{host}", methods=["GET"], authorizer=access.iam)
@handles_errors
def poll(host: str) -> Response:
    request = bp.current_request
    current = (request.query_params or {}).get("current")
    return _answer(routes.poll(request.context or {}, host, current))


@bp.route("/api/v1/{host}/deploy", methods=["GET"], authorizer=access.iam)
@handles_errors
def deploy_script(host: str) -> Response:
    return _answer(routes.deploy_script(bp.current_request.context or {}, host))


@bp.route("/api/v1/{host}/report", methods=["POST"], authorizer=access.iam)
@handles_errors
def report(host: str) -> Response:
    request = bp.current_request
    return _answer(routes.report(request.context or {}, host, request.raw_body))


@bp.route("/api/v1/{host}/config", methods=["GET"], authorizer=access.iam)
@handles_errors
def secret_config(host: str) -> Response:
    request = bp.current_request
    deploy_id = (request.query_params or {}).get("deploy_id")
    return _answer(routes.secret_config(request.context or {}, host, deploy_id))
