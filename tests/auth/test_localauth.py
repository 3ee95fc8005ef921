"""Stage local over real HTTP: real clients (botocore+requests, curl, awscurl) get in, others 403."""

import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
from unittest import mock

import pytest
import requests
from chalice.test import Client

from chalicelib.auth.principals import add_principal
from chalicelib.auth.sigv4 import Principal
from tests.support.auth import REGION, build_test_app, serve_local, sign

AWSCURL = os.path.join(os.path.dirname(sys.executable), "awscurl")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_local(str(tmp_path_factory.mktemp("auth"))) as running:
        yield running


def _get(server, path, key, **sign_kwargs):
    url = server.base_url + path
    return requests.get(url, headers=sign("GET", url, server.keys[key], **sign_kwargs), timeout=5)


def _post(server, path, key, body, **sign_kwargs):
    url = server.base_url + path
    headers = sign("POST", url, server.keys[key], body=body, **sign_kwargs)
    return requests.post(url, data=body, headers=headers, timeout=5)


def _curl(server, method, path, key, *, body=None, token=None):
    principal = server.keys[key]
    args = ["curl", "-sS", "-X", method, "-w", "\n%{http_code}",
            "--aws-sigv4", f"aws:amz:{REGION}:execute-api",
            "--user", f"{principal.access_key_id}:{principal.secret_access_key}"]
    if token:
        args += ["-H", f"x-amz-security-token: {token}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data-binary", body]
    out = subprocess.run(args + [server.base_url + path], capture_output=True, text=True,
                         timeout=20, check=True)
    text, _, status = out.stdout.rpartition("\n")
    return int(status), json.loads(text)


def _awscurl(server, method, path, key, *, body=None):
    principal = server.keys[key]
    args = [AWSCURL, "--fail-with-body", "--service", "execute-api", "--region", REGION,
            f"--access_key={principal.access_key_id}",
            f"--secret_key={principal.secret_access_key}",
            "-X", method]
    if principal.session_token:
        args += [f"--session_token={principal.session_token}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", body]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    out = subprocess.run(args + [server.base_url + path], capture_output=True, text=True,
                         timeout=30, env=env)
    assert out.returncode == 0, out.stderr[-500:]
    return json.loads(out.stdout)


# --- accepted -------------------------------------------------------------------------------


def test_a_botocore_signed_request_reaches_the_route_with_the_callers_identity(server):
    response = _get(server, "/api/v1/web-1", "web-1")
    assert response.status_code == 200, response.text
    assert response.json() == {"arn": server.keys["web-1"].arn, "kind": "host", "host": "web-1"}


def test_a_signed_post_with_a_body_is_accepted_and_the_body_reaches_the_route(server):
    body = b'{"phase": "do-deploy", "status": "ok"}'
    response = _post(server, "/api/v1/web-1/report", "web-1", body)
    assert response.status_code == 200, response.text
    assert response.json()["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_repeated_query_params_are_accepted(server):
    response = _get(server, "/api/v1/web-1?tag=b&tag=a&since=2026-11-01T00%3A00%3A00Z", "web-1")
    assert response.status_code == 200, response.text


def test_admins_exact_and_by_glob_may_call_project_routes(server):
    assert _get(server, "/api/v1/project", "admin").json()["kind"] == "admin"
    assert _post(server, "/api/v1/project", "glob-admin", b'{"name": "shop"}').status_code == 200


def test_a_session_token_principal_is_accepted_through_botocore(server):
    response = _get(server, "/api/v1/web-3", "web-3")
    assert response.status_code == 200, response.text
    assert response.json()["arn"].endswith(":assumed-role/fabu-host/web-3")


@needs_curl
@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/api/v1/web-1", None),
    ("GET", "/api/v1/web-1?a=1&a=2&b=0", None),  # curl 7.88 does not sort: the agent must
    ("POST", "/api/v1/web-1/report", '{"phase": "pre-deploy", "output": "a b\\n"}'),
])
def test_real_curl_aws_sigv4_is_accepted(server, method, path, body):
    status, answer = _curl(server, method, path, "web-1", body=body)
    assert (status, answer["host"]) == (200, "web-1")


@needs_curl
def test_real_curl_with_a_session_token_header_is_accepted(server):
    token = server.keys["web-3"].session_token
    assert _curl(server, "GET", "/api/v1/web-3", "web-3", token=token)[0] == 200
    status, answer = _curl(server, "GET", "/api/v1/web-3", "web-3", token=token[:-1] + "x")
    assert (status, answer) == (403, {"error": "invalid X-Amz-Security-Token"})


@pytest.mark.parametrize(("key", "method", "path", "body"), [
    ("web-1", "GET", "/api/v1/web-1?tag=b&tag=a", None),
    ("web-1", "POST", "/api/v1/web-1/report", '{"phase": "post-deploy"}'),
    ("web-3", "GET", "/api/v1/web-3", None),  # with --session_token
])
def test_awscurl_is_accepted(server, key, method, path, body):
    assert _awscurl(server, method, path, key, body=body)["host"] == key


# --- rejected -------------------------------------------------------------------------------


def _refused(response, reason):
    assert response.status_code == 403, response.text
    assert reason in response.json()["error"]


def test_unsigned_requests_are_refused(server):
    _refused(requests.get(server.base_url + "/api/v1/web-1", timeout=5),
             "missing Authorization header")
    _refused(requests.post(server.base_url + "/api/v1/project", json={}, timeout=5),
             "missing Authorization header")


def test_a_wrong_secret_and_an_unknown_key_are_refused(server):
    _refused(_get(server, "/api/v1/web-1", "web-1", secret="guessed"), "signature mismatch")
    url = server.base_url + "/api/v1/web-1"
    unknown = Principal("AKIAUNKNOWN000000000", "x", "arn:aws:iam::000000000000:user/x")
    _refused(requests.get(url, headers=sign("GET", url, unknown), timeout=5), "unknown access key")


@pytest.mark.parametrize(("signed_path", "sent_path"), [
    ("/api/v1/web-1", "/api/v1/web-2"),  # path
    ("/api/v1/web-1?tag=a", "/api/v1/web-1?tag=b"),  # query
    ("/api/v1/web-1?tag=a", "/api/v1/web-1?tag=a&tag=b"),  # query added
])
def test_a_tampered_path_or_query_is_refused(server, signed_path, sent_path):
    headers = sign("GET", server.base_url + signed_path, server.keys["web-1"])
    _refused(requests.get(server.base_url + sent_path, headers=headers, timeout=5),
             "signature mismatch")


def test_a_tampered_body_is_refused(server):
    url = server.base_url + "/api/v1/web-1/report"
    headers = sign("POST", url, server.keys["web-1"], body=b'{"status": "failed"}')
    _refused(requests.post(url, data=b'{"status": "ok!!!"}', headers=headers, timeout=5),
             "signature mismatch")


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_date_outside_the_skew_is_refused(server, minutes):
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    _refused(_get(server, "/api/v1/web-1", "web-1", when=when),
             "request expired (X-Amz-Date outside 5 minutes)")


def test_the_wrong_service_or_region_is_refused(server):
    _refused(_get(server, "/api/v1/web-1", "web-1", service="s3"),
             "credential scope service must be execute-api")
    _refused(_get(server, "/api/v1/web-1", "web-1", region="eu-west-1"),
             "credential scope region must be us-east-1")


def test_a_hosts_key_on_another_hosts_route_is_refused(server):
    _refused(_get(server, "/api/v1/web-2", "web-1"), "host web-1 may only call /api/v1/web-1/")
    _refused(_post(server, "/api/v1/web-2/report", "web-1", b"{}"), "host web-1 may only call")


def test_a_hosts_key_on_a_project_route_is_refused(server):
    _refused(_get(server, "/api/v1/project", "web-1"), "not the project routes")
    _refused(_post(server, "/api/v1/project", "web-3", b'{"name": "x"}'), "not the project routes")


def test_an_admin_looking_arn_that_is_not_listed_is_refused(server):
    _refused(_get(server, "/api/v1/project", "unlisted"), "neither a fabu host nor a listed admin")


@needs_curl
def test_curl_with_the_wrong_region_is_refused(server):
    principal = server.keys["web-1"]
    out = subprocess.run(
        ["curl", "-sS", "--aws-sigv4", "aws:amz:eu-west-1:execute-api",
         "--user", f"{principal.access_key_id}:{principal.secret_access_key}",
         server.base_url + "/api/v1/web-1"], capture_output=True, text=True, timeout=20)
    assert json.loads(out.stdout) == {"error": "credential scope region must be us-east-1"}


# --- the principals file is live ------------------------------------------------------------


def test_a_key_added_while_running_is_accepted_and_a_removed_one_refused(server):
    path = os.environ.get("FABU_PRINCIPALS") or ""
    assert path.endswith("principals.json")  # the server's env is in place for the module
    newcomer = add_principal("arn:aws:iam::000000000000:user/fabu-hosts/web-7", path=path)
    url = server.base_url + "/api/v1/web-7"
    assert requests.get(url, headers=sign("GET", url, newcomer), timeout=5).status_code == 200
    with open(path, encoding="utf-8") as handle:
        listed = json.load(handle)
    del listed[newcomer.access_key_id]
    with open(path + ".new", "w", encoding="utf-8") as handle:
        json.dump(listed, handle)
    os.replace(path + ".new", path)
    _refused(requests.get(url, headers=sign("GET", url, newcomer), timeout=5), "unknown access key")


# --- when the middleware stays out of the way -----------------------------------------------


def test_routes_without_iam_authorizer_are_not_checked(server):
    assert requests.get(server.base_url + "/health", timeout=5).json() == {"ok": True}


def test_without_the_local_switch_no_identity_is_invented(tmp_path):
    """Off AWS-local (FABU_LOCAL_SIGV4 unset) the identity must come from API Gateway only."""
    app = build_test_app()
    env = {"FABU_LOCAL_SIGV4": "", "FABU_ADMIN_ARNS": "*", "AWS_DEFAULT_REGION": REGION}
    with mock.patch.dict(os.environ, env), Client(app, stage_name="local", project_dir=str(tmp_path)) as client:
        forged = {"x-amz-date": "20261126T000000Z", "authorization": "anything"}
        response = client.http.get("/api/v1/project", headers=forged)
    assert response.status_code == 403
    assert "no IAM identity" in json.loads(response.body)["error"]


def test_a_broken_principals_file_refuses_signed_requests_and_names_the_file(tmp_path):
    principals = tmp_path / "principals.json"
    principals.write_text('{"AKIA1": {"secret_access_key": "hunter2"', encoding="utf-8")
    env = {"FABU_LOCAL_SIGV4": "1", "FABU_PRINCIPALS": str(principals),
           "AWS_DEFAULT_REGION": REGION, "FABU_ADMIN_ARNS": ""}
    someone = Principal("AKIA1", "hunter2", "arn:aws:iam::000000000000:user/x")
    with mock.patch.dict(os.environ, env), \
            Client(build_test_app(), stage_name="local", project_dir=str(tmp_path)) as client:
        headers = sign("GET", "http://localhost/api/v1/web-1", someone)
        response = client.http.get("/api/v1/web-1", headers=headers)
    assert response.status_code == 403
    error = json.loads(response.body)["error"]
    assert str(principals) in error and "hunter2" not in error
