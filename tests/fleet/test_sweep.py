"""The Describe calls of a sync: one paged sweep per distinct selector, counted at the AWS boundary."""
from chalicelib.fleet import sweep
from tests.fleet.conftest import describe_calls, fleet_project, items_of
from tests.support.fleet import ready_release, tick


def _create(api, name, fleet):
    assert api.post("/api/v1/project", fleet_project(name, fleet=fleet)).status == 201
    ready_release(name, "1.0.0")


def test_one_paged_sweep_per_distinct_selector(api, cloud, fleet_tag, group_name, monkeypatch):
    monkeypatch.setattr(sweep, "PAGE_SIZE", 2)   # moto pages by reservation: 3 → 2 pages
    tagged = cloud.launch(3, fleet_tag)
    other = {"fleet-test": fleet_tag["fleet-test"] + "-b"}
    cloud.launch(1, other)
    grouped = cloud.group(group_name, 2)
    _create(api, "a", {"ec2_tags": fleet_tag})
    _create(api, "b", {"ec2_tags": dict(reversed(list(fleet_tag.items())))})  # same tags
    _create(api, "c", {"ec2_tags": other, "autoscaling_groups": [group_name]})
    _create(api, "d", {"autoscaling_groups": [group_name]})
    with describe_calls() as calls:
        outcome = tick()
    instances = [params for name, params in calls if name == "DescribeInstances"]
    groups = [params for name, params in calls if name == "DescribeAutoScalingGroups"]
    assert len(instances) == 3          # 2 pages for the shared tags, 1 for the other tag
    assert sum(1 for p in instances if p.get("NextToken")) == 1
    assert all({"Name": "instance-state-name", "Values": ["running"]} in p["Filters"]
               for p in instances)
    assert [p["AutoScalingGroupNames"] for p in groups] == [[group_name]]   # one call, both projects
    assert outcome["fleet"]["calls"] == {"DescribeInstances": 3, "DescribeAutoScalingGroups": 1}
    assert sorted(items_of("a")) == sorted(items_of("b")) == sorted(tagged)
    assert set(grouped) <= set(items_of("c")) and sorted(items_of("d")) == grouped


def test_only_in_service_group_instances_are_members(api, cloud, group_name):
    ids = cloud.group(group_name, 3)
    _create(api, "web", {"autoscaling_groups": [group_name]})
    tick()
    cloud.asg.enter_standby(AutoScalingGroupName=group_name, InstanceIds=[ids[0]],
                            ShouldDecrementDesiredCapacity=True)
    cloud.asg.detach_instances(AutoScalingGroupName=group_name, InstanceIds=[ids[1]],
                               ShouldDecrementDesiredCapacity=True)
    tick()
    items = items_of("web")
    assert [items[h].status for h in ids[:2]] == ["left", "left"]
    assert items[ids[2]].status != "left"
    assert "Standby in Auto Scaling group" in items[ids[0]].reason
