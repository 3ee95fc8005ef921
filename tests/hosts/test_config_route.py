"""``GET /api/v1/{host}/config``: a deploy's secret config, only for the host holding its lease.

Both fronts: the REST API as the Chalice app serves it (``chalice.test`` client, SigV4-signed as
the host) and HostFront's handler with either event Lambda builds once the caller is verified (a
Function URL's, or on AWS the REST API's proxy event). The lease is taken the way a
host takes it (``GET /api/v1/{host}/deploy``); the parameters and secrets are in the emulator.
"""
import base64
import datetime
import json
import uuid

import pytest

from tests.conftest import base_project, boto_client
from tests.support.hosts import HOST, HOST_ARN, ready_release, released_item

OTHER = "web-2.example.com"
OTHER_ARN = f"arn:aws:iam::000000000000:user/fabu-hosts/{OTHER}"


@pytest.fixture
def secrets():
    """An SSM SecureString, a String and a Secrets Manager secret under the local prefixes."""
    tag = uuid.uuid4().hex[:10]
    values = {"DB_PASSWORD": f"pw-{tag}-Ünïcode 'q' $(x)\nline2", "REGION_NAME": f"eu-{tag}",
              "API_TOKEN": f"tok-{tag}"}
    ssm, sm = boto_client("ssm"), boto_client("secretsmanager")
    ssm.put_parameter(Name=f"/fabu/local/{tag}/db", Value=values["DB_PASSWORD"], Type="SecureString")
    ssm.put_parameter(Name=f"/fabu/local/{tag}/region", Value=values["REGION_NAME"], Type="String")
    sm.create_secret(Name=f"fabu/local/{tag}/token", SecretString=values["API_TOKEN"])
    config = {"DB_PASSWORD": {"ssm": f"/fabu/local/{tag}/db"},
              "REGION_NAME": {"ssm": f"/fabu/local/{tag}/region"},
              "API_TOKEN": {"secret": f"fabu/local/{tag}/token"}, "GREETING": "hello"}
    return {"tag": tag, "values": values, "config": config}


def _leased(api, host_client, config, deploy_id="d-1"):
    """The project with ``config``, its release ready, ``HOST``'s deploy released and leased
    (the host fetched its script); returns the script's text."""
    assert api.post("/api/v1/project", base_project(config=config)).status == 201
    ready_release("web", "1.0.0")
    released_item(HOST, "web", "1.0.0", deploy_id=deploy_id)
    response = host_client.get(f"/api/v1/{HOST}/deploy")
    assert response.status == 200
    return response.body.decode() if isinstance(response.body, bytes) else response.body


def _decoded(answer):
    return {name: base64.b64decode(value).decode("utf-8") for name, value in answer["values"].items()}


def test_the_lease_holder_gets_the_values_and_the_script_never_has_them(api, host_client, secrets):
    text = _leased(api, host_client, secrets["config"])
    for value in secrets["values"].values():
        assert value not in text and value.split("\n")[0] not in text
    assert "P_SECRET_NAMES=(API_TOKEN DB_PASSWORD REGION_NAME)" in text
    assert "[GREETING]=hello" in text
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["project"] == "web" and response.json["deploy_id"] == "d-1"
    assert response.json["encoding"] == "base64"
    assert _decoded(response.json) == secrets["values"]  # plain values travel in the script


@pytest.mark.parametrize("fmt", ["url", "rest"])
def test_the_host_front_answers_the_same_through_both_doors(api, host_client, secrets, fmt):
    """HostFront's handler with a Function URL event and with the REST API's proxy event."""
    from host_front import handler
    from tests.hosts.test_function_url import front_event
    _leased(api, host_client, secrets["config"])
    path = f"/api/v1/{HOST}/config"
    answer = handler(front_event(fmt, "GET", path, query="deploy_id=d-1"), None)
    assert answer["statusCode"] == 200, answer
    assert answer["headers"] == {"Content-Type": "application/json", "Cache-Control": "no-store",
                                 "Pragma": "no-cache"}
    assert _decoded(json.loads(answer["body"])) == secrets["values"]
    rest = host_client.get(f"{path}?deploy_id=d-1")
    assert {k: rest.headers.get(k) for k in answer["headers"]} == answer["headers"]
    refused = handler(front_event(fmt, "GET", path, query="deploy_id=d-1", arn=OTHER_ARN), None)
    assert refused["statusCode"] == 403


def test_another_host_is_refused_whatever_it_asks(api, host_client, signed_client, secrets):
    _leased(api, host_client, secrets["config"])
    other = signed_client(OTHER_ARN)
    # its own route, someone else's deploy: not one of its deploys
    response = other.get(f"/api/v1/{OTHER}/config?deploy_id=d-1")
    assert response.status == 403
    assert "d-1 is not a deploy of web-2.example.com" in response.json["error"]
    # the lease holder's route: the caller is not that host
    assert other.get(f"/api/v1/{HOST}/config?deploy_id=d-1").status == 403
    assert api.get(f"/api/v1/{HOST}/config?deploy_id=d-1").status == 403  # nor is an admin


def test_without_the_lease_there_is_nothing(api, host_client, secrets):
    """Released but not handed out, finished, superseded, or the lease expired: 409 saying so."""
    from chalicelib.models import HostState
    assert api.post("/api/v1/project", base_project(config=secrets["config"])).status == 201
    released_item(HOST, "web", "1.0.0", deploy_id="d-1")  # pending: the script not fetched yet
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 409 and "is pending, not in progress" in response.json["error"]
    released_item(HOST, "web", "1.0.0", status="succeeded", deploy_id="d-1")
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 409 and "is succeeded, not in progress" in response.json["error"]
    # an older deploy of this host (a new one was issued since)
    released_item(HOST, "web", "1.0.0", status="in_progress", deploy_id="d-2",
                  issued_ids=["d-1", "d-2"], leased_at=datetime.datetime.now(datetime.timezone.utc))
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 409 and "d-1 of web on web-1.example.com is over" in response.json["error"]
    assert host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-2").status == 200
    # the lease is older than deploy_timeout (1800 s by default)
    item = HostState.get(HOST, "web")
    item.update(actions=[HostState.leased_at.set(
        datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1801))])
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-2")
    assert response.status == 409 and "expired" in response.json["error"]
    missing = host_client.get(f"/api/v1/{HOST}/config")
    assert missing.status == 400 and missing.json["fields"] == {"deploy_id": "is required"}


def test_a_parameter_deleted_after_the_save_is_a_409_naming_it(api, host_client, secrets):
    _leased(api, host_client, secrets["config"])
    boto_client("ssm").delete_parameter(Name=secrets["config"]["DB_PASSWORD"]["ssm"])
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 409
    assert response.json["fields"] == {
        "config.DB_PASSWORD": f"SSM parameter {secrets['config']['DB_PASSWORD']['ssm']} does not exist"}


def test_a_project_without_references_answers_no_values(api, host_client):
    _leased(api, host_client, {"MODE": "plain"})
    response = host_client.get(f"/api/v1/{HOST}/config?deploy_id=d-1")
    assert response.status == 200 and response.json["values"] == {}
