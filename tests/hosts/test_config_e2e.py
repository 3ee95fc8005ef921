"""A secret from the emulator's SSM reaching a user script on a sandbox host, and nowhere else.

The local stack over HTTP (``chalice local`` on the suite's moto server). The first deploy's
script is fetched as the host fetches it (``GET /api/v1/<host>/deploy``, signed with the host's
keys) so that its text can be searched, then run by real bash; the config-only revision after it
is deployed by the real agent. The secret value is then searched for in the rendered script,
every DynamoDB table, the stored reports, the events and the daily report: only the host's own
files hold it (a user script wrote it there).
"""
import json
import uuid

from tests.conftest import boto_client
from tests.support.sandbox import (SandboxHost, ci_upload, project_body, project_view,
                                   stored_reports)

HOST = "cfg-1.example.com"
START = ('printf "%s" "$DB_PASSWORD" > secret.txt; printf "%s" "$GREETING" > greeting.txt; '
         'echo "revision $FABU_CONFIG_REVISION: connecting with $DB_PASSWORD"')


def _scan_all_tables():
    """Every item of every table of the emulator, as text."""
    dynamodb = boto_client("dynamodb")
    texts = []
    for table in dynamodb.list_tables()["TableNames"]:
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            texts.append(json.dumps(page["Items"], default=str))
    return "\n".join(texts)


def _host_get(live, host, path):
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method="GET", url=live.url + path)
    SigV4Auth(Credentials(host.key, host.secret), "execute-api", "us-east-1").add_auth(request)
    return requests.get(live.url + path, headers=dict(request.headers.items()), timeout=30)


def test_an_ssm_secret_reaches_the_script_only_and_a_config_revision_rolls_out(live, tmp_path):
    secret = f"Sup3r-{uuid.uuid4().hex}"
    path = f"/fabu/local/{uuid.uuid4().hex[:8]}/db-password"
    boto_client("ssm").put_parameter(Name=path, Value=secret, Type="SecureString")
    host = SandboxHost(tmp_path / "cfg-1", live, HOST)
    body = project_body("shop", "1.0.0", [HOST], scripts={"start": START},
                        config={"DB_PASSWORD": {"ssm": path}, "GREETING": "hello"})
    created = live.request("POST", "/api/v1/project", body)
    assert created.status_code == 201, created.text
    ci_upload(live, "shop", "1.0.0")
    live.tick()

    # the script as the host gets it: no secret in it; run by real bash against the stack
    script = _host_get(live, host, f"/api/v1/{HOST}/deploy")
    assert script.status_code == 200 and "P_SECRET_NAMES=(DB_PASSWORD)" in script.text
    assert secret not in script.text
    deploy_id = script.text.split("P_DEPLOY_ID=", 1)[1].split("\n", 1)[0]
    result = host.run_script(script.text, FABU_API_URL=live.url, FABU_REGION="us-east-1",
                             FABU_ROOT=str(host.root), AWS_ACCESS_KEY_ID=host.key,
                             AWS_SECRET_ACCESS_KEY=host.secret)
    assert result.returncode == 0, result.stdout + result.stderr
    release = host.root / "shop" / "current"
    assert (release / "secret.txt").read_text() == secret
    assert (release / "greeting.txt").read_text() == "hello"
    assert secret not in result.stdout + result.stderr
    # after the lease, the route refuses even this host
    refused = _host_get(live, host, f"/api/v1/{HOST}/config?deploy_id={deploy_id}")
    assert refused.status_code == 409, refused.text

    reports = stored_reports(deploy_id)
    assert "revision 0: connecting with ***" in reports["do-deploy"].output
    live.tick()
    assert project_view(live, "shop")["rollout"]["state"] == "succeeded"

    # a config-only change: a new revision of 1.0.0 through the waves, deployed by the agent
    changed = live.request("PUT", "/api/v1/project/shop", {"config": {
        "DB_PASSWORD": {"ssm": path}, "GREETING": "hello again"}})
    assert changed.status_code == 200, changed.text
    live.tick()
    run = host.run_agent()
    assert run.returncode == 0, run.stdout + run.stderr
    live.tick()
    assert (release / "greeting.txt").read_text() == "hello again"
    assert host.releases("shop") == ["1.0.0"] and host.current_version("shop") == "1.0.0"
    rollout = project_view(live, "shop")["rollout"]
    assert (rollout["version"], rollout["revision"], rollout["state"]) == ("1.0.0", 1, "succeeded")
    events = live.request("GET", "/api/v1/project/shop/events?limit=200").json()["events"]
    assert any("config revision 1 of 1.0.0" in (e["message"] or "") for e in events)

    # the value is nowhere the platform keeps or shows anything
    assert secret not in _scan_all_tables()
    assert secret not in json.dumps(events)
    daily = live.request("POST", "/api/v1/reports", {"publish": False})
    assert daily.status_code == 200, daily.text
    assert "shop" in daily.text and secret not in daily.text
    assert secret not in json.dumps(project_view(live, "shop"))
