"""Members that join or leave around rollouts: catch-up, joining a running wave, retiring.

Hosts are instances of the emulator's EC2 and Auto Scaling, named by instance id; they speak the
host protocol through the API as the simulated fleet of ``tests/support/fleet.py`` (poll, fetch
the script, report). The tick (sync, then the rollouts) is run the way the scheduler runs it.
"""
from tests.fleet.conftest import fleet_project, items_of
from tests.support.fleet import Fleet, events_of, put, ready_release, rollout_of, tick


def _create(api, fleet, **rollout):
    body = fleet_project("web", fleet=fleet, rollout=rollout)
    assert api.post("/api/v1/project", body).status == 201
    ready_release("web", "1.0.0")


def _roll(hosts, rounds=3):
    """``rounds`` of a tick and every host's cron, then a last tick."""
    for _ in range(rounds):
        tick()
        hosts.round()
    tick()


def test_a_member_launched_after_success_catches_up_on_its_first_poll(api, signed_client, cloud,
                                                                      fleet_tag):
    ids = cloud.launch(3, fleet_tag)
    _create(api, {"ec2_tags": fleet_tag}, waves=[1, "100%"])
    hosts = Fleet(signed_client, ids)
    _roll(hosts)
    assert rollout_of(api)["state"] == "succeeded" and hosts.at("1.0.0") == sorted(ids)

    new = cloud.launch(1, fleet_tag)[0]
    late = Fleet(signed_client, [new])
    assert late.round() == []            # not a member before the next sync
    tick()
    handed = late.round()                # its first poll after the sync: no PUT, no wave
    assert [(h, i["version"]) for h, i in handed] == [(new, "1.0.0")]
    assert late.at("1.0.0") == [new]
    joined = events_of("web", "host.joined")[0]
    assert (joined["host"], joined["detail"]["catch_up"]) == (new, "1.0.0")
    rollout = rollout_of(api)
    assert rollout["state"] == "succeeded" and [w["size"] for w in rollout["waves"]] == [1, 3]
    assert items_of("web")[new].status == "succeeded"


def test_a_member_joining_a_running_rollout_joins_the_last_released_wave(api, signed_client,
                                                                         cloud, fleet_tag):
    ids = cloud.launch(3, fleet_tag)
    _create(api, {"ec2_tags": fleet_tag}, waves=[1, "100%"], bake_seconds=3600)
    hosts = Fleet(signed_client, ids)
    tick()
    assert len(hosts.round()) == 1       # the canary
    tick()                               # wave 0 done: baking for an hour
    new = cloud.launch(1, fleet_tag)[0]
    tick()
    item = items_of("web")[new]
    assert (item.wave, item.status, item.target_version) == (0, "pending", "1.0.0")
    assert [w["size"] for w in rollout_of(api)["waves"]] == [2, 2]
    joined = Fleet(signed_client, [new])
    assert [i["version"] for _, i in joined.round()] == ["1.0.0"]
    assert len(hosts.round()) == 0       # wave 1 is still held by the bake
    assert events_of("web", "host.joined")[0]["detail"]["wave"] == 0


def test_a_terminated_instance_mid_deploy_retires_and_the_next_rollout_succeeds(
        api, signed_client, cloud, fleet_tag):
    ids = cloud.launch(3, fleet_tag)
    _create(api, {"ec2_tags": fleet_tag}, waves=["100%"])
    hosts = Fleet(signed_client, ids)
    hosts.hung.add(ids[0])               # takes its script and dies with the instance
    tick()
    assert len(hosts.round()) == 3
    assert items_of("web")[ids[0]].status == "in_progress"
    cloud.terminate(ids[0])
    assert tick()["rollouts"]["web"] == "succeeded"
    rollout = rollout_of(api)
    assert rollout["failures"] == 0 and rollout["waves"][0]["size"] == 2
    assert items_of("web")[ids[0]].status == "left"

    put(api, version="1.1.0")
    assert tick()["rollouts"]["web"] == "running"   # not held by the leaver's unfinished deploy
    handed = hosts.round(ids[1:])
    assert sorted(h for h, _ in handed) == sorted(ids[1:])
    assert tick()["rollouts"]["web"] == "succeeded"
    assert hosts.at("1.1.0") == sorted(ids[1:])
    assert items_of("web")[ids[0]].status == "left"


def test_an_autoscaling_scale_out_during_a_rollout(api, signed_client, cloud, group_name):
    first = cloud.group(group_name, 3)
    _create(api, {"autoscaling_groups": [group_name]}, waves=[1, "100%"])
    hosts = Fleet(signed_client, first)
    tick()
    assert len(hosts.round()) == 1
    everyone = cloud.scale(group_name, 5)
    added = sorted(set(everyone) - set(first))
    tick()                               # the 2 new ones join wave 0 and are released
    assert {items_of("web")[h].status for h in added} == {"pending"}
    hosts = Fleet(signed_client, everyone)
    assert sorted(h for h, _ in hosts.round()) == added
    _roll(hosts)
    assert rollout_of(api)["state"] == "succeeded"
    items = items_of("web")
    assert sorted(items) == sorted(everyone)
    assert {(i.status, i.running_version) for i in items.values()} == {("succeeded", "1.0.0")}
    assert sum(w["size"] for w in rollout_of(api)["waves"]) == 5
    assert {e["detail"]["wave"] for e in events_of("web", "host.joined")
            if e["host"] in added} == {0}
