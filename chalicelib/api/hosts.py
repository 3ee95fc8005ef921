"""Routes of the host protocol (each host may call only its own). Parse, call, answer."""
from chalice import Blueprint, Response

from chalicelib.api import access
from chalicelib.api.http import handles_errors, json_body, query, respond
from chalicelib.hosts import deploy, reports
from chalicelib.hosts import poll as polling

bp = Blueprint(__name__)


@bp.route("/api/v1/{host}", methods=["GET"], authorizer=access.iam)
@handles_errors
def poll(host: str) -> Response:
    request = bp.current_request
    access.host(request, host)
    summary = polling.poll(host.lower(), current=query(request, "current"))
    if summary is None:
        return Response(body="", status_code=204)
    return respond(summary)


@bp.route("/api/v1/{host}/deploy", methods=["GET"], authorizer=access.iam)
@handles_errors
def deploy_script(host: str) -> Response:
    access.host(bp.current_request, host)
    text = deploy.deploy_script(host.lower())
    return Response(body=text, status_code=200,
                    headers={"Content-Type": "text/x-shellscript; charset=utf-8",
                             "Cache-Control": "no-store"})


@bp.route("/api/v1/{host}/report", methods=["POST"], authorizer=access.iam)
@handles_errors
def report(host: str) -> Response:
    request = bp.current_request
    access.host(request, host)
    return respond(reports.report(host.lower(), json_body(request)))
