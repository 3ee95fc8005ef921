"""What project changes do to rollouts: a new version supersedes, hosts join and leave, a
``deploy_at`` moves, a delete takes the rollout out of the tick; a dependency cycle is refused."""
from tests.support.fleet import (FLEET_HOSTS as HOSTS, create, events_of, later, put, rollout_of,
                                 tick)


def test_a_dependency_cycle_is_refused_naming_it(api):
    create(api, HOSTS[:1], name="a")
    create(api, HOSTS[:1], name="b", depends_on=[{"project": "a"}])
    response = api.put("/api/v1/project/a", {"depends_on": [{"project": "b"}]})
    assert response.status == 400
    assert "a -> b -> a" in response.json["error"]


def test_a_newer_version_supersedes_and_hosts_mid_deploy_finish(api, fleet):
    create(api, HOSTS, rollout={"waves": [3, "100%"], "canary_hosts": HOSTS[:3]})
    tick()
    fleet.hung.add(HOSTS[0])
    fleet.round(HOSTS[:2])                  # host 0 runs the script (no report yet), 1 succeeds
    put(api, version="2.0.0")
    old, new = events_of("web", "rollout.superseded"), rollout_of(api)
    assert len(old) == 1 and new["version"] == "2.0.0"
    assert fleet.round([HOSTS[2]]) == []    # its queued 1.0.0 deploy was withdrawn
    tick()
    assert rollout_of(api)["reason"].startswith("waiting for 1 hosts to finish")
    fleet.hung.discard(HOSTS[0])
    deploy = [d for d in fleet.handed if d[0] == HOSTS[0]][-1]
    fleet.run(HOSTS[0], {"project": "web", "version": "1.0.0", "kind": "deploy",
                         "deploy_id": deploy[4]})  # the late report is still accepted
    assert fleet.versions("web")[HOSTS[0]] == "1.0.0"
    tick()
    rollout = rollout_of(api)
    assert rollout["state"] == "running" and rollout["wave"] == 0
    handed = fleet.round(HOSTS[:3])
    assert {item["version"] for _, item in handed} == {"2.0.0"} and len(handed) == 3


def test_hosts_added_to_a_finished_rollout_join_its_last_wave_and_removed_hosts_leave(api, fleet):
    create(api, HOSTS[:3], rollout={"waves": [1, "100%"], "canary_hosts": HOSTS[1:2]})
    tick()
    fleet.round(HOSTS[:3])
    tick()
    fleet.round(HOSTS[:3])
    assert tick()["rollouts"]["web"] == "succeeded"
    put(api, hosts=HOSTS[1:5])              # HOSTS[0] leaves, HOSTS[3] and HOSTS[4] join
    rollout = rollout_of(api)
    assert rollout["state"] == "running" and rollout["reason"] == "2 hosts added"
    assert rollout["waves"][1]["size"] == 4
    [added] = events_of("web", "rollout.hosts_added")
    assert added["message"] == "2 hosts join wave 1" and added["detail"]["hosts"] == HOSTS[3:5]
    assert tick()["rollouts"]["web"] == "running"
    assert sorted(h for h, _ in fleet.round(HOSTS[:5])) == HOSTS[3:5]  # not the host that left
    assert tick()["rollouts"]["web"] == "succeeded"
    rows = api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
    assert [r["host"] for r in rows] == HOSTS[1:5]
    assert fleet.at("1.0.0") == HOSTS[:5]   # the host that left keeps what it runs


def test_a_new_deploy_at_moves_a_scheduled_start(api, fleet):
    create(api, HOSTS[:2], deploy_at=later(3600).strftime("%Y-%m-%dT%H:%M:%SZ"))
    put(api, deploy_at=later(7200).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert tick(3601)["rollouts"]["web"] == "scheduled"
    assert fleet.round(HOSTS[:2]) == []
    assert tick(7201)["rollouts"]["web"] == "running"
    assert len(fleet.round(HOSTS[:2])) == 2


def test_a_deleted_projects_rollout_is_cancelled_and_leaves_the_tick(api):
    from chalicelib.models import Rollout
    create(api, HOSTS[:2], ready=False)
    assert rollout_of(api)["state"] == "waiting_release"
    assert api.delete("/api/v1/project/web").status == 200
    [rollout] = Rollout.query("web")
    assert rollout.state == "cancelled" and rollout.active_pk is None
    assert rollout.reason == "project deleted by arn:aws:iam::000000000000:user/fabu-admin"
    assert "web" not in tick()["rollouts"]
