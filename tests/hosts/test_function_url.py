"""The host front's handler (``host_front.handler``) behind both of its doors: the REST API's answers.

Each request is the event Lambda hands ``HostFront``, in both formats it is invoked with: a
Function URL's (payload format 2.0, the caller in ``requestContext.authorizer.iam``) and, on
AWS, the REST API's host routes (API Gateway's Lambda proxy payload 1.0, the caller in
``requestContext.identity.userArn`` as its IAM authorizer fills it). The same request goes to the
REST API as the Chalice app serves it (``chalice.test`` client, SigV4-signed) and both answers
must be equal: status, headers, body. AWS faults are injected with a botocore hook at the
DynamoDB boundary only. The real agent through the local Function URL front is
``test_function_url_e2e.py``.
"""
import base64
import json
import os
import subprocess
import sys
from urllib.parse import parse_qsl, unquote

import pytest

from tests.conftest import ADMIN_ARN, ROOT, base_project
from tests.support.hosts import HOST, HOST_ARN, ready_release, released_item

OTHER_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/web-2.example.com"
REQUEST_ID = "4b1d6e5a-0000-4000-8000-000000000001"
#: The two event formats: a Function URL's, and the REST API's proxy event.
FORMATS = ("url", "rest")
#: The REST API's resources of the requests below, as API Gateway matches them (static first).
_RESOURCES = ("/api/v1/project", "/api/v1/project/{project_id}", "/api/v1/project/{project_id}/events",
              "/api/v1/reports/latest", "/api/v1/freeze", "/api/v1/audit", "/api/v1/{host}",
              "/api/v1/{host}/deploy", "/api/v1/{host}/report", "/api/v1/{host}/config")


def front_event(fmt, method, path, *, query="", body=None, arn=HOST_ARN, base64_body=False,
                resource=None):
    """The event Lambda hands the host front once the caller's SigV4 was verified: a Function
    URL's (``fmt="url"``) or API Gateway REST's (``fmt="rest"``; ``resource`` as API Gateway
    matched it, by default found from ``path``)."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    if fmt == "rest":
        return _rest_event(method, path, query, text, arn, base64_body, resource)
    context = {"accountId": "000000000000", "apiId": "abc", "domainName":
               "abc.lambda-url.us-east-1.on.aws", "http": {"method": method, "path": path,
                                                           "protocol": "HTTP/1.1",
                                                           "sourceIp": "10.0.0.1",
                                                           "userAgent": "curl/7.88.1"},
               "requestId": REQUEST_ID, "routeKey": "$default", "stage": "$default"}
    if arn is not None:
        context["authorizer"] = {"iam": {"accessKey": "AKIAHOST", "accountId": "000000000000",
                                         "callerId": "AIDAHOST", "userArn": arn,
                                         "userId": "AIDAHOST"}}
    event = {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
             "headers": {"host": "abc.lambda-url.us-east-1.on.aws"}, "requestContext": context,
             "isBase64Encoded": base64_body}
    if text is not None:
        event["body"] = text
    return event


def _resource_of(path):
    """The resource API Gateway routes ``path`` to: a static segment wins over a parameter."""
    segments = path.strip("/").split("/")
    best = None
    for resource in _RESOURCES:
        parts = resource.strip("/").split("/")
        if len(parts) == len(segments) and all(
                p == s or (p.startswith("{") and s) for p, s in zip(parts, segments)):
            rank = [not p.startswith("{") for p in parts]
            if best is None or rank > best[0]:
                best = (rank, resource, {p[1:-1]: unquote(s) for p, s in zip(parts, segments)
                                         if p.startswith("{")})
    return (best[1], best[2]) if best else (None, None)


def _rest_event(method, path, query, text, arn, base64_body, resource):
    """API Gateway REST's Lambda proxy event (payload 1.0) of stage ``api``."""
    found, params = _resource_of(path)
    resource = resource or found
    pairs = parse_qsl(query, keep_blank_values=True)
    multi = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)
    identity = {"accessKey": "AKIAHOST", "accountId": "000000000000", "caller": "AIDAHOST",
                "sourceIp": "10.0.0.1", "user": "AIDAHOST", "userAgent": "curl/7.88.1",
                "userArn": arn, "cognitoIdentityId": None, "apiKey": None}
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "User-Agent": "curl/7.88.1",
               "Content-Type": "application/json"}
    return {"resource": resource, "path": path, "httpMethod": method, "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None, "pathParameters": params,
            "stageVariables": None,
            "requestContext": {"accountId": "000000000000", "apiId": "abc123",
                               "httpMethod": method, "identity": identity, "path": f"/api{path}",
                               "protocol": "HTTP/1.1", "requestId": REQUEST_ID,
                               "resourceId": "r1", "resourcePath": resource, "stage": "api"},
            "body": text, "isBase64Encoded": base64_body}


def _front(fmt, *args, **kwargs):
    from host_front import handler
    answer = handler(front_event(fmt, *args, **kwargs), None)
    assert set(answer) == {"statusCode", "headers", "body", "isBase64Encoded"}, answer
    assert answer["isBase64Encoded"] is False
    return answer


def _same(front, rest):
    """The host front's answer equals the REST API's (the Chalice app's): status, every header
    (the script's content type, ``Cache-Control``, ``Pragma``, ``Retry-After``...), body."""
    assert front["statusCode"] == rest.status, (front, rest)
    assert {k.lower(): v for k, v in front["headers"].items()} == {
        k.lower(): v for k, v in rest.headers.items()}, (front["headers"], rest.headers)
    if rest.json is not None:
        assert json.loads(front["body"]) == rest.json
    else:
        assert front["body"] == rest.body.decode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_poll_deploy_and_report_answer_as_the_rest_api_does(api, host_client, fmt):
    assert api.post("/api/v1/project", base_project()).status == 201
    _same(_front(fmt, "GET", f"/api/v1/{HOST}"), host_client.get(f"/api/v1/{HOST}"))  # 204
    released_item(HOST, "web", "1.0.0")
    ready_release("web", "1.0.0")
    poll = _front(fmt, "GET", f"/api/v1/{HOST}", query="current=web%3A")
    assert poll["statusCode"] == 200 and json.loads(poll["body"])["pending"][0]["version"] == "1.0.0"
    _same(poll, host_client.get(f"/api/v1/{HOST}?current=web%3A"))
    script = _front(fmt, "GET", f"/api/v1/{HOST.upper()}/deploy")  # host names: any case
    assert script["statusCode"] == 200, script
    assert script["headers"] == {"Content-Type": "text/x-shellscript; charset=utf-8",
                                 "Cache-Control": "no-store"}
    assert script["body"].rstrip().endswith("# fabu-script-end") and "web" in script["body"]
    report = {"project": "web", "version": "1.0.0", "deploy_id": "d-1", "phase": "pre-deploy",
              "status": "ok", "exit_code": 0, "output": "fine"}
    first = _front(fmt, "POST", f"/api/v1/{HOST}/report", body=report)
    assert first["statusCode"] == 200, first
    # the same report again (a retry), base64 as API Gateway passes a binary media type: both
    # fronts answer it alike (idempotent)
    _same(_front(fmt, "POST", f"/api/v1/{HOST}/report", body=report, base64_body=True),
          host_client.post(f"/api/v1/{HOST}/report", report))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("method, path, query, body, arn", [
    ("GET", "/api/v1/web-2.example.com", "", None, HOST_ARN),          # another host's route
    ("GET", f"/api/v1/{HOST}", "", None, OTHER_ARN),                   # another host's key
    ("GET", f"/api/v1/{HOST}/deploy", "", None, ADMIN_ARN),            # admins are not hosts
    ("GET", f"/api/v1/{HOST}/config", "deploy_id=d-1", None, OTHER_ARN),  # nor other hosts
    ("GET", f"/api/v1/{HOST}", "current=web", None, HOST_ARN),         # a bad current: 400
    ("GET", f"/api/v1/{HOST}", "current=" + "a" * 4097, None, HOST_ARN),  # over 4096: 400
    ("GET", "/api/v1/web_1.example.com", "", None,
     "arn:aws:iam::000000000000:user/fabu-hosts/web_1.example.com"),   # not a host name
    ("GET", f"/api/v1/{HOST}/config", "", None, HOST_ARN),             # deploy_id missing
    ("POST", f"/api/v1/{HOST}/report", "", "{not json", HOST_ARN),
    ("POST", f"/api/v1/{HOST}/report", "", "", HOST_ARN),              # no body at all
    ("POST", f"/api/v1/{HOST}/report", "", {"project": "web"}, HOST_ARN),
    ("POST", f"/api/v1/{HOST}/report", "", "x" * (256 * 1024 + 1), HOST_ARN),  # 413
])
def test_refusals_are_the_rest_apis_status_and_error_json(signed_client, method, path, query,
                                                          body, arn, fmt):
    rest_client = signed_client(arn)
    target = f"{path}?{query}" if query else path
    rest = (rest_client.post(target, body) if method == "POST" else rest_client.get(target))
    front = _front(fmt, method, path, query=query, body=body, arn=arn)
    assert front["statusCode"] in (400, 403, 413), front
    _same(front, rest)
    assert json.loads(front["body"])["error"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_403s_name_why(aws, fmt):
    admin = json.loads(_front(fmt, "GET", f"/api/v1/{HOST}/deploy", arn=ADMIN_ARN)["body"])
    other = json.loads(_front(fmt, "GET", f"/api/v1/{HOST}", arn=OTHER_ARN)["body"])
    nobody = _front(fmt, "GET", f"/api/v1/{HOST}", arn=None)
    assert nobody["statusCode"] == 403
    assert "no IAM identity" in json.loads(nobody["body"])["error"]
    assert f"only host {HOST} may call /api/v1/{HOST}/" in admin["error"], admin
    assert ("host web-2.example.com may only call /api/v1/web-2.example.com/"
            in other["error"]), other


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_malformed_base64_body_is_a_400_naming_it(aws, fmt):
    event = front_event(fmt, "POST", f"/api/v1/{HOST}/report", body="not base64 ***")
    event["isBase64Encoded"] = True
    from host_front import handler
    answer = handler(event, None)
    assert answer["statusCode"] == 400 and "not valid base64" in json.loads(answer["body"])["error"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_last_of_repeated_query_values_counts_as_on_the_rest_api(api, host_client, fmt):
    assert api.post("/api/v1/project", base_project()).status == 201
    released_item(HOST, "web", "1.0.0")
    # a Function URL's queryStringParameters would say "bad,web:" (joined): the raw query counts;
    # the REST API's multiValueQueryStringParameters hold both: the last counts, as in Chalice
    answer = _front(fmt, "GET", f"/api/v1/{HOST}", query="current=bad&current=web%3A")
    assert answer["statusCode"] == 200, answer
    _same(answer, host_client.get(f"/api/v1/{HOST}?current=bad&current=web%3A"))


@pytest.mark.parametrize("method, path, says", [
    ("GET", "/api/v1/project", "the project routes are on the REST API"),
    ("POST", "/api/v1/project", "the project routes are on the REST API"),
    ("GET", "/api/v1/project/web/events", "the project routes are on the REST API"),
    ("GET", "/api/v1/reports/latest", "the project routes are on the REST API"),
    ("DELETE", "/api/v1/freeze", "the project routes are on the REST API"),
    ("POST", f"/api/v1/{HOST}", f"no route POST /api/v1/{HOST} on the host front"),
    ("GET", f"/api/v1/{HOST}/report", f"no route GET /api/v1/{HOST}/report"),
    ("GET", f"/api/v1/{HOST}/deploy/", "no route GET"),
    ("GET", "/", "no route GET / on the host front"),
    ("GET", "/api/v2/x", "no route GET /api/v2/x"),
])
def test_anything_but_the_host_routes_on_the_function_url_is_404_saying_where_to_go(
        aws, method, path, says):
    answer = _front("url", method, path)
    assert answer["statusCode"] == 404
    error = json.loads(answer["body"])["error"]
    assert says in error and "GET /api/v1/{host}/deploy" in error, error


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/project"), ("POST", "/api/v1/project"), ("GET", "/api/v1/project/web"),
    ("GET", "/api/v1/project/web/events"), ("GET", "/api/v1/reports/latest"),
    ("DELETE", "/api/v1/freeze"), ("GET", "/api/v1/audit"),
    ("PUT", f"/api/v1/{HOST}"),  # a resource of the host front, not a method of it
])
def test_a_project_route_the_rest_api_sends_to_the_host_front_is_404_naming_the_cause(
        aws, method, path):
    answer = _front("rest", method, path, arn=ADMIN_ARN)
    assert answer["statusCode"] == 404, answer
    error = json.loads(answer["body"])["error"]
    assert f"no route {method} {path} on the host front (HostFront)" in error, error
    assert "APIHandler" in error and "GET /api/v1/{host}/config" in error


@pytest.mark.parametrize("fmt", FORMATS)
def test_reserved_first_segments_are_never_a_host(aws, fmt):
    """``/api/v1/freeze/deploy`` matches ``/api/v1/{host}/deploy`` but ``freeze`` is the API's."""
    answer = _front(fmt, "GET", "/api/v1/freeze/deploy")
    assert answer["statusCode"] == 404, answer


def test_the_rest_event_is_routed_by_its_resource_whatever_its_path(api, host_client):
    """Behind a custom domain's base path the event's ``path`` carries it (``/fabu/api/v1/...``):
    the resource API Gateway matched and its decoded ``pathParameters`` decide."""
    assert api.post("/api/v1/project", base_project()).status == 201
    released_item(HOST, "web", "1.0.0")
    event = front_event("rest", "GET", f"/api/v1/{HOST}", query="current=web%3A")
    event["path"] = f"/fabu/api/v1/{HOST.replace('.', '%2E')}"
    from host_front import handler
    answer = handler(event, None)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["pending"][0]["project"] == "web"
    # without a resource (invoked by hand), the path decides, as on the Function URL
    event = front_event("rest", "GET", f"/api/v1/{HOST}")
    del event["resource"], event["requestContext"]["resourcePath"]
    assert handler(event, None)["statusCode"] == 200


@pytest.mark.parametrize("garbage", [
    None, [], "GET /", {}, {"httpMethod": 7, "resource": ["x"], "requestContext": "no"},
    {"httpMethod": "GET", "resource": "/api/v1/{host}", "pathParameters": {"host": 5},
     "requestContext": {"identity": {"userArn": ["arn"]}}},
    {"httpMethod": "GET", "resource": "/api/v1/{host}", "pathParameters": {"host": HOST},
     "requestContext": {"identity": "me"}},
    {"httpMethod": "GET", "resource": "/api/v1/{host}", "pathParameters": {"host": HOST},
     "multiValueQueryStringParameters": {"current": [None, 3]}, "queryStringParameters": 4,
     "requestContext": {"identity": {"userArn": HOST_ARN}, "accountId": 12}},
    {"version": "2.0", "rawPath": 9, "requestContext": {"http": "GET"}},
])
def test_an_event_of_no_known_shape_is_answered_never_a_500(aws, garbage):
    from host_front import handler
    answer = handler(garbage, None)
    assert answer["statusCode"] in (204, 403, 404), answer  # 204: a poll without ?current=
    assert answer["statusCode"] == 204 or json.loads(answer["body"])["error"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_aws_failure_is_a_503_with_retry_after_logged_with_both_request_ids(api, caplog, fmt):
    from chalicelib.models import HostState

    class _Status:
        status_code, headers = 400, {}

    def throttled(**kwargs):
        return _Status(), {"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "slow down"},
                           "ResponseMetadata": {"RequestId": "AWSREQ42", "HTTPStatusCode": 400}}
    client = HostState._get_connection().connection.client
    client.meta.events.register_first("before-call.dynamodb.Query", throttled, unique_id="t")
    try:
        with caplog.at_level("WARNING", logger="chalicelib.hostfront.handler"):
            answer = _front(fmt, "GET", f"/api/v1/{HOST}")
    finally:
        client.meta.events.unregister("before-call.dynamodb.Query", unique_id="t")
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "2"
    assert answer["headers"]["Content-Type"] == "application/json"
    body = json.loads(answer["body"])
    assert "AWS is busy or failing (ProvisionedThroughputExceededException)" in body["error"]
    assert body["request_id"] == REQUEST_ID
    [line] = [r.getMessage() for r in caplog.records if "AWSREQ42" in r.getMessage()]
    assert body["request_id"] in line and f"GET /api/v1/{HOST}" in line


_IMPORTS = r"""
import json, sys
import host_front
before = set(sys.modules)
statuses = [host_front.handler(event, None)["statusCode"] for event in json.loads(sys.argv[1])]
print(json.dumps({"statuses": statuses, "at_import": sorted(before),
                  "after_poll": sorted(sys.modules)}))
"""


def test_the_handler_imports_no_chalice_and_a_poll_loads_no_renderer(aws):
    """A cold poll, through either door, loads only the poll's code: no chalice, no Blueprints,
    no Jinja, no reports."""
    events = [front_event(fmt, "GET", f"/api/v1/{HOST}") for fmt in FORMATS]
    done = subprocess.run([sys.executable, "-c", _IMPORTS, json.dumps(events)], cwd=ROOT,
                          env=dict(os.environ), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["statuses"] == [204, 204]
    for phase in ("at_import", "after_poll"):
        loaded = seen[phase]
        assert not [m for m in loaded if m == "chalice" or m.startswith("chalice.")], phase
        assert not [m for m in loaded if m.startswith("chalicelib.api")], phase
        assert "jinja2" not in loaded and "chalicelib.hosts.script" not in loaded, phase
        assert "chalicelib.hosts.reports" not in loaded and "chalicelib.rollout.tick" not in loaded
    assert "chalicelib.hosts.poll" in seen["after_poll"]
