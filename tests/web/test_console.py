"""The web console in a real browser against the real local stack: the flows every operator uses.

Debian's Chromium (headless, driven by Playwright) loads the console from the suite's moto S3
(published by ``infra.publish_ui`` exactly as ``make run`` does), signs its own requests to
``chalice local``, and a few simulated hosts poll, deploy and report over HTTP. Screenshots of
every page land in ``tests/artifacts/`` (gitignored). Fixtures: ``tests/web/conftest.py``; the
other pages and panels have their own files here.
"""
import re

import pytest
import requests

from chalicelib.states import HostStatus, RolloutState
from tests.conftest import ADMIN_KEY, ADMIN_SECRET
from tests.web.console import (WAIT_MS, Host, confirm, create, expecting, goto, new_page,
                               ready_release, rollout, shot, sign_in, wave_of)


def test_sign_in_refuses_a_wrong_key_and_accepts_the_admin_key(browser, console):
    expect = expecting()
    tab = new_page(browser, console)
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(tab, "signin")
    sign_in(tab, ADMIN_KEY, "not-the-secret")
    expect(tab.locator("#signin-error")).to_contain_text("refused")
    sign_in(tab, ADMIN_KEY, ADMIN_SECRET)
    expect(tab.get_by_role("heading", name="Projects")).to_be_visible()
    expect(tab.locator("#nav")).to_contain_text(ADMIN_KEY)
    assert tab.evaluate("JSON.parse(sessionStorage.getItem('fabu.credentials')).accessKeyId") == ADMIN_KEY
    tab.get_by_role("button", name="Sign out").click()
    expect(tab.get_by_role("heading", name="Sign in")).to_be_visible()
    assert tab.evaluate("sessionStorage.getItem('fabu.credentials')") is None
    tab.context.close()


def test_create_a_project_through_the_form(page, live):
    expect = expecting()
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("web")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("Hosts", exact=True).fill("web-1.example.com\nweb-2.example.com\nweb-3.example.com")
    page.get_by_label("Start script").fill("systemctl start web")
    page.get_by_label("Stop script").fill("systemctl stop web")
    page.get_by_label("Waves").fill("1, 50%, 100%")
    page.get_by_label("Bake time (seconds)").fill("30")
    page.get_by_label("Promote to the next wave automatically").uncheck()
    page.get_by_label("Source type").select_option("git")
    page.get_by_label("Source URL").fill("https://git.example.com/web.git")
    page.get_by_label("Debian packages").fill("nginx (>= 1.18)")
    shot(page, "project-new")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("web")
    expect(page.locator("table.hosts tbody tr")).to_have_count(3)

    stored = live.request("GET", "/api/v1/project/web").json()
    assert stored["hosts"] == ["web-1.example.com", "web-2.example.com", "web-3.example.com"]
    assert stored["rollout"]["settings"]["waves"] == [1, "50%", "100%"]
    assert stored["scripts"] == {"start": "systemctl start web", "stop": "systemctl stop web"}
    assert stored["source"] == {"type": "git", "url": "https://git.example.com/web.git"}
    assert stored["deb_dependencies"] == ["nginx (>= 1.18)"]
    assert stored["created_by"].endswith(":user/fabu-admin")
    shot(page, "project")
    page.get_by_role("link", name="Projects").click()
    row = page.locator("tr[data-project=web]")
    expect(row).to_contain_text("1.0.0")
    expect(row.get_by_role("progressbar")).to_have_count(1)
    shot(page, "projects")


def test_server_validation_errors_show_next_to_their_fields(page, live):
    expect = expecting()
    goto(page, "new")
    page.get_by_label("Name").fill("Bad Name")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("Hosts", exact=True).fill("web-1.example.com\nproject")
    page.get_by_label("Waves").fill("50%, 10%")
    page.get_by_role("button", name="Create project").click()

    hosts = page.locator(".field[data-field=hosts]")
    expect(hosts.locator(".error")).to_contain_text("reserved")
    expect(hosts.locator("textarea")).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field[data-field=name] .error")).to_contain_text("slug")
    expect(page.locator(".field[data-field='rollout.waves'] .error")).to_contain_text("greater")
    expect(page.locator(".form-error")).to_contain_text("problems")
    # the error is tied to its input for screen readers, and focus goes to the first bad field
    described = page.get_by_label("Hosts", exact=True).get_attribute("aria-describedby")
    assert "f-hosts-error" in described.split()
    assert page.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
    shot(page, "project-new-errors")
    assert live.request("GET", "/api/v1/project?limit=10").json()["projects"] == []


def test_a_stale_edit_is_explained_and_can_be_reapplied(page, live):
    expect = expecting()
    create(live)
    goto(page, "project/web/edit")
    version = page.get_by_label("Version")
    expect(version).to_have_value("1.0.0")
    # someone else saves while the form is open
    other = live.request("PUT", "/api/v1/project/web", {"description": "changed elsewhere"})
    assert other.status_code == 200
    version.fill("1.1.0")
    page.get_by_role("button", name="Save changes").click()
    conflict = page.locator(".form-conflict")
    expect(conflict).to_contain_text("Someone changed this project")
    shot(page, "project-edit-conflict")
    assert live.request("GET", "/api/v1/project/web").json()["version"] == "1.0.0"

    page.get_by_role("button", name="Load the latest revision").click()
    expect(page.locator(".form-error")).to_contain_text("Your edits are kept")
    expect(version).to_have_value("1.1.0")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".header .desired")).to_contain_text("1.1.0")
    stored = live.request("GET", "/api/v1/project/web").json()
    assert (stored["version"], stored["description"]) == ("1.1.0", "changed elsewhere")


def test_a_rollout_advances_on_screen_while_hosts_report_with_promote_pause_resume(page, live):
    expect = expecting()
    names = ["web-1.example.com", "web-2.example.com", "web-3.example.com"]
    create(live, hosts=names, rollout={"waves": [1, "100%"], "auto_promote": False})
    ready_release("web", "1.0.0")
    live.tick()
    hosts = {name: Host(live, name) for name in names}
    canary = next(n for n in names if wave_of(live, n) == 0)
    goto(page, "project/web")
    badge = page.locator(".rollout h2 .badge")
    expect(badge).to_have_text("Running")                     # the label, not the API's word
    expect(badge).to_have_attribute("data-state", RolloutState.RUNNING)
    expect(badge).to_have_class(re.compile(r"\bbusy\b"))      # blue: js/status.js BADGE_TONES
    expect(page.locator(".wave[data-wave='0'] .progress-label")).to_have_text("0/1 · 1 busy")
    others = [n for n in names if n != canary]
    renders = {n: page.locator(f"tr[data-host='{n}']").get_attribute("data-renders") for n in others}

    assert [i["project"] for i in hosts[canary].run_cron()] == ["web"]
    live.tick()
    canary_row = page.locator(f"tr[data-host='{canary}']")
    expect(canary_row.locator(f".badge[data-state={HostStatus.SUCCEEDED}]")).to_have_text("Succeeded")
    expect(page.locator(".wave[data-wave='0'] .progress-label")).to_have_text("1/1")
    expect(page.locator(".wave.overall [role=progressbar]")).to_have_attribute("aria-valuenow", "33")
    # the refresh redrew the canary's row only
    assert {n: page.locator(f"tr[data-host='{n}']").get_attribute("data-renders")
            for n in others} == renders
    canary_row.get_by_role("button", name="Output").click()
    expect(page.locator(".host-report")).to_contain_text(f"do-deploy of 1.0.0 on {canary}: ok")
    shot(page, "project-rollout-wave1")

    confirm(page, "Promote")
    expect(page.locator(".wave[data-wave='1'] .progress-label")).to_contain_text("2 busy")
    confirm(page, "Pause")
    expect(badge).to_have_text("Paused")
    expect(badge).to_have_class(re.compile(r"\bheld\b"))
    expect(page.get_by_role("button", name="Resume")).to_be_enabled()
    shot(page, "project-paused")
    confirm(page, "Resume")
    expect(page.locator(".rollout h2 .badge")).to_have_text("Running")

    for name in others:
        hosts[name].run_cron()
    live.tick()
    expect(badge).to_have_text("Succeeded")
    expect(badge).to_have_class(re.compile(r"\bgood\b"))
    expect(page.locator(".wave.overall .progress-label")).to_have_text("3/3")
    kind = page.locator(".kind[data-kind='rollout.paused']")
    expect(page.locator(".timeline").locator(kind)).to_have_text("Paused")   # a label, not the kind
    paused = page.locator(".timeline li", has=kind).locator(".actor")
    expect(paused).to_have_text("fabu-admin")   # the caller's name, not its ARN
    expect(paused).to_have_attribute(
        "title", "arn:aws:iam::000000000000:user/fabu-admin")
    shot(page, "project-succeeded")
    kinds = [e["kind"] for e in live.request("GET", "/api/v1/project/web/events").json()["events"]]
    assert {"rollout.promoted", "rollout.paused", "rollout.resumed"} <= set(kinds)


def test_roll_back_from_the_console_after_confirmation(page, live):
    expect = expecting()
    names = ["web-1.example.com", "web-2.example.com"]
    create(live, hosts=names)
    ready_release("web", "1.0.0")
    live.tick()
    hosts = [Host(live, name) for name in names]
    for host in hosts:
        host.run_cron()
    live.tick()
    assert rollout(live)["state"] == RolloutState.SUCCEEDED
    assert live.request("PUT", "/api/v1/project/web", {"version": "2.0.0"}).status_code == 200
    ready_release("web", "2.0.0")
    live.tick()
    hosts[0].run_cron()
    goto(page, "project/web")
    expect(page.locator(".rollout h2")).to_contain_text("2.0.0")

    page.get_by_role("button", name="Roll back", exact=True).click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text("back to 1.0.0")
    dialog.get_by_role("button", name="Cancel").click()
    assert rollout(live)["state"] != RolloutState.ROLLING_BACK   # cancelled: nothing sent
    confirm(page, "Roll back")
    expect(page.locator(".rollout h2 .badge")).to_have_text("Rolling back")
    assert rollout(live)["rollback_to"] == "1.0.0"
    expect(page.get_by_role("button", name="Roll back", exact=True)).to_be_disabled()
    shot(page, "project-rolling-back")


def test_a_refused_control_is_explained(page, live):
    expect = expecting()
    create(live, rollout={"waves": ["100%"]})
    ready_release("web", "1.0.0")
    live.tick()
    goto(page, "project/web")
    expect(page.locator(".rollout h2 .badge")).to_have_text("Running")
    confirm(page, "Promote")          # a one-wave rollout has no next wave: the API says 409
    expect(page.locator(".control-result")).to_contain_text("refused to promote")
    expect(page.locator(".control-result")).to_contain_text("last wave")


def _unlabelled(page):
    return page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => el.type !== 'hidden' && !el.labels.length && !el.getAttribute('aria-label'))
        .map(el => el.outerHTML)""")


def _tab_through(page, limit=200):
    """Press Tab until focus cycles; return the set of elements reached (by a stable id)."""
    page.evaluate("""() => document.querySelectorAll('a[href], button, input, select, textarea')
        .forEach((el, i) => el.dataset.kb = String(i))""")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    reached = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        mark = page.evaluate("document.activeElement && document.activeElement.dataset.kb")
        if mark is not None and reached and mark == reached[0]:
            break
        if mark is not None:
            reached.append(mark)
    return set(reached)


def _controls(page):
    return set(page.evaluate("""() => [...document.querySelectorAll('a[href], button, input, select, textarea')]
        .filter(el => !el.disabled && el.offsetParent !== null && !el.closest('dialog'))
        .map(el => el.dataset.kb)"""))


@pytest.mark.parametrize("route, ready", [("#new", "form"), ("#project/web", "table.hosts tbody tr"),
                                          ("#projects", "tr[data-project]")])
def test_every_input_is_labelled_and_every_control_reachable_by_keyboard(page, live, route, ready):
    create(live)
    goto(page, route.lstrip("#"))
    page.locator(ready).first.wait_for(timeout=WAIT_MS)
    page.wait_for_timeout(300)
    assert _unlabelled(page) == []
    reached = _tab_through(page)
    missing = _controls(page) - reached
    assert not missing, page.evaluate("ids => ids.map(i => document.querySelector(`[data-kb='${i}']`).outerHTML)",
                                      sorted(missing))


def test_phone_sized_viewport_has_no_sideways_scrolling(browser, console, live):
    create(live, description="a phone-sized look at the project page")
    tab = new_page(browser, console, viewport={"width": 390, "height": 844})
    sign_in(tab, ADMIN_KEY, ADMIN_SECRET)
    tab.locator("tr[data-project=web]").wait_for(timeout=WAIT_MS)
    shot(tab, "phone-projects")
    tab.goto(console + "#project/web")
    tab.locator("table.hosts tbody tr").first.wait_for(timeout=WAIT_MS)
    overflow = tab.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    shot(tab, "phone-project")
    assert overflow <= 0, tab.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
        .filter(el => !el.closest('.table-wrap')).slice(0, 8).map(el => el.outerHTML.slice(0, 160))""")
    tab.context.close()


def test_host_report_route_is_for_admins_and_names_a_missing_host(live):
    create(live)
    key, secret = live.add_host("web-1.example.com")
    path = "/api/v1/project/web/hosts/web-1.example.com/report"
    assert live.request("GET", path, key=key, secret=secret).status_code == 403
    missing = live.request("GET", "/api/v1/project/web/hosts/nowhere.example.com/report")
    assert missing.status_code == 404 and "nowhere.example.com" in missing.json()["error"]
    preflight = requests.options(live.url + path, timeout=10, headers={
        "Origin": "http://127.0.0.1:4566", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,x-amz-date"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
