"""The deploy script route (chalicelib/hosts/deploy.py): leasing, and what goes into the script."""
from tests.conftest import base_project
from tests.support.hosts import HOST, ready_release, released_item


def _script(host_client):
    response = host_client.get(f"/api/v1/{HOST}/deploy")
    assert response.status == 200
    body = response.body
    return body.decode() if isinstance(body, bytes) else body


def test_deploy_script_leases_the_item_and_names_the_deploy(api, host_client):
    api.post("/api/v1/project", base_project())
    ready_release("web", "1.0.0")
    released_item(HOST, "web", "1.0.0")
    response = host_client.get(f"/api/v1/{HOST}/deploy")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/x-shellscript")
    assert "d-1" in response.body.decode() if isinstance(response.body, bytes) else "d-1" in response.body
    from chalicelib.models import HostState
    item = HostState.get(HOST, "web")
    assert item.status == "in_progress" and item.leased_at is not None
    assert host_client.get(f"/api/v1/{HOST}").status == 204


def test_deploy_waits_while_the_release_is_not_ready(api, host_client):
    api.post("/api/v1/project", base_project())
    released_item(HOST, "web", "1.0.0")
    host_client.get(f"/api/v1/{HOST}/deploy")
    from chalicelib.models import HostState
    assert HostState.get(HOST, "web").status == "pending"


def test_one_script_holds_every_ready_item_in_dependency_order(api, host_client):
    api.post("/api/v1/project", base_project(name="db", deb_dependencies=["postgresql (>= 15)"]))
    api.post("/api/v1/project", base_project(depends_on=[{"project": "db", "version": ">=1"}]))
    api.post("/api/v1/project", base_project(name="api"))
    for project in ("web", "db"):
        ready_release(project, "1.0.0")
        released_item(HOST, project, "1.0.0", deploy_id=f"d-{project}")
    released_item(HOST, "api", "0.9.0", status="rollback_pending", deploy_id="r-api",
                  deploy_kind="rollback", reason="error rate 12%", running_version="1.0.0")
    text = _script(host_client)
    positions = [text.index(f"P_PROJECT={name}\n") for name in ("db", "web")]
    assert positions == sorted(positions)
    assert "P_DEPS=(postgresql ge 15)" in text
    assert "P_REASON='error rate 12%'" in text and "P_URL=''" in text
    from chalicelib.models import HostState
    assert {i.project: i.status for i in HostState.query(HOST)} == {
        "web": "in_progress", "db": "in_progress", "api": "in_progress"}


def test_with_nothing_pending_the_script_has_no_item_and_changes_nothing(api, host_client):
    api.post("/api/v1/project", base_project())
    ready_release("web", "1.0.0")
    released_item(HOST, "web", "1.0.0", status="succeeded")
    text = _script(host_client)
    assert "FABU_ITEM_COUNT=0" in text
    from chalicelib.models import HostState
    assert HostState.get(HOST, "web").status == "succeeded"


def test_the_deploy_ids_a_host_is_handed_are_the_ones_it_may_report(api, signed_client):
    """The engine issues each deploy id to one host item; a host may report only its own, and
    the last ten of them (a late report of an older deploy is kept, an older one refused)."""
    import re

    from tests.support.fleet import create, host_arn, put, tick
    hosts = [HOST, "web-2.example.com"]
    create(api, hosts, rollout={"waves": ["100%"], "bake_seconds": 0})
    tick()
    clients = {host: signed_client(host_arn(host)) for host in hosts}
    handed = {}
    for host, client in clients.items():
        text = client.get(f"/api/v1/{host}/deploy").body
        text = text.decode() if isinstance(text, bytes) else text
        handed[host] = re.findall(r"P_DEPLOY_ID=(\S+)", text)
    assert all(len(ids) == 1 for ids in handed.values()) and handed[HOST] != handed[hosts[1]]

    def report(host, deploy_id, version="1.0.0"):
        return clients[host].post(f"/api/v1/{host}/report", {
            "project": "web", "version": version, "deploy_id": deploy_id, "phase": "pre-deploy",
            "status": "ok", "output": "", "running_version": ""})

    assert report(hosts[1], handed[HOST][0]).status == 404           # not its own
    first = handed[HOST][0]
    for n in range(2, 12):                       # ten more deploys of web-1: the first drops out
        put(api, version=f"{n}.0.0")
        tick(seconds=1801)  # both hosts leased 1.0.0: past the deploy timeout, the new one plans
    from chalicelib.models import HostState
    issued = HostState.get(HOST, "web").issued_ids
    assert len(issued) == 10 and first not in issued and issued[-1] == HostState.get(HOST, "web").deploy_id
    refused = report(HOST, first)
    assert refused.status == 404 and "older than its last 10 deploys" in refused.json["error"]
    late = report(HOST, issued[0], version="2.0.0")
    assert late.status == 200 and late.json["stale"] is True
