"""Phase reports under DynamoDB faults: nothing lost, nothing applied twice, no host stuck.

The API runs as ``chalice local`` behind ``tests/support/faults.py``'s proxy, which answers the
DynamoDB writes a test picks with a real ``ProvisionedThroughputExceededException`` (or forwards
them and loses the answer). Hosts speak to that API over HTTP: signed requests, or the real
agent on a sandbox host, whose curl retries a report the API answered with a 5xx.
"""
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support.faults import fault_proxy, faulty, faulty_stack, first_per_key, writes_to  # noqa: F401
from tests.support.sandbox import SandboxHost, events_of, host_row, project_body, stored_release

HOST = "web-1.example.com"


def _signed(stack, key, secret, method, path, body=None):
    import json
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=stack.url + path, data=data,
                         headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "execute-api", "us-east-1").add_auth(request)
    return requests.request(method, stack.url + path, data=data, headers=dict(request.headers),
                            timeout=60)


def _released(stack, host=HOST):
    """A project with ``host`` released by the engine: the host's keys and its deploy_id."""
    stored_release("shop", "1.0.0")
    body = project_body("shop", "1.0.0", [host])
    assert stack.request("POST", "/api/v1/project", body).status_code == 201
    stack.tick()
    key, secret = stack.add_host(host)
    polled = _signed(stack, key, secret, "GET", f"/api/v1/{host}")
    assert polled.status_code == 200, polled.text
    return key, secret, polled.json()["pending"][0]["deploy_id"]


def _report(stack, key, secret, deploy_id, phase, output="fine\n", host=HOST):
    return _signed(stack, key, secret, "POST", f"/api/v1/{host}/report", {
        "project": "shop", "version": "1.0.0", "deploy_id": deploy_id, "phase": phase,
        "status": "ok", "exit_code": 0, "output": output, "running_version": "1.0.0"})


def _view(stack, host=HOST):
    response = stack.request("GET", f"/api/v1/project/shop/hosts/{host}/report")
    assert response.status_code == 200, response.text
    return response.json()


def _report_key(call):
    """``<deploy_id>#<phase>`` of the report a write stores (any other write: None)."""
    items = [entry.get("Put") or {} for entry in call.body.get("TransactItems") or []]
    for put in items + [call.body]:
        if str(put.get("TableName", "")).endswith("-reports"):
            return (put.get("Item") or {}).get("sk", {}).get("S")
    return None


def test_a_report_whose_state_write_is_throttled_is_a_5xx_then_applied_by_the_retry(faulty):
    """The host item's write fails: nothing is stored, and the retry is not a 'duplicate'."""
    key, secret, deploy_id = _released(faulty)
    for phase in ("pre-deploy", "do-deploy"):
        assert _report(faulty, key, secret, deploy_id, phase).status_code == 200
    throttled = faulty.faults.throttle(writes_to("hosts"), limit=5)  # every attempt of one call
    refused = _report(faulty, key, secret, deploy_id, "post-deploy")
    assert refused.status_code in (500, 503), refused.text
    if refused.status_code == 503:
        assert int(refused.headers["Retry-After"]) >= 1
        assert "ProvisionedThroughputExceededException" in refused.json()["error"]
    assert len(throttled.hits) == 5 and all(c.operation == "TransactWriteItems"
                                            for c in throttled.hits)
    view = _view(faulty)
    assert view["status"] == "pending"
    assert [r["phase"] for r in view["reports"]] == ["pre-deploy", "do-deploy"]

    retried = _report(faulty, key, secret, deploy_id, "post-deploy")
    assert retried.status_code == 200, retried.text
    assert retried.json() == {"accepted": True, "status": "succeeded"}
    again = _report(faulty, key, secret, deploy_id, "post-deploy")
    assert again.json() == {"accepted": True, "duplicate": True, "status": "succeeded"}
    assert [r["phase"] for r in _view(faulty)["reports"]] == ["pre-deploy", "do-deploy", "post-deploy"]
    assert events_of(faulty, "shop").count("host.succeeded") == 1


def test_a_committed_report_whose_answer_was_lost_is_applied_exactly_once(faulty):
    """DynamoDB committed, the answer was lost, botocore retried: the host hears "duplicate"
    (its own first attempt is stored) and the outcome and events exist exactly once."""
    key, secret, deploy_id = _released(faulty)
    output = "::fabu::info cache warmed\n::fabu::warn slow disk\n::fabu::error one shard down\n"

    def lose_one():
        return faulty.faults.lose_responses(
            lambda call: call.operation == "TransactWriteItems" and call.touches("reports"), limit=1)

    for phase, status in (("pre-deploy", "pending"), ("do-deploy", "pending"),
                          ("post-deploy", "succeeded")):
        lost = lose_one()
        answer = _report(faulty, key, secret, deploy_id, phase, output=output)
        assert len(lost.hits) == 1
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"accepted": True, "duplicate": True, "status": status}
    kinds = events_of(faulty, "shop")
    assert kinds.count("host.message") == 9 and kinds.count("host.succeeded") == 1
    view = _view(faulty)
    assert [r["phase"] for r in view["reports"]] == ["pre-deploy", "do-deploy", "post-deploy"]
    assert (view["status"], view["messages"]["recorded"]) == ("succeeded", 9)


def test_the_agent_deploys_while_every_report_write_is_throttled_and_nothing_is_lost(
        faulty, tmp_path):
    """Each phase report's first API call fails (all of botocore's attempts throttled); curl
    retries it; the host ends ``succeeded`` once, with each report stored once."""
    host = SandboxHost(tmp_path / HOST, faulty, HOST)
    stored_release("shop", "1.0.0")
    assert faulty.request("POST", "/api/v1/project",
                          project_body("shop", "1.0.0", [HOST])).status_code == 201
    faulty.tick()
    refuse = faulty.faults.throttle(first_per_key(5, _report_key, writes_to("reports")))
    result = host.run_agent(timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    faulty.faults.disarm()

    assert sorted({_report_key(c) for c in refuse.hits}) == sorted(
        f"{host_row(faulty, 'shop', HOST)['deploy_id']}#{phase}"
        for phase in ("pre-deploy", "do-deploy", "post-deploy"))
    assert len(refuse.hits) == 15                       # 5 attempts of one API call per report
    statuses = faulty.answers(f"/api/v1/{HOST}/report")
    assert sorted(statuses) in ([200] * 3 + [500] * 3, [200] * 3 + [503] * 3), statuses
    committed = [c for c in faulty.faults.writes("reports") if c.status == 200]
    assert len(committed) == 3                          # each report written exactly once

    faulty.tick()
    row = host_row(faulty, "shop", HOST)
    assert (row["status"], row["running_version"]) == ("succeeded", "1.0.0")
    assert host.current_version("shop") == "1.0.0"
    view = _view(faulty)
    assert [(r["phase"], r["status"]) for r in view["reports"]] == [
        ("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok")]
    assert events_of(faulty, "shop").count("host.succeeded") == 1
    rollout = faulty.request("GET", "/api/v1/project/shop").json()["rollout"]
    assert rollout["state"] == "succeeded"
