"""The host protocol's Function URL handler (``host_front.handler``): the REST API's answers.

Each request is the event Lambda hands a Function URL's handler (payload format 2.0, the caller
in ``requestContext.authorizer.iam``); the same request goes to the REST API (``chalice.test``
client, SigV4-signed) and both answers must be equal: status, headers, body. AWS faults are
injected with a botocore hook at the DynamoDB boundary only. The real agent through the local
front is ``test_function_url_e2e.py``.
"""
import base64
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ADMIN_ARN, ROOT, base_project
from tests.support.hosts import HOST, HOST_ARN, ready_release, released_item

OTHER_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/web-2.example.com"


def _event(method, path, *, query="", body=None, arn=HOST_ARN, base64_body=False):
    """A Function URL event as Lambda builds it once it verified the caller's SigV4."""
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    context = {"accountId": "000000000000", "apiId": "abc", "domainName":
               "abc.lambda-url.us-east-1.on.aws", "http": {"method": method, "path": path,
                                                           "protocol": "HTTP/1.1",
                                                           "sourceIp": "10.0.0.1",
                                                           "userAgent": "curl/7.88.1"},
               "requestId": "4b1d6e5a-0000-4000-8000-000000000001", "routeKey": "$default",
               "stage": "$default"}
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


def _front(*args, **kwargs):
    from host_front import handler
    answer = handler(_event(*args, **kwargs), None)
    assert answer["isBase64Encoded"] is False
    return answer


def _same(front, rest):
    """The Function URL's answer equals the REST API's: status, fabu's headers, body."""
    assert front["statusCode"] == rest.status, (front, rest)
    for name in ("Content-Type", "Cache-Control", "Retry-After"):
        assert front["headers"].get(name) == rest.headers.get(name), name
    if rest.json is not None:
        assert json.loads(front["body"]) == rest.json
    else:
        assert front["body"] == rest.body.decode()


def test_poll_deploy_and_report_answer_as_the_rest_api_does(api, host_client):
    assert api.post("/api/v1/project", base_project()).status == 201
    _same(_front("GET", f"/api/v1/{HOST}"), host_client.get(f"/api/v1/{HOST}"))  # 204, no body
    released_item(HOST, "web", "1.0.0")
    ready_release("web", "1.0.0")
    poll = _front("GET", f"/api/v1/{HOST}", query="current=web%3A")
    assert poll["statusCode"] == 200 and json.loads(poll["body"])["pending"][0]["version"] == "1.0.0"
    _same(poll, host_client.get(f"/api/v1/{HOST}?current=web%3A"))
    script = _front("GET", f"/api/v1/{HOST.upper()}/deploy")  # host names are case-insensitive
    assert script["statusCode"] == 200, script
    assert script["headers"] == {"Content-Type": "text/x-shellscript; charset=utf-8",
                                 "Cache-Control": "no-store"}
    assert script["body"].rstrip().endswith("# fabu-script-end") and "web" in script["body"]
    report = {"project": "web", "version": "1.0.0", "deploy_id": "d-1", "phase": "pre-deploy",
              "status": "ok", "exit_code": 0, "output": "fine"}
    first = _front("POST", f"/api/v1/{HOST}/report", body=report)
    assert first["statusCode"] == 200, first
    # the same report again (a retry) is answered alike by both fronts: idempotent
    _same(_front("POST", f"/api/v1/{HOST}/report", body=report, base64_body=True),
          host_client.post(f"/api/v1/{HOST}/report", report))


@pytest.mark.parametrize("method, path, query, body, arn", [
    ("GET", "/api/v1/web-2.example.com", "", None, HOST_ARN),          # another host's route
    ("GET", f"/api/v1/{HOST}", "", None, OTHER_ARN),                   # another host's key
    ("GET", f"/api/v1/{HOST}/deploy", "", None, ADMIN_ARN),            # admins are not hosts
    ("GET", f"/api/v1/{HOST}", "current=web", None, HOST_ARN),         # a bad current: 400
    ("GET", f"/api/v1/{HOST}", "current=" + "a" * 4097, None, HOST_ARN),  # over 4096: 400
    ("GET", "/api/v1/web_1.example.com", "", None,
     "arn:aws:iam::000000000000:user/fabu-hosts/web_1.example.com"),   # not a host name
    ("POST", f"/api/v1/{HOST}/report", "", "{not json", HOST_ARN),
    ("POST", f"/api/v1/{HOST}/report", "", {"project": "web"}, HOST_ARN),
    ("POST", f"/api/v1/{HOST}/report", "", "x" * (256 * 1024 + 1), HOST_ARN),  # 413
])
def test_refusals_are_the_rest_apis_status_and_error_json(signed_client, method, path, query,
                                                          body, arn):
    rest_client = signed_client(arn)
    target = f"{path}?{query}" if query else path
    rest = (rest_client.post(target, body) if method == "POST" else rest_client.get(target))
    front = _front(method, path, query=query, body=body, arn=arn)
    assert front["statusCode"] in (400, 403, 413), front
    _same(front, rest)
    assert json.loads(front["body"])["error"]


def test_a_request_without_a_verified_caller_is_403(aws):
    answer = _front("GET", f"/api/v1/{HOST}", arn=None)
    assert answer["statusCode"] == 403
    assert "no IAM identity" in json.loads(answer["body"])["error"]


def test_the_last_of_repeated_query_values_counts_as_on_the_rest_api(api, host_client):
    assert api.post("/api/v1/project", base_project()).status == 201
    released_item(HOST, "web", "1.0.0")
    # a Function URL's queryStringParameters would say "bad,web:" (joined): the raw query counts
    answer = _front("GET", f"/api/v1/{HOST}", query="current=bad&current=web%3A")
    assert answer["statusCode"] == 200, answer


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
def test_anything_but_the_three_host_routes_is_404_saying_where_to_go(aws, method, path, says):
    answer = _front(method, path)
    assert answer["statusCode"] == 404
    error = json.loads(answer["body"])["error"]
    assert says in error and "GET /api/v1/{host}/deploy" in error, error


def test_an_aws_failure_is_a_503_with_retry_after_logged_with_both_request_ids(api, caplog):
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
            answer = _front("GET", f"/api/v1/{HOST}")
    finally:
        client.meta.events.unregister("before-call.dynamodb.Query", unique_id="t")
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "2"
    body = json.loads(answer["body"])
    assert "AWS is busy or failing (ProvisionedThroughputExceededException)" in body["error"]
    assert body["request_id"] == "4b1d6e5a-0000-4000-8000-000000000001"
    [line] = [r.getMessage() for r in caplog.records if "AWSREQ42" in r.getMessage()]
    assert body["request_id"] in line and f"GET /api/v1/{HOST}" in line


_IMPORTS = r"""
import json, sys
import host_front
before = set(sys.modules)
event = json.loads(sys.argv[1])
answer = host_front.handler(event, None)
print(json.dumps({"status": answer["statusCode"], "at_import": sorted(before),
                  "after_poll": sorted(sys.modules)}))
"""


def test_the_handler_imports_no_chalice_and_a_poll_loads_no_renderer(aws):
    """A cold poll loads only the poll's code: no chalice, no Blueprints, no Jinja, no reports."""
    env = dict(os.environ)
    done = subprocess.run([sys.executable, "-c", _IMPORTS, json.dumps(_event("GET", f"/api/v1/{HOST}"))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["status"] == 204
    for phase in ("at_import", "after_poll"):
        loaded = seen[phase]
        assert not [m for m in loaded if m == "chalice" or m.startswith("chalice.")], phase
        assert not [m for m in loaded if m.startswith("chalicelib.api")], phase
        assert "jinja2" not in loaded and "chalicelib.hosts.script" not in loaded, phase
        assert "chalicelib.hosts.reports" not in loaded and "chalicelib.rollout.tick" not in loaded
    assert "chalicelib.hosts.poll" in seen["after_poll"]
