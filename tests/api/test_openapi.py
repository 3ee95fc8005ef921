"""docs/openapi.yaml against the app: the same routes, and schemathesis over the live local stack.

The route check walks Chalice's route table (what API Gateway will serve) and the spec's paths
in both directions. The fuzzing run sends generated requests — valid and invalid — to
``chalice local`` over HTTP, each SigV4-signed like an SDK would sign it (admin for the project
routes; the host itself for the host routes), and checks that no response is a 500 and every
response matches the spec (status code, content type, headers, body schema).
"""
import os

import pytest
import requests
import yaml
from hypothesis import HealthCheck, settings

from tests.conftest import ADMIN_KEY, ADMIN_SECRET, ROOT, base_project

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")
METHODS = {"get", "put", "post", "delete", "patch", "head"}
#: The host the fuzzer signs as on the host routes (a member of the seeded project).
FUZZ_HOST = "web-1.example.com"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


def _spec():
    with open(SPEC_PATH) as fh:
        return yaml.safe_load(fh)


def _spec_routes():
    return {(path, method.upper()) for path, item in _spec()["paths"].items()
            for method in item if method in METHODS}


def _app_routes():
    from app import app
    return {(path, method) for path, methods in app.routes.items()
            for method in methods if method != "OPTIONS"}


def test_every_chalice_route_is_in_the_spec():
    missing = sorted(_app_routes() - _spec_routes())
    assert not missing, "routes of app.py missing from docs/openapi.yaml: %s" % missing


def test_every_spec_route_is_a_chalice_route():
    extra = sorted(_spec_routes() - _app_routes())
    assert not extra, "docs/openapi.yaml describes routes the app does not serve: %s" % extra


def test_every_operation_documents_its_errors():
    """Every operation says what a forbidden caller gets and that AWS may be failing (503), and
    every body-taking one its 400 and 413."""
    for path, item in _spec()["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            assert {"403", "503"} <= set(operation["responses"]), (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)


# --- schemathesis over the live stack ---------------------------------------------------------

class _SigV4(requests.auth.AuthBase):
    """Sign the final request (URL with query, body bytes) with botocore, as an SDK does."""

    def __init__(self, key, secret):
        self.key, self.secret = key, secret

    def __call__(self, prepared):
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "authorization"}
        request = AWSRequest(method=prepared.method, url=prepared.url, data=body, headers=headers)
        SigV4Auth(Credentials(self.key, self.secret), "execute-api", "us-east-1").add_auth(request)
        prepared.headers.update(dict(request.headers.items()))
        return prepared


@pytest.fixture
def seeded(live):
    """A project with the fuzzed host in it (the spec's example id is ``web``), host credentials."""
    response = live.request("POST", "/api/v1/project", base_project(
        name="web", hosts=[FUZZ_HOST, "web-2.example.com"]))
    assert response.status_code == 201, response.text
    return live, live.add_host(FUZZ_HOST)


#: The coverage phase would also send TRACE & co., which ``chalice local``'s dev server answers
#: with its own 501 (API Gateway answers them 403); our app never sees them.
schema = schemathesis.openapi.from_path(SPEC_PATH, config=schemathesis.config.SchemathesisConfig.from_dict(
    {"phases": {"coverage": {"unexpected-methods": []}}}))


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_api_conforms_to_its_spec_and_never_fails(case, seeded):
    live, (host_key, host_secret) = seeded
    if "host" in case.path_parameters and not case.path.startswith("/api/v1/project/"):
        case.path_parameters["host"] = FUZZ_HOST
        auth = _SigV4(host_key, host_secret)
    else:
        auth = _SigV4(ADMIN_KEY, ADMIN_SECRET)
    case.call_and_validate(base_url=live.url, auth=auth, checks=CHECKS, timeout=30)
