"""The per-tick membership sync, through the tick: joins, leaves, rejoins, failures, retention.

Instances live in the suite's emulator (moto's EC2 and Auto Scaling); projects are created through
the API; ``tick`` is the minute tick (``rollout.tick.run``), which runs the sync before driving.
What is checked is what an operator sees: the host items the API lists, the events, the tick's
outcome, and — for "cheap when nothing changed" — the DynamoDB writes a steady tick makes.
"""
import json

from chalicelib.states import HostStatus
from tests.fleet.conftest import fleet_project, items_of, sweep_failing
from tests.support.calls import dynamodb_calls
from tests.support.fleet import events_of, ready_release, rollout_of, tick


def _create(api, name, fleet, **overrides):
    response = api.post("/api/v1/project", fleet_project(name, fleet=fleet, **overrides))
    assert response.status == 201, response
    ready_release(name, overrides.get("version", "1.0.0"))
    return response.json


_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def _hosts_table_writes():
    """Every write request to the hosts table (host items and the stored member sets)."""
    from chalicelib.models import FleetShard, HostState

    def hosts_write(operation, params):
        return operation if operation in _WRITES and "-hosts" in json.dumps(params, default=str) else None
    return dynamodb_calls((HostState, FleetShard), hosts_write)


def test_members_join_leave_and_rejoin_with_an_event_each(api, cloud, fleet_tag):
    ids = cloud.launch(3, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag})
    assert items_of("web") == {}   # nothing planned before the fleet was synced
    outcome = tick()
    assert outcome["fleet"]["joined"] == 3 and outcome["fleet"]["calls"] == {"DescribeInstances": 1}
    items = items_of("web")
    assert sorted(items) == sorted(ids)
    assert {h: (i.member, i.zone) for h, i in items.items()} == {
        h: ("fleet", cloud.zone_of(h)) for h in ids}
    rollout = rollout_of(api)
    assert (rollout["state"], rollout["waves"][0]["size"]) == ("running", 3)
    joined = events_of("web", "host.joined")
    assert sorted(e["host"] for e in joined) == sorted(ids)
    assert joined[0]["detail"]["rejoined"] is False and joined[0]["detail"]["member"] == "fleet"

    cloud.terminate(ids[0])
    cloud.stop(ids[1])
    outcome = tick()
    assert outcome["fleet"]["left"] == 2
    items = items_of("web")
    assert [items[h].status for h in ids] == ["left", "left", "pending"]
    assert items[ids[0]].deploy_id is None and items[ids[0]].left_at is not None
    left = {e["host"]: e for e in events_of("web", "host.left")}
    assert set(left) == set(ids[:2]) and "terminated" in left[ids[0]]["detail"]["why"]
    assert rollout_of(api)["waves"][0]["size"] == 1   # leavers no longer count in the wave

    cloud.start(ids[1])
    tick()
    back = next(e for e in events_of("web", "host.joined") if e["detail"]["rejoined"])
    assert back["host"] == ids[1]
    assert items_of("web")[ids[1]].status == "pending"   # rejoined its wave, released
    assert rollout_of(api)["waves"][0]["size"] == 2


def test_a_failed_sweep_keeps_every_member_and_says_why_once(api, cloud, fleet_tag):
    ids = cloud.launch(2, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag})
    tick()
    cloud.terminate(ids[0])   # would leave, if the sweep could be trusted
    with sweep_failing() as refused:
        first, second = tick(), tick()
    assert refused and "Throttling" in first["fleet"]["errors"]["web"]
    assert "web" in first["rollouts"]   # the rollouts were driven all the same
    assert {i.status for i in items_of("web").values()} == {HostStatus.PENDING}
    failed = events_of("web", "fleet.sync_failed")
    assert len(failed) == 1 and "Throttling" in failed[0]["detail"]["error"]
    assert second["fleet"]["errors"]["web"] == first["fleet"]["errors"]["web"]
    tick()
    assert len(events_of("web", "fleet.sync_recovered")) == 1
    assert items_of("web")[ids[0]].status == "left"


def test_a_deleted_group_fails_its_projects_sync_only(api, cloud, fleet_tag, group_name):
    cloud.group(group_name, 2)
    _create(api, "grouped", {"autoscaling_groups": [group_name]})
    tagged = cloud.launch(1, fleet_tag)
    _create(api, "tagged", {"ec2_tags": fleet_tag})
    tick()
    assert len(items_of("grouped")) == 2
    cloud.delete_group(group_name)
    outcome = tick()
    assert f"no Auto Scaling group named '{group_name}'" in outcome["fleet"]["errors"]["grouped"]
    assert "tagged" not in outcome["fleet"]["errors"]
    assert {i.status for i in items_of("grouped").values()} != {"left"}
    assert list(items_of("tagged")) == tagged


def test_leavers_are_deleted_after_the_retention(api, cloud, fleet_tag, monkeypatch):
    monkeypatch.setenv("FABU_LEFT_RETENTION_DAYS", "2")
    ids = cloud.launch(2, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag})
    tick()
    cloud.terminate(ids[0])
    tick()
    tick(86400)                                   # a day later: still shown as left
    assert items_of("web")[ids[0]].status == "left"
    outcome = tick(2 * 86400 + 60)
    assert outcome["fleet"]["retired"] == 1
    assert list(items_of("web")) == [ids[1]]


def test_changes_are_bounded_per_tick_and_finished_on_the_next(api, cloud, fleet_tag,
                                                                monkeypatch):
    monkeypatch.setenv("FABU_FLEET_MAX_CHANGES", "2")
    cloud.launch(5, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag})
    counts = []
    for _ in range(3):
        outcome = tick()
        counts.append(outcome["fleet"]["joined"])
        more = outcome["fleet"]["more"]
    assert counts == [2, 2, 1] and more == []
    assert len(items_of("web")) == 5


def test_a_steady_fleet_costs_one_describe_and_no_write(api, cloud, fleet_tag):
    cloud.launch(3, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag})
    _create(api, "same-tags", {"ec2_tags": dict(fleet_tag)})   # one sweep for both
    tick()
    from chalicelib.models import Rollout
    for name in ("web", "same-tags"):   # rollouts finished: the tick drives nothing
        for rollout in Rollout.query(name):
            rollout.update(actions=[Rollout.state.set("succeeded"), Rollout.active_pk.remove()])
    with _hosts_table_writes() as writes:
        outcome = tick()
    assert outcome["fleet"]["calls"] == {"DescribeInstances": 1}
    assert outcome["fleet"]["members"] == 6 and writes == []


def test_a_listed_host_that_is_also_a_member_is_one_listed_host(api, cloud, fleet_tag):
    ids = cloud.launch(3, fleet_tag)
    _create(api, "web", {"ec2_tags": fleet_tag}, hosts=[ids[0], "web-1.example.com"])
    tick()
    items = items_of("web")
    assert sorted(items) == sorted(ids + ["web-1.example.com"])
    assert items[ids[0]].member is None and items[ids[1]].member == "fleet"
    assert rollout_of(api)["waves"][0]["size"] == 4
    assert ids[0] not in {e["host"] for e in events_of("web", "host.joined")}
