"""The Lambda handler of the host protocol's second front: a Function URL (``AuthType AWS_IAM``).

Lambda verifies SigV4 (service ``lambda``) before the handler runs and puts the caller in
``requestContext.authorizer.iam`` (payload format 2.0). The handler serves exactly the four host
routes of ``chalicelib.hostfront.routes`` with the REST API's identity rule, status codes, headers
and error JSON; anything else is 404 (a project route says the project routes are on the REST
API). It imports neither chalice nor ``chalicelib.api``, and each route loads only its own domain
code, so a cold poll costs little more than a fresh boto3 client and one Query
(``bench/bench_coldstart.py``).
"""
import base64
import binascii
import json
import logging
import re
from urllib.parse import parse_qsl, unquote

from chalicelib.hostfront import failures, inputs, routes
from chalicelib.projects.schema import RESERVED_HOSTS as _REST_ONLY  # the REST API's own

log = logging.getLogger(__name__)

_POLL_RE = re.compile(r"/api/v1/(?P<host>[^/]+)")
_DEPLOY_RE = re.compile(r"/api/v1/(?P<host>[^/]+)/deploy")
_REPORT_RE = re.compile(r"/api/v1/(?P<host>[^/]+)/report")
_CONFIG_RE = re.compile(r"/api/v1/(?P<host>[^/]+)/config")
#: The longest path and query string looked at (a Function URL request line is 8 KB at most).
MAX_PATH_CHARS = 8192


def handler(event: dict, context: object = None) -> dict:
    """Answer one Function URL request (payload format 2.0) with a Function URL response."""
    request_context = event.get("requestContext") or {}
    method = ((request_context.get("http") or {}).get("method") or "").upper()
    path = event.get("rawPath") or "/"
    rid = failures.request_id(request_context.get("requestId"))
    try:
        return _serve(event, request_context, method, path)
    except Exception as exc:  # noqa: BLE001 - the one place every error is answered
        answer = failures.answer(exc, rid, f"{method} {path[:200]}", log)
        return _response(answer.status, answer.body, answer.headers)


def _serve(event: dict, request_context: dict, method: str, path: str) -> dict:
    if len(path) > MAX_PATH_CHARS:
        return _not_found(method, path)
    for pattern, wanted, route in ((_POLL_RE, "GET", "poll"), (_DEPLOY_RE, "GET", "deploy"),
                                   (_REPORT_RE, "POST", "report"), (_CONFIG_RE, "GET", "config")):
        match = pattern.fullmatch(path)
        if match is None or method != wanted:
            continue
        host = unquote(match["host"], errors="surrogateescape")
        if host in _REST_ONLY:
            break
        inputs.check_path_parameters({"host": host})
        context = _identity_context(request_context)
        if route == "poll":
            reply = routes.poll(context, host, _last_query_value(event, "current"))
        elif route == "deploy":
            reply = routes.deploy_script(context, host)
        elif route == "config":
            reply = routes.secret_config(context, host, _last_query_value(event, "deploy_id"))
        else:
            reply = routes.report(context, host, _body(event))
        return _response(reply.status, reply.body, reply.headers)
    return _not_found(method, path)


def _identity_context(request_context: dict) -> dict:
    """API Gateway's context shape (``identity.userArn``, ``accountId``) from a Function URL's
    ``requestContext``: the caller Lambda verified, and the function's own account."""
    iam = (request_context.get("authorizer") or {}).get("iam") or {}
    return {"accountId": request_context.get("accountId"),
            "identity": {"userArn": iam.get("userArn"), "accountId": iam.get("accountId"),
                         "caller": iam.get("callerId"), "accessKey": iam.get("accessKey")}}


def _last_query_value(event: dict, name: str) -> str | None:
    """The last value of query parameter ``name`` (as the REST API takes it), from
    ``rawQueryString`` (``queryStringParameters`` joins repeated values with commas)."""
    raw = event.get("rawQueryString")
    if raw is None:
        return (event.get("queryStringParameters") or {}).get(name)
    value = None
    for key, found in parse_qsl(raw[:MAX_PATH_CHARS], keep_blank_values=True,
                                errors="surrogateescape"):
        if key == name:
            value = found
    return value


def _body(event: dict) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            from chalicelib.errors import ValidationError
            raise ValidationError("the body is not valid base64", {"": "is not valid base64"}) from None
    return body.encode("utf-8", "surrogatepass")


def _not_found(method: str, path: str) -> dict:
    segment = path[len("/api/v1/"):].split("/", 1)[0] if path.startswith("/api/v1/") else ""
    shown = inputs.printable(path[:200])
    if segment in _REST_ONLY:
        message = (f"{method} {shown} is not on the host front: the project routes are on the "
                   "REST API (the stage's EndpointURL); this Function URL serves only the host "
                   f"protocol: {', '.join(routes.HOST_ROUTES)}")
    else:
        message = (f"no route {method} {shown} on the host front; it serves only "
                   f"{', '.join(routes.HOST_ROUTES)}")
    return _response(404, {"error": message})


def _number(value: object) -> float:
    """DynamoDB numbers (``Decimal``) as JSON numbers, as Chalice encodes them."""
    import decimal  # only when an answer holds one
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _response(status: int, body: dict | str, headers: dict[str, str] | None = None) -> dict:
    """A Function URL response; a dict body as compact JSON, as Chalice sends it."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        headers = {"Content-Type": "application/json", **headers}
        body = json.dumps(body, separators=(",", ":"), default=_number)
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
