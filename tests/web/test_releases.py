"""A project's release history and what the header says the fleet runs, in a real browser.

The project goes through two real rollouts (1.0.0, then 2.0.0 on every host) driven by simulated
hosts over HTTP; a third release (1.1.0, never deployed) exists as the build worker would have
left it. The operator then rolls back from the release history: the dialog's Cancel sends
nothing, its confirmation sends ``POST .../rollback?to=1.0.0``, and once the hosts have run
their rollback the page shows the rolled-back rollout, its event, and a header naming the
restored version as what the fleet runs.
"""
import re

from chalicelib.states import RolloutState
from tests.web.console import (Host, create, deploy_everywhere, expecting, goto, project,
                               ready_release, rollout, shot)

NAMES = ["web-1.example.com", "web-2.example.com"]


def _fleet_on_two(live):
    """1.0.0 then 2.0.0 rolled out to both hosts (one wave each); 1.1.0 built, never deployed."""
    create(live, hosts=NAMES, rollout={"waves": ["100%"]})
    ready_release("web", "1.0.0")
    live.tick()
    hosts = [Host(live, name) for name in NAMES]
    assert deploy_everywhere(live, hosts)["state"] == RolloutState.SUCCEEDED
    ready_release("web", "1.1.0")
    assert live.request("PUT", "/api/v1/project/web", {"version": "2.0.0"}).status_code == 200
    ready_release("web", "2.0.0")
    live.tick()
    assert deploy_everywhere(live, hosts)["state"] == RolloutState.SUCCEEDED
    assert project(live)["hosts_view"]["versions_seen"] == {"2.0.0": 2}
    return hosts


def _api_posts(page, live):
    """The POSTs the page sends to the API, as they are sent (path and query)."""
    sent = []
    page.on("request", lambda r: r.method == "POST" and r.url.startswith(live.url)
            and sent.append(r.url[len(live.url):]))
    return sent


def test_release_history_rolls_back_to_a_chosen_version_after_confirmation(page, live):
    expect = expecting()
    hosts = _fleet_on_two(live)
    posts = _api_posts(page, live)
    goto(page, "project/web")
    table = page.locator("table.releases")
    expect(table.locator("tbody tr")).to_have_count(3)
    # newest first; how many hosts run each; the rollout's own version cannot be a target
    assert table.locator("tbody th[scope=row]").all_inner_texts() == [
        "2.0.0 (desired, rollout)", "1.1.0", "1.0.0"]
    expect(table.locator("tr[data-version='2.0.0'] td").nth(4)).to_have_text("2 hosts")
    expect(table.locator("tr[data-version='1.0.0'] td").nth(4)).to_have_text("none")
    expect(table.locator("tr[data-version='1.0.0'] .badge")).to_have_text("Ready")
    expect(page.get_by_role("button", name="Roll back to 2.0.0")).to_be_disabled()
    expect(page.get_by_role("button", name="Roll back to 1.1.0")).to_be_enabled()
    shot(page, "releases")

    # Cancel: nothing is sent, nothing changes
    page.get_by_role("button", name="Roll back to 1.0.0").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#confirm-title")).to_have_text("Roll back to 1.0.0?")
    expect(dialog).to_contain_text("runs 2.0.0")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(500)
    assert [p for p in posts if "/rollback" in p] == []
    assert rollout(live)["state"] == RolloutState.SUCCEEDED

    # Confirm: POST .../rollback?to=1.0.0, and the page shows the rollback under way
    page.get_by_role("button", name="Roll back to 1.0.0").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Roll back to 1.0.0", exact=True).click()
    badge = page.locator(".rollout h2 .badge")
    expect(badge).to_have_text("Rolling back")
    assert [p for p in posts if "/rollback" in p] == ["/api/v1/project/web/rollback?to=1.0.0"]
    assert rollout(live)["rollback_to"] == "1.0.0"
    expect(page.locator("#flash")).to_contain_text("Rolling back web to 1.0.0: the rollout is now rolling back")
    expect(page.locator(".rollout-facts")).to_contain_text("rolling back to 1.0.0")
    expect(page.locator(".timeline .kind[data-kind='rollout.rollback_requested']")).to_have_text(
        "Rollback requested")
    expect(page.get_by_role("button", name="Roll back to 1.0.0")).to_be_disabled()

    # the hosts run their rollback: the rollout is rolled back, and the timeline says so
    deploy_everywhere(live, hosts)
    expect(badge).to_have_text("Rolled back")
    expect(badge).to_have_attribute("data-state", RolloutState.ROLLED_BACK)
    event = page.locator(".timeline li", has=page.locator(".kind[data-kind='rollout.rolled_back']"))
    expect(event.locator(".kind")).to_have_text("Rolled back")
    expect(event).to_contain_text("rolled back to 1.0.0 (2 hosts)")
    requested = page.locator(".timeline li", has=page.locator(
        ".kind[data-kind='rollout.rollback_requested']")).locator(".actor")
    expect(requested).to_have_text("fabu-admin")
    expect(table.locator("tr[data-version='1.0.0'] td").nth(4)).to_have_text("2 hosts")
    shot(page, "releases-rolled-back")


def test_the_header_names_what_the_fleet_runs_after_a_rollback(page, live):
    expect = expecting()
    hosts = _fleet_on_two(live)
    goto(page, "project/web")
    fleet = page.locator(".header .fleet")
    expect(fleet).to_have_text(re.compile(r"^\s*2\.0\.0 on all 2 hosts\s*$"))
    expect(page.locator(".header .desired")).to_contain_text("2.0.0 deployed")

    # the rollback is asked for elsewhere (the CLI); the header follows the hosts as they go back
    assert live.request("POST", "/api/v1/project/web/rollback?to=1.0.0").status_code == 200
    expect(page.locator(".header .desired")).to_contain_text("rolling back to 1.0.0")
    hosts[0].run_cron()
    expect(fleet).to_contain_text("2.0.0 on 1 host")
    expect(fleet.locator(".fleet-version[data-version='1.0.0']")).to_have_text("1.0.0 on 1 host")
    for host in hosts[1:]:
        host.run_cron()
    live.tick()
    assert rollout(live)["state"] == RolloutState.ROLLED_BACK

    expect(fleet).to_have_text(re.compile(r"^\s*1\.0\.0 on all 2 hosts\s*$"))
    expect(fleet.locator(".fleet-version[data-version='2.0.0']")).to_have_count(0)
    desired = page.locator(".header .desired")
    expect(desired).to_contain_text("rolled back to 1.0.0: the fleet does not run it")
    expect(page.locator(".header h1 .badge")).to_have_text("Rolled back")
    shot(page, "header-after-rollback")
