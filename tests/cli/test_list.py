"""``fabu list``: each project's host total (listed hosts plus fleet members), in the table and
in ``-o json``; the fleet is two instances of the suite's emulator found by the minute tick's
fleet sync (run in-process)."""
import json

from tests.cli.support import fabu
from tests.conftest import base_project
from tests.fleet.conftest import cloud, fleet_project, fleet_tag  # noqa: F401 (fixtures)
from tests.support.fleet import ready_release, tick


def test_list_shows_listed_hosts_plus_fleet_members(live, cloud, fleet_tag):  # noqa: F811
    body = base_project(name="api", hosts=["api-1.example.com", "api-2.example.com"])
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    cloud.launch(2, fleet_tag)
    body = fleet_project("shop", fleet={"ec2_tags": fleet_tag}, hosts=["shop-1.example.com"])
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    ready_release("shop", "1.0.0")
    tick()   # the fleet sync: two members join shop

    code, out, err = fabu(live, "-o", "json", "list")
    assert code == 0, err
    totals = {p["id"]: (p["host_total"], p["fleet_members"]) for p in json.loads(out)["projects"]}
    assert totals == {"api": (2, 0), "shop": (3, 2)}
    code, out, err = fabu(live, "list")
    assert code == 0, err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert rows["api"][2] == "2" and rows["shop"][2] == "3"   # the "hosts" column
