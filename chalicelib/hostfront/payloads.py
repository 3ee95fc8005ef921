"""The two Lambda event formats the host front is invoked with, read into one ``Request`` and
answered in each one's own response shape.

* **Function URL, payload format 2.0** (``"version": "2.0"``): ``rawPath``, ``rawQueryString``,
  ``requestContext.http.method``, the caller Lambda verified in
  ``requestContext.authorizer.iam``. The route is found from the path.
* **API Gateway REST, Lambda proxy payload 1.0** (``httpMethod``, ``resource``,
  ``pathParameters``, ``multiValueQueryStringParameters``, ``requestContext.identity.userArn``
  as the REST API's IAM authorizer fills it). The route is the resource API Gateway matched
  (``/api/v1/{host}/deploy``) and the host its ``pathParameters`` (API Gateway decoded them);
  an event without a resource is routed by its ``path``, as a Function URL's.

Either way the identity context handed to the routes has API Gateway's shape (``accountId``,
``identity.userArn``: ``chalicelib.hostfront.identity``). Nothing of an event is trusted to be
of the type its format says: a missing or mistyped part reads as absent, never as a 500.
"""
import base64
import binascii
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from chalicelib.hostfront import failures

#: The longest path and query string looked at (a Function URL request line is 8 KB at most,
#: an API Gateway URL 10 KB).
MAX_PATH_CHARS = 8192
#: Routes by path (a Function URL's, or a REST event without a resource): (method, route).
_PATHS = ((re.compile(r"/api/v1/(?P<host>[^/]+)"), "GET", "poll"),
          (re.compile(r"/api/v1/(?P<host>[^/]+)/deploy"), "GET", "deploy"),
          (re.compile(r"/api/v1/(?P<host>[^/]+)/report"), "POST", "report"),
          (re.compile(r"/api/v1/(?P<host>[^/]+)/config"), "GET", "config"))
#: Routes by the REST API's resource (the swagger paths ``infra/package.py`` sends to HostFront).
REST_RESOURCES = {("GET", "/api/v1/{host}"): "poll", ("GET", "/api/v1/{host}/deploy"): "deploy",
                  ("POST", "/api/v1/{host}/report"): "report",
                  ("GET", "/api/v1/{host}/config"): "config"}


@dataclass(frozen=True)
class Request:
    """One host-front request, whichever front it came through.

    ``route`` is ``poll``, ``deploy``, ``report`` or ``config`` (None: not a host route) and
    ``host`` the route's ``{host}``; ``context`` is API Gateway's request context shape.
    """

    rest: bool
    method: str
    path: str
    request_id: str
    route: str | None
    host: str | None
    context: dict
    event: dict

    def query(self, name: str) -> str | None:
        """The last value of query parameter ``name``, as the REST API takes it; None if absent."""
        if self.rest:
            return _rest_query(self.event, name)
        return _url_query(self.event, name)

    def body(self) -> bytes:
        """The raw body (base64-decoded when the event says so); a 400 when that is not base64."""
        body = self.event.get("body")
        body = body if isinstance(body, str) else ""
        if self.event.get("isBase64Encoded") is True:
            try:
                return base64.b64decode(body, validate=True)
            except (binascii.Error, ValueError):
                from chalicelib.errors import ValidationError
                raise ValidationError("the body is not valid base64",
                                      {"": "is not valid base64"}) from None
        return body.encode("utf-8", "surrogatepass")


def parse(event: object) -> Request:
    """The ``Request`` of a Lambda event of either format (anything else: a request of no route)."""
    event = event if isinstance(event, dict) else {}
    request_context = _dict(event.get("requestContext"))
    rid = failures.request_id(request_context.get("requestId"))
    if "httpMethod" in event or event.get("version") == "1.0":
        return _rest_request(event, request_context, rid)
    method = _text(_dict(request_context.get("http")).get("method")).upper()
    path = _text(event.get("rawPath")) or "/"
    route, host = _by_path(method, path)
    return Request(False, method, path, rid, route, host, _url_identity(request_context), event)


def _rest_request(event: dict, request_context: dict, rid: str) -> Request:
    method = _text(event.get("httpMethod") or request_context.get("httpMethod")).upper()
    path = _text(event.get("path") or request_context.get("path")) or "/"
    resource = event.get("resource") or request_context.get("resourcePath")
    if isinstance(resource, str):
        route = REST_RESOURCES.get((method, resource))
        host = _dict(event.get("pathParameters")).get("host")
        if route is not None and not isinstance(host, str):
            route, host = _by_path(method, path)  # no path parameter: the path has it
    else:
        route, host = _by_path(method, path)
    identity = _dict(request_context.get("identity"))
    context = {"accountId": _text(request_context.get("accountId")) or None,
               "requestId": rid,
               "identity": {**identity, "userArn": _text(identity.get("userArn")) or None}}
    return Request(True, method, path, rid, route if host else None, host, context, event)


def _by_path(method: str, path: str) -> tuple[str | None, str | None]:
    """The route and ``{host}`` of a path (percent-decoded), or (None, None)."""
    if len(path) > MAX_PATH_CHARS:
        return None, None
    for pattern, wanted, route in _PATHS:
        match = pattern.fullmatch(path)
        if match is not None and method == wanted:
            return route, unquote(match["host"], errors="surrogateescape")
    return None, None


def _url_identity(request_context: dict) -> dict:
    """API Gateway's context shape (``identity.userArn``, ``accountId``) from a Function URL's
    ``requestContext``: the caller Lambda verified, and the function's own account."""
    iam = _dict(_dict(request_context.get("authorizer")).get("iam"))
    return {"accountId": _text(request_context.get("accountId")) or None,
            "identity": {"userArn": _text(iam.get("userArn")) or None,
                         "accountId": iam.get("accountId"), "caller": iam.get("callerId"),
                         "accessKey": iam.get("accessKey")}}


def _url_query(event: dict, name: str) -> str | None:
    """From ``rawQueryString`` (``queryStringParameters`` joins repeated values with commas)."""
    raw = event.get("rawQueryString")
    if not isinstance(raw, str):
        value = _dict(event.get("queryStringParameters")).get(name)
        return value if isinstance(value, str) else None
    value = None
    for key, found in parse_qsl(raw[:MAX_PATH_CHARS], keep_blank_values=True,
                                errors="surrogateescape"):
        if key == name:
            value = found
    return value


def _rest_query(event: dict, name: str) -> str | None:
    """From ``multiValueQueryStringParameters`` (its last value, as Chalice reads it), else
    ``queryStringParameters`` (API Gateway puts the last value there too)."""
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, dict):
        values = multi.get(name)
        if isinstance(values, list):
            values = [value for value in values if isinstance(value, str)]
            return values[-1] if values else None
        return values if isinstance(values, str) else None
    value = _dict(event.get("queryStringParameters")).get(name)
    return value if isinstance(value, str) else None


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _number(value: object) -> float:
    """DynamoDB numbers (``Decimal``) as JSON numbers, as Chalice encodes them."""
    import decimal  # only when an answer holds one
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def response(status: int, body: dict | str, headers: dict[str, str] | None = None) -> dict:
    """The answer in both formats' shape (a Function URL's and API Gateway REST's proxy
    response are the same four keys); a dict body as compact JSON, as Chalice sends it."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        headers = {"Content-Type": "application/json", **headers}
        body = json.dumps(body, separators=(",", ":"), default=_number)
    return {"statusCode": status, "headers": headers, "body": body, "isBase64Encoded": False}
