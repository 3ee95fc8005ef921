"""The host table of a project with a fleet: the zone and member columns, each host's traffic
draining, when members joined and left, members that left the fleet apart (greyed, only under
their status filter, in no count or progress), the fleet's events labelled on the timeline; and a
fleet larger than the project view paged from the server through the hosts route.

The members, their drain state and the fleet's events are seeded at the storage boundary (what
the fleet sync and the drain would have written); the console reads them through the API.
"""
import datetime
import re

from chalicelib.states import HostStatus
from tests.web.console import create, expecting, goto, project, shot

UTC = datetime.timezone.utc
LISTED = [{"name": "web-1.example.com", "zone": "us-east-1a"}, "web-2.example.com"]
TG = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed_members(rollout_id):
    from chalicelib import events
    from chalicelib.models import HostState, wave_key
    now = datetime.datetime.now(UTC)
    members = {  # host: (status, zone, drain, joined minutes ago)
        "i-0aaa.ec2.internal": (HostStatus.DRAINING, "us-east-1a",
                                {"state": "draining", "target_groups": [TG], "since": _iso(now),
                                 "until": _iso(now + datetime.timedelta(minutes=5))}, 5),
        "i-0bbb.ec2.internal": (HostStatus.IN_PROGRESS, "us-east-1b",
                                {"state": "out", "target_groups": [TG], "since": _iso(now)}, 60 * 30),
        "i-0ccc.ec2.internal": (HostStatus.SUCCEEDED, "us-east-1b",
                                {"state": "registered", "target_groups": [TG], "since": _iso(now)}, 60 * 30),
        "i-0ddd.ec2.internal": (HostStatus.LEFT, "us-east-1a", None, 60),
        "i-0eee.ec2.internal": (HostStatus.LEFT, "us-east-1b", None, 90),
    }
    with HostState.batch_write() as batch:
        for host, (status, zone, drain, minutes) in members.items():
            batch.save(HostState(host, "web", wave=0, status=status, wave_key=wave_key(0, status, host),
                                 rollout_id=rollout_id, member="fleet", zone=zone, drain=drain,
                                 target_version="1.0.0", last_seen=now,
                                 joined_at=now - datetime.timedelta(minutes=minutes),
                                 left_at=now if status == HostStatus.LEFT else None))
    events.record("web", "host.joined", "fabu:fleet", {"member": "fleet", "zone": "us-east-1a",
                  "catch_up": None, "wave": 0, "rejoined": False}, host="i-0aaa.ec2.internal",
                  message="i-0aaa.ec2.internal joined the fleet in us-east-1a")
    events.record("web", "host.left", "fabu:fleet", {"why": "terminated"}, host="i-0ddd.ec2.internal",
                  message="i-0ddd.ec2.internal left the fleet: terminated")
    events.record("web", "fleet.sync_failed", "fabu:fleet", {"error": "AccessDenied"},
                  message="the fleet could not be read: AccessDenied")
    events.record("web", "host.draining", "fabu:drain", {"target_groups": [TG]}, host="i-0aaa.ec2.internal",
                  message="i-0aaa.ec2.internal is draining")


def test_zone_member_drain_and_members_that_left_apart(page, live):
    expect = expecting()
    create(live, hosts=LISTED)
    live.tick()
    rollout_id = project(live)["rollout"]["id"]
    _seed_members(rollout_id)
    waves = project(live)["rollout"]["waves"]
    assert all(HostStatus.LEFT not in w["counts"] for w in waves)       # never counted in progress

    goto(page, "project/web")
    rows = page.locator("table.hosts tbody tr")
    count = page.locator(".table-count")
    expect(count).to_have_text("Hosts 1–5 of 5 · 2 left the fleet (status filter “Left the fleet”)")
    expect(rows).to_have_count(5)
    expect(page.locator(".hosts-summary")).to_contain_text(
        "5 hosts (2 listed, 3 in the fleet); zones: us-east-1a 2, us-east-1b 2")
    expect(page.locator(".hosts-summary")).to_contain_text("3 joined and 2 left the fleet in the last day")

    def row(host):
        return page.locator(f"tr[data-host='{host}']")

    expect(row("web-1.example.com").locator("td.zone")).to_have_text("us-east-1a")   # from the spec
    expect(row("web-1.example.com").locator("td.member")).to_have_text("Listed")
    expect(row("web-2.example.com").locator("td.zone")).to_have_text("—")
    draining = row("i-0aaa.ec2.internal")
    expect(draining.locator("td.member")).to_have_text("Fleet")
    expect(draining.locator(".badge").first).to_have_text("Draining traffic")
    expect(draining.locator(".drain")).to_have_text(re.compile(r"Draining · 4:\d\d left \(1 target group\)"))
    expect(draining.locator(".membership")).to_have_text("Joined 5 min ago")
    expect(row("i-0bbb.ec2.internal").locator(".drain")).to_have_text(
        re.compile(r"Out of its target groups · (just now|\d+ s ago) \(1 target group\)"))
    expect(row("i-0ccc.ec2.internal").locator(".drain")).to_contain_text("Registered again · ")
    expect(row("i-0ddd.ec2.internal")).to_have_count(0)                      # apart by default

    zone = page.get_by_label("Zone", exact=True)
    expect(zone.locator("option", has_text="us-east-1b (2)")).to_have_count(1)
    zone.select_option("us-east-1b")
    expect(count).to_contain_text("Hosts 1–2 of 2 (filtered from 5)")
    assert "zone=us-east-1b" in page.url
    page.get_by_role("button", name="Clear filters").click()
    status = page.get_by_label("Status", exact=True)
    status.select_option(HostStatus.LEFT)
    expect(count).to_have_text("Hosts 1–2 of 2 (filtered from 5)")
    expect(row("i-0ddd.ec2.internal")).to_have_class(re.compile(r"\bgone\b"))
    expect(row("i-0ddd.ec2.internal").locator(".membership")).to_have_text(re.compile(r"Left (just now|\d+ s ago)"))
    shot(page, "fleet-hosts-left")

    labels = {"host.joined": "Host joined the fleet", "host.left": "Host left the fleet",
              "fleet.sync_failed": "Fleet sync failed", "host.draining": "Host draining traffic"}
    for kind, label in labels.items():
        expect(page.locator(f".timeline .kind[data-kind='{kind}']")).to_have_text(label)

    # the form shows the listed hosts with their zones and the fleet's selector, and sends back
    # exactly what was changed
    create(live, name="shop", hosts=LISTED, fleet={"ec2_tags": {"app": "shop", "tier": "front"}})
    goto(page, "project/shop/edit")
    hosts = page.get_by_label("Hosts", exact=True)
    expect(hosts).to_have_value("web-1.example.com us-east-1a\nweb-2.example.com")
    tags = page.get_by_label("EC2 tags", exact=True)
    expect(tags).to_have_value("app=shop\ntier=front")
    tags.fill("app=shop\ntier=back")
    hosts.fill("web-1.example.com us-east-1a\nweb-2.example.com us-east-1b")
    page.get_by_role("button", name="Save changes").click()
    expect(page).not_to_have_url(re.compile(r"/edit$"))      # saved: the form is gone
    expect(page.locator("h1", has_text="shop")).to_be_visible()
    stored = project(live, "shop")
    assert stored["fleet"] == {"ec2_tags": {"app": "shop", "tier": "back"}}
    assert stored["hosts"] == [LISTED[0], {"name": "web-2.example.com", "zone": "us-east-1b"}]
    goto(page, "project/shop/edit")
    expect(page.get_by_label("Hosts", exact=True)).to_have_value(
        "web-1.example.com us-east-1a\nweb-2.example.com us-east-1b")
    expect(page.get_by_label("Auto Scaling groups", exact=True)).to_have_value("")


def test_a_fleet_larger_than_the_view_is_paged_from_the_server(page, live, site):
    from infra import publish_ui
    from chalicelib.models import HostState, wave_key
    from chalicelib.rollout import view
    expect = expecting()
    create(live, hosts=["web-1.example.com"])
    total = view.VIEW_ROWS + 20
    with HostState.batch_write() as batch:
        for i in range(total):
            host, status = f"i-{i:05d}.ec2.internal", (HostStatus.FAILED if i % 100 == 7 else HostStatus.IDLE)
            batch.save(HostState(host, "web", wave=0, status=status, wave_key=wave_key(0, status, host),
                                 member="fleet", zone=f"us-east-1{'ab'[i % 2]}"))
    publish_ui.publish(live.endpoint, live.url, dist=site, refresh_seconds=60)
    goto(page, "project/web")
    page.reload()
    count = page.locator(".table-count")
    expect(count).to_have_text(f"Hosts 1–100 on page 1 of the {total + 1} hosts (listed from the server, "
                               "100 a page; sorting applies to this page)", timeout=60000)
    expect(page.locator(".hosts-summary")).to_contain_text(f"holds the first {view.VIEW_ROWS}")
    names = page.locator("table.hosts tbody th[scope=row]")
    first = set(names.all_inner_texts())
    assert len(first) == 100
    page.get_by_role("button", name="Next page").click()
    expect(count).to_contain_text("Hosts 101–200 on page 2")
    expect(names).to_have_count(100)
    assert not first & set(names.all_inner_texts())
    page.get_by_role("button", name="Previous page").click()
    expect(count).to_contain_text("Hosts 1–100 on page 1")
    page.get_by_label("Status", exact=True).select_option(HostStatus.FAILED)
    expect(count).to_contain_text("Hosts 1–6 on page 1")                       # the server filtered
    page.get_by_label("Zone", exact=True).select_option("us-east-1b")
    expect(count).to_contain_text("Hosts 1–6 on page 1")                       # 7, 107, ... are odd
    page.get_by_label("Host name").fill("i-001")
    expect(page.locator("table.hosts tbody tr")).to_have_count(1)
    expect(page.locator("table.hosts tbody tr").first).to_have_attribute("data-host", "i-00107.ec2.internal")
