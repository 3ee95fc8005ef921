"""End to end: a tag-selected fleet of emulator instances running the real agent.

Five instances tagged in the emulator's EC2 are sandbox hosts named by their instance ids (as an
instance profile's session would name them), running ``agent/fabu-agent.sh`` against
``chalice local`` (the ``live`` fixture); ``live.tick()`` runs the scheduled tick (fleet sync,
then the rollouts). They deploy 1.0.0 in two waves; a sixth instance launched afterwards reaches
1.0.0 on its first agent run after a sync, with no PUT; one terminated instance retires and the
next version's rollout succeeds on the others.
"""
from tests.support.sandbox import SandboxHost, project_body, project_view, stored_release


def _run(hosts):
    for host in hosts:
        host.run_agent()


def _state(live):
    return project_view(live, "shop")["rollout"]["state"]


def test_a_tagged_fleet_deploys_catches_up_and_retires(live, tmp_path, cloud, fleet_tag):
    ids = cloud.launch(5, fleet_tag)
    hosts = [SandboxHost(tmp_path / i, live, i) for i in ids]
    stored_release("shop", "1.0.0")
    body = project_body("shop", "1.0.0", [], fleet={"ec2_tags": fleet_tag},
                        rollout={"waves": [2, "100%"]})
    del body["hosts"]
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    live.tick()                                   # the fleet syncs, wave 0 (2 hosts) starts
    _run(hosts)
    assert sorted(h.current_version("shop") or "" for h in hosts) == [""] * 3 + ["1.0.0"] * 2
    live.tick()                                   # wave 1
    _run(hosts)
    live.tick()
    assert _state(live) == "succeeded"
    assert [h.current_version("shop") for h in hosts] == ["1.0.0"] * 5

    sixth_id = cloud.launch(1, fleet_tag)[0]      # launched from an "old image": nothing on it
    sixth = SandboxHost(tmp_path / sixth_id, live, sixth_id)
    live.tick()                                   # joins: caught up at once
    sixth.run_agent()
    assert sixth.current_version("shop") == "1.0.0"

    cloud.terminate(ids[0])
    stored_release("shop", "2.0.0")
    assert live.request("PUT", "/api/v1/project/shop", {"version": "2.0.0"}).status_code == 200
    rest = hosts[1:] + [sixth]
    live.tick()                                   # ids[0] leaves; wave 0 of 2.0.0 starts
    _run(rest)
    live.tick()
    _run(rest)
    live.tick()
    view = project_view(live, "shop")
    assert view["rollout"]["state"] == "succeeded" and view["rollout"]["failures"] == 0
    assert [h.current_version("shop") for h in rest] == ["2.0.0"] * 5
    assert sum(w["size"] for w in view["rollout"]["waves"]) == 5
    rows = {row["host"]: row for row in view["hosts_view"]["hosts"]}
    assert rows.get(ids[0], {}).get("status", "left") == "left"
