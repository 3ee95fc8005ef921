"""The real agent through the host protocol's local Function URL front (``infra.function_url``).

A sandbox host whose ``agent.env`` points at ``http://fabu.lambda-url.us-east-1.localhost:<port>``
runs ``agent/fabu-agent.sh`` as cron would: the agent picks SigV4 service ``lambda`` from the URL,
the front checks the signature against the live stack's principals file and calls
``host_front.handler``; the project and its rollout are driven through the REST API as an admin.
"""
import json
from urllib.parse import urlsplit

import requests

from tests.conftest import ADMIN_KEY, ADMIN_SECRET
from tests.support.sandbox import (REGION, SandboxHost, host_row, project_body, project_view,
                                   stored_release, stored_reports)


def _signed(url, method, path, key, secret, service="lambda", body=None):
    """A request to ``url`` signed for ``service``, sent to its port on 127.0.0.1 with its host
    name (Python does not resolve ``*.localhost``; curl does)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=url + path, data=data,
                         headers={"Content-Type": "application/json", "Host": urlsplit(url).netloc})
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(request)
    port = urlsplit(url).port
    return requests.request(method, f"http://127.0.0.1:{port}{path}", data=data,
                            headers=dict(request.headers.items()), timeout=30)


def _front_host(live, tmp_path, front_url, name):
    host = SandboxHost(tmp_path / name, live, name)
    host.write_agent_env(FABU_API_URL=front_url, FABU_REGION=REGION, FABU_HOST=name,
                         FABU_ROOT=str(host.root), FABU_SPLAY="0",
                         AWS_ACCESS_KEY_ID=host.key, AWS_SECRET_ACCESS_KEY=host.secret)
    return host


def test_the_real_agent_deploys_a_release_through_the_function_url_front(live, host_front_url,
                                                                         tmp_path):
    host = _front_host(live, tmp_path, host_front_url, "url-1.example.com")
    created = live.request("POST", "/api/v1/project", project_body("shop", "1.0.0", [host.host]))
    assert created.status_code == 201, created.text
    stored_release("shop", "1.0.0")
    live.tick()
    result = host.run_agent()
    assert result.returncode == 0, result.stdout + result.stderr
    live.tick()
    assert host.current_version("shop") == "1.0.0"
    assert (host.root / "shop" / "current" / "started.txt").read_text() == "started shop 1.0.0\n"
    row = host_row(live, "shop", host.host)
    assert (row["status"], row["running_version"]) == ("succeeded", "1.0.0")
    assert {p: r.status for p, r in stored_reports(row["deploy_id"]).items()} == {
        "pre-deploy": "ok", "do-deploy": "ok", "post-deploy": "ok"}
    assert project_view(live, "shop")["rollout"]["state"] == "succeeded"
    # the next cron run is a no-op poll through the front: nothing printed, exit 0
    again = host.run_agent()
    assert (again.returncode, again.stdout) == (0, "")


def test_the_front_refuses_another_host_the_rest_apis_signature_and_project_routes(
        live, host_front_url, tmp_path):
    host = _front_host(live, tmp_path, host_front_url, "url-2.example.com")
    # the real agent claiming to be another host: 403 from the front, exit 3 naming it
    host.write_agent_env(FABU_API_URL=host_front_url, FABU_REGION=REGION,
                         FABU_HOST="url-3.example.com", FABU_ROOT=str(host.root), FABU_SPLAY="0",
                         AWS_ACCESS_KEY_ID=host.key, AWS_SECRET_ACCESS_KEY=host.secret)
    posing = host.run_agent()
    assert posing.returncode == 3, posing.stdout + posing.stderr
    assert "HTTP 403" in posing.stderr and "signing service 'lambda'" in posing.stderr
    assert "may only call /api/v1/url-2.example.com" in posing.stderr
    # signed for API Gateway (execute-api): refused, naming the service the front checks
    rest_signed = _signed(host_front_url, "GET", "/api/v1/url-2.example.com", host.key,
                          host.secret, service="execute-api")
    assert rest_signed.status_code == 403
    assert rest_signed.json()["error"] == "credential scope service must be lambda"
    # and the REST API refuses a request signed for the Function URL
    lambda_signed = _signed(live.url, "GET", "/api/v1/url-2.example.com", host.key, host.secret)
    assert lambda_signed.status_code == 403
    assert lambda_signed.json()["error"] == "credential scope service must be execute-api"
    own = _signed(host_front_url, "GET", "/api/v1/url-2.example.com", host.key, host.secret)
    assert own.status_code == 204 and own.text == ""
    # an admin's project route is not on the front: 404 saying where it is
    listing = _signed(host_front_url, "GET", "/api/v1/project", ADMIN_KEY, ADMIN_SECRET)
    assert listing.status_code == 404
    assert "the project routes are on the REST API" in listing.json()["error"]
