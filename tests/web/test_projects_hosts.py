"""The console's projects list shows each project's host total: listed hosts plus fleet members.

A project with two listed hosts, and one with one listed host and a fleet of two instances in
the suite's emulator (found by the fleet sync of the minute tick, run in-process).
"""
from tests.fleet.conftest import cloud, fleet_project, fleet_tag  # noqa: F401 (fixtures)
from tests.support.fleet import ready_release, tick
from tests.web.console import create, expecting, shot


def test_the_projects_list_counts_listed_hosts_and_fleet_members(page, live, cloud,  # noqa: F811
                                                                 fleet_tag):  # noqa: F811
    expect = expecting()
    create(live, name="api", hosts=["api-1.example.com", "api-2.example.com"])
    cloud.launch(2, fleet_tag)
    body = fleet_project("shop", fleet={"ec2_tags": fleet_tag}, hosts=["shop-1.example.com"])
    assert live.request("POST", "/api/v1/project", body).status_code == 201
    ready_release("shop", "1.0.0")
    tick()   # the fleet sync: two members join shop
    header = page.locator("table.projects thead th")
    expect(header.nth(2)).to_have_text("Hosts")
    expect(page.locator("tr[data-project=api] td.hosts-total")).to_have_text("2")
    shop = page.locator("tr[data-project=shop] td.hosts-total")
    expect(shop).to_have_text("3")
    assert shop.locator("span").get_attribute("title") == "3 hosts (2 in the fleet)"
    shot(page, "projects-hosts")
