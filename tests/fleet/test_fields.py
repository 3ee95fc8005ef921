"""The ``fleet`` field through the API: what a create or update accepts, and each 400's field."""
import pytest

from tests.fleet.conftest import fleet_project


def _fields(response):
    assert response.status == 400, response
    return response.json["fields"]


def test_a_create_needs_hosts_or_a_fleet(api, fleet_tag):
    body = fleet_project("web")
    del body["fleet"]
    assert _fields(api.post("/api/v1/project", body)) == {
        "hosts": "is required unless the project has a fleet (give hosts, fleet, or both)"}
    created = api.post("/api/v1/project", fleet_project("web", fleet={"ec2_tags": fleet_tag}))
    assert created.status == 201, created
    assert (created.json["fleet"], created.json["hosts"]) == ({"ec2_tags": fleet_tag}, [])


@pytest.mark.parametrize("fleet, path, words", [
    ({}, "fleet", "selects nothing"),
    ("app=web", "fleet", "must be an object"),
    ({"ec2_tags": {}}, "fleet.ec2_tags", "at least one tag"),
    ({"ec2_tags": {"app": 7}}, "fleet.ec2_tags.app", "tag value must be a string"),
    ({"ec2_tags": {"": "web"}}, "fleet.ec2_tags.", "tag key must be 1-128 characters"),
    ({"ec2_tags": {"k" * 129: "web"}}, f"fleet.ec2_tags.{'k' * 129}", "1-128 characters"),
    ({"ec2_tags": {"app": "w\neb"}}, "fleet.ec2_tags.app", "control characters"),
    ({"ec2_tags": {"app": "v" * 257}}, "fleet.ec2_tags.app", "0-256 characters"),
    ({"ec2_tags": {f"k{i}": "v" for i in range(11)}}, "fleet.ec2_tags", "at most 10 tags"),
    ({"ec2_tags": {"app": "web"}, "regions": ["x"]}, "fleet.regions", "unknown field"),
    ({"autoscaling_groups": "web"}, "fleet.autoscaling_groups", "must be a list"),
    ({"autoscaling_groups": []}, "fleet", "selects nothing"),
    ({"autoscaling_groups": ["a", "a"]}, "fleet.autoscaling_groups[1]", "twice"),
    ({"autoscaling_groups": [""]}, "fleet.autoscaling_groups[0]", "1-255 characters"),
])
def test_bad_selectors_are_named(api, fleet, path, words):
    fields = _fields(api.post("/api/v1/project", fleet_project("web", fleet=fleet)))
    assert words in fields[path], fields


def test_a_missing_group_is_named_on_create_and_update(api, cloud, group_name, fleet_tag):
    cloud.group(group_name, 1)
    fields = _fields(api.post("/api/v1/project", fleet_project(
        "web", fleet={"autoscaling_groups": [group_name, "no-such-group"]})))
    assert fields == {"fleet.autoscaling_groups[1]":
                      "no Auto Scaling group named 'no-such-group' in us-east-1"}
    assert api.post("/api/v1/project", fleet_project(
        "web", fleet={"autoscaling_groups": [group_name]})).status == 201
    fields = _fields(api.put("/api/v1/project/web", {"fleet": {
        "ec2_tags": fleet_tag, "autoscaling_groups": ["gone"]}}))
    assert list(fields) == ["fleet.autoscaling_groups[0]"]


def test_an_update_changes_or_removes_the_fleet(api, fleet_tag):
    assert api.post("/api/v1/project", fleet_project(
        "web", fleet={"ec2_tags": fleet_tag}, hosts=["web-1.example.com"])).status == 201
    changed = api.put("/api/v1/project/web", {"fleet": {"ec2_tags": {"app": "other"}}})
    assert changed.status == 200 and changed.json["fleet"] == {"ec2_tags": {"app": "other"}}
    removed = api.put("/api/v1/project/web", {"fleet": None})
    assert removed.status == 200 and removed.json["fleet"] is None
