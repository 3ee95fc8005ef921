"""The rollout panel and the console's clock: per-wave start and finish times, a bake countdown
that counts down on its own, and relative times that keep ageing, without a request.

The console is published again with a one-minute refresh for these tests, so that any change on
the page within a few seconds is the clock's work; every request the tab sends to the API is
recorded (Playwright's request events) and must be none while the numbers move.
"""
import re
import time

from chalicelib.states import RolloutState
from tests.web.console import Host, create, expecting, goto, ready_release, rollout, shot, wave_of

NAMES = ["web-1.example.com", "web-2.example.com", "web-3.example.com"]
BAKE = 600


def _slow_console(page, live, site, fragment):
    """The console republished with a 60 s refresh, loaded afresh on ``fragment``; the list the
    API requests of the tab go to from then on."""
    from infra import publish_ui
    publish_ui.publish(live.endpoint, live.url, dist=site, refresh_seconds=60)
    goto(page, fragment)
    page.reload()
    requests = []
    page.on("request", lambda r: r.url.startswith(live.url) and requests.append(r.url))
    return requests


def _seconds(countdown: str) -> int:
    found = re.fullmatch(r"(\d+):(\d\d) left", countdown)
    assert found, countdown
    return int(found[1]) * 60 + int(found[2])


def _ages(texts):
    """"12 s ago" → 12; "just now" → 0."""
    out = []
    for text in texts:
        found = re.fullmatch(r"(\d+) s ago|just now", text)
        assert found, text
        out.append(int(found[1] or 0))
    return out


def test_waves_show_their_times_and_the_bake_counts_down_without_a_request(page, live, site):
    expect = expecting()
    create(live, hosts=NAMES, rollout={"waves": [1, "100%"], "bake_seconds": BAKE})
    ready_release("web", "1.0.0")
    live.tick()
    canary = next(n for n in NAMES if wave_of(live, n) == 0)
    Host(live, canary).run_cron()
    live.tick()
    summary = rollout(live)
    assert summary["state"] == RolloutState.RUNNING and summary["bake_until"]
    first, second = summary["waves"]
    assert first["started_at"] and first["finished_at"] and not second["started_at"]

    requests = _slow_console(page, live, site, "project/web")
    wave0 = page.locator(".wave[data-wave='0'] .wave-times")
    expect(wave0).to_contain_text("1 host · started")
    times = wave0.locator("time.rel")
    expect(times).to_have_count(2)
    assert times.nth(0).get_attribute("datetime") == first["started_at"]
    assert times.nth(1).get_attribute("datetime") == first["finished_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", times.nth(0).get_attribute("title"))
    expect(wave0).to_contain_text("finished")
    expect(wave0).to_contain_text(re.compile(r"\(took \d+ s\)"))
    expect(page.locator(".wave[data-wave='1'] .wave-times")).to_contain_text("not started")
    expect(page.locator(".wave[data-wave='1'] .wave-name")).to_contain_text("(held)")

    bake = page.locator(".bake")
    expect(bake).to_contain_text("Wave 0 is baking:")
    expect(bake).to_contain_text("(then wave 1 starts)")
    countdown = bake.locator("time.countdown")
    assert countdown.get_attribute("datetime") == summary["bake_until"]
    expect(page.locator(".timeline li").first).to_be_visible()    # the refresh has ended
    page.wait_for_timeout(300)
    requests.clear()
    countdown.evaluate("el => { el.dataset.mark = 'drawn once'; }")
    began = time.monotonic()
    before = _seconds(countdown.inner_text())
    assert BAKE - 120 < before <= BAKE
    page.wait_for_timeout(2300)
    after = _seconds(countdown.inner_text())
    took = time.monotonic() - began      # a loaded machine may take longer than the wait
    assert 1 <= before - after <= took + 1.5, (before, after, took)
    shot(page, "rollout-baking")
    assert requests == [], "the countdown moved by a re-fetch, not by the clock"
    # the same element ticked: the panel was not redrawn either
    assert countdown.get_attribute("data-mark") == "drawn once"


def test_relative_times_keep_ticking_without_a_request(page, live, site):
    expect = expecting()
    create(live)
    requests = _slow_console(page, live, site, "project/web")
    updated = page.locator(".header dd time.rel")
    expect(updated).to_have_count(1)
    event = page.locator(".timeline li time.rel").first
    expect(event).to_be_visible()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", updated.get_attribute("title"))
    page.wait_for_timeout(300)
    requests.clear()
    began = time.monotonic()
    before = _ages([updated.inner_text(), event.inner_text()])
    page.wait_for_timeout(2300)
    after = _ages([updated.inner_text(), event.inner_text()])
    took = time.monotonic() - began
    assert all(1 <= a - b <= took + 1.5 for a, b in zip(after, before)), (before, after, took)
    assert requests == [], "the times aged by a re-fetch, not by the clock"
    expect(page.locator(".header dd", has=page.locator("time.rel"))).to_contain_text(re.compile(r"\d+ s ago by fabu-admin"))
