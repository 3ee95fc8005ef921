"""AWS failing is not the client's fault: 503 with Retry-After and a logged request id, never a 500.

Faults are injected at the AWS boundary only: a botocore ``before-call`` hook on the clients
PynamoDB uses (the in-process ``api`` client), or the fault proxy in front of the emulator (the
``faulty`` live stack, over real HTTP).
"""
import contextlib
import logging
import re

import pytest

from chalicelib.models import ALL_MODELS
from tests.conftest import base_project
from tests.support.faults import faulty, faulty_stack, fault_proxy  # noqa: F401 (fixtures)

HOST = "web-1.example.com"
HOST_ARN = f"arn:aws:iam::000000000000:user/fabu-hosts/{HOST}"
LOGGER = "chalicelib.api.http"


class _Status:
    def __init__(self, code):
        self.status_code = code
        self.headers = {}


@contextlib.contextmanager
def dynamodb_fails(operation, code="ProvisionedThroughputExceededException", status=400,
                   message="Rate of requests exceeds the allowed throughput."):
    """Every DynamoDB ``operation`` of every model answers ``code`` (no retry, no call made)."""
    calls = []

    def fail(**kwargs):
        calls.append(operation)
        return _Status(status), {"Error": {"Code": code, "Message": message},
                                 "ResponseMetadata": {
                                     "RequestId": "AWSREQ0123456789", "HTTPStatusCode": status,
                                     "HTTPHeaders": {"x-amzn-requestid": "AWSREQ0123456789"}}}
    clients = {model._get_connection().connection.client for model in ALL_MODELS}
    event = f"before-call.dynamodb.{operation}"
    for client in clients:
        client.meta.events.register_first(event, fail, unique_id="fabu-test-fault")
    try:
        yield calls
    finally:
        for client in clients:
            client.meta.events.unregister(event, unique_id="fabu-test-fault")


def _assert_503_logged(response, caplog, code="ProvisionedThroughputExceededException"):
    assert response.status == 503, response
    assert f"AWS is busy or failing ({code}); retry shortly" in response.json["error"]
    assert int(response.headers["Retry-After"]) > 0
    request_id = response.json["request_id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", request_id)  # the local stage's API Gateway stand-in
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    mine = [line for line in lines if request_id in line]
    assert len(mine) == 1, lines  # logged once
    assert code in mine[0] and "AWSREQ0123456789" in mine[0]
    return mine[0]


def test_a_throttled_project_read_is_a_503_with_retry_after_and_a_logged_request_id(api, caplog):
    assert api.post("/api/v1/project", base_project()).status == 201
    with caplog.at_level(logging.WARNING, logger=LOGGER), dynamodb_fails("GetItem") as calls:
        got = api.get("/api/v1/project/web")
    assert calls
    line = _assert_503_logged(got, caplog)
    assert "GET /api/v1/project/web" in line and "GetItem" in line
    assert api.get("/api/v1/project/web").status == 200  # the fault is gone: so is the 503


def test_a_throttled_create_is_a_503_and_creates_nothing(api, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER), dynamodb_fails("PutItem"):
        got = api.post("/api/v1/project", base_project())
    _assert_503_logged(got, caplog)
    assert api.get("/api/v1/project/web").status == 404
    assert api.post("/api/v1/project", base_project()).status == 201  # the retry succeeds


def test_a_throttled_host_poll_is_a_503(api, signed_client, caplog):
    assert api.post("/api/v1/project", base_project()).status == 201
    host = signed_client(HOST_ARN)
    with caplog.at_level(logging.WARNING, logger=LOGGER), dynamodb_fails("Query"):
        got = host.get(f"/api/v1/{HOST}")
    _assert_503_logged(got, caplog)
    assert host.get(f"/api/v1/{HOST}").status in (200, 204)


@pytest.mark.parametrize("code, status", [("InternalServerError", 500),
                                          ("ServiceUnavailable", 503),
                                          ("AccessDeniedException", 400)])
def test_any_other_aws_error_is_a_503_naming_its_code(api, caplog, code, status):
    assert api.post("/api/v1/project", base_project()).status == 201
    with caplog.at_level(logging.WARNING, logger=LOGGER), \
            dynamodb_fails("Query", code=code, status=status):
        got = api.get("/api/v1/project")
    _assert_503_logged(got, caplog, code)


def test_a_request_fabu_built_wrong_is_a_500_with_the_request_id_and_a_traceback(api, caplog):
    # ValidationException means fabu sent DynamoDB a bad request: a bug, which retrying never
    # fixes. It is the only kind of 500 left, and its answer names the logged request.
    with caplog.at_level(logging.WARNING, logger=LOGGER), \
            dynamodb_fails("GetItem", code="ValidationException",
                           message="One or more parameter values were invalid"):
        got = api.get("/api/v1/project/web")
    assert got.status == 500, got
    request_id = got.json["request_id"]
    assert request_id in got.json["error"] and "bug" in got.json["error"]
    logged = [r for r in caplog.records if r.name == LOGGER and request_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_over_http_a_throttled_read_is_a_503_with_retry_after_and_the_request_id_logged(faulty):
    assert faulty.request("POST", "/api/v1/project", base_project()).status_code == 201
    faulty.faults.throttle(lambda call: call.operation == "GetItem" and call.touches("projects"))
    got = faulty.request("GET", "/api/v1/project/web")
    assert got.status_code == 503, got.text
    assert int(got.headers["Retry-After"]) > 0
    assert "(ProvisionedThroughputExceededException)" in got.json()["error"]
    request_id = got.json()["request_id"]
    logged = [line for line in faulty.log.read_text(errors="replace").splitlines()
              if request_id in line]
    assert len(logged) == 1 and "GetItem" in logged[0], logged
    faulty.faults.disarm()
    assert faulty.request("GET", "/api/v1/project/web").status_code == 200
