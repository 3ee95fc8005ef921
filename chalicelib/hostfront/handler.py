"""The Lambda handler of the host front, ``HostFront``: the host protocol's four routes behind
both of its doors.

* the Function URL (``AuthType AWS_IAM``): Lambda verifies SigV4 (service ``lambda``) before the
  handler runs and hands it payload format 2.0, the caller in ``requestContext.authorizer.iam``;
* the REST API (API Gateway, IAM authorizer, service ``execute-api``): ``make package`` points
  the integrations of the four host paths at this function (``infra/package.py``), which gets
  API Gateway's Lambda proxy payload 1.0, the caller in ``requestContext.identity.userArn``.

``chalicelib.hostfront.payloads`` reads either event and shapes the answer. The handler serves
exactly the four host routes of ``chalicelib.hostfront.routes`` with the REST API's identity
rule, status codes, headers and error JSON (``chalicelib.hostfront.failures``); anything else is
a 404 naming where the route is served. It imports neither chalice nor ``chalicelib.api``, and
each route loads only its own domain code, so a cold poll costs little more than a fresh boto3
client and one Query (``bench/bench_coldstart.py``).
"""
import logging

from chalicelib.hostfront import failures, inputs, payloads, routes
from chalicelib.projects.schema import RESERVED_HOSTS as _REST_ONLY  # the REST API's own

log = logging.getLogger(__name__)


def handler(event: dict, context: object = None) -> dict:
    """Answer one request, a Function URL's (payload 2.0) or the REST API's (proxy payload 1.0),
    in its own format's response shape."""
    request = payloads.parse(event)
    try:
        reply = _serve(request)
    except Exception as exc:  # noqa: BLE001 - the one place every error is answered
        answer = failures.answer(exc, request.request_id,
                                 f"{request.method} {inputs.printable(request.path[:200])}", log)
        reply = routes.Reply(answer.status, answer.body, answer.headers)
    return payloads.response(reply.status, reply.body, reply.headers)


def _serve(request: payloads.Request) -> routes.Reply:
    host = request.host
    if request.route is None or host is None or host in _REST_ONLY:
        return _not_found(request)
    inputs.check_path_parameters({"host": host})
    context = request.context
    if request.route == "poll":
        return routes.poll(context, host, request.query("current"))
    if request.route == "deploy":
        return routes.deploy_script(context, host)
    if request.route == "config":
        return routes.secret_config(context, host, request.query("deploy_id"))
    return routes.report(context, host, request.body())


def _not_found(request: payloads.Request) -> routes.Reply:
    path, method = request.path, inputs.printable(request.method[:20])
    segment = path[len("/api/v1/"):].split("/", 1)[0] if path.startswith("/api/v1/") else ""
    shown = inputs.printable(path[:200])
    served = ", ".join(routes.HOST_ROUTES)
    if request.rest:
        message = (f"no route {method} {shown} on the host front (HostFront), which serves "
                   f"only {served}: the REST API's other routes are the API function's "
                   "(APIHandler); a REST API that sends this one here is misconfigured (deploy "
                   "the template of make package)")
    elif segment in _REST_ONLY:
        message = (f"{method} {shown} is not on the host front: the project routes are on the "
                   "REST API (the stage's EndpointURL); this Function URL serves only the host "
                   f"protocol: {served}")
    else:
        message = f"no route {method} {shown} on the host front; it serves only {served}"
    return routes.Reply(404, {"error": message})
