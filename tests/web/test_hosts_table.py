"""The host table of a 600-host project: sorted by any column, filtered by status, wave and name,
one page of 100 rows at a time, its state in the URL hash, and a refresh that redraws only the
rows whose host changed.

The project is created over HTTP; its 600 host items are seeded at the storage boundary (one
batch write: what the tick and the hosts' reports would have written), because planning and
reporting 600 hosts through the emulator takes minutes. The console reads them through
``GET /api/v1/project/web`` like any other.
"""
import datetime
import time

from chalicelib.states import HostStatus, Phase, ReportStatus
from tests.web.console import create, expecting, goto, shot

HOSTS = [f"host-{i:03d}.example.com" for i in range(1, 601)]
#: Wave 0 is host-001; wave 1 the next 59 hosts (host-002..060); wave 2 the other 540.
WAVE1 = HOSTS[1:60]
SUCCEEDED = WAVE1[:5]
FAILED = WAVE1[5:7]
IN_PROGRESS = WAVE1[7:20]


def _seed(live, minutes_ago=0):
    """The fleet mid-rollout: canary and 5 hosts of wave 1 succeeded, 2 failed, 13 deploying,
    the rest of wave 1 pending, wave 2 waiting (half of it still on 0.9.0, half new)."""
    from chalicelib.models import HostState, wave_key
    create(live, hosts=HOSTS, version="1.0.0")
    now = datetime.datetime.now(datetime.timezone.utc)
    with HostState.batch_write() as batch:
        for i, host in enumerate(HOSTS):
            wave = 0 if i == 0 else 1 if host in WAVE1 else 2
            status, running, reported = HostStatus.WAITING, ("0.9.0" if i % 2 else None), None
            if i == 0 or host in SUCCEEDED:
                status, running, reported = HostStatus.SUCCEEDED, "1.0.0", now - datetime.timedelta(seconds=30 + i)
            elif host in FAILED:
                status, reported = HostStatus.FAILED, now - datetime.timedelta(seconds=20 + i)
            elif host in IN_PROGRESS:
                status = HostStatus.IN_PROGRESS
            elif wave == 1:
                status = HostStatus.PENDING
            item = HostState(host, "web", wave=wave, status=status, wave_key=wave_key(wave, status, host),
                             rollout_id="r-seeded", target_version="1.0.0", running_version=running,
                             reported_at=reported, last_seen=now, deploy_id=f"d-{i:04d}" if wave < 2 else None)
            if reported:
                item.last_phase = Phase.POST_DEPLOY
                item.last_status = ReportStatus.OK if status == HostStatus.SUCCEEDED else ReportStatus.FAILED
            batch.save(item)


def _slow_refresh(live, site, seconds):
    """Publish the console again with a slower refresh: on the emulator a 600-host project takes
    seconds to read (moto's index queries), and the tests below act on what is on the page."""
    from infra import publish_ui
    publish_ui.publish(live.endpoint, live.url, dist=site, refresh_seconds=seconds)


#: How long the first draw of the 600 hosts may take: moto answers a 600-item index Query in
#: seconds on a busy machine (DynamoDB in milliseconds); the page itself draws them at once.
LOAD_MS = 120000


def _open(page, fragment):
    """Load the console afresh on ``fragment`` (the new config.js, and no other page's request
    in flight before the project's)."""
    goto(page, fragment)
    page.reload()


def _names(page):
    return page.locator("table.hosts tbody th[scope=row]").all_inner_texts()


def test_600_hosts_sort_filter_and_page_from_the_url(page, live, site):
    expect = expecting()
    _seed(live)
    _slow_refresh(live, site, 60)
    started = time.monotonic()
    _open(page, "project/web")
    count = page.locator(".table-count")
    expect(count).to_have_text("Hosts 1–100 of 600", timeout=LOAD_MS)
    loaded = time.monotonic() - started
    rows = page.locator("table.hosts tbody tr")
    expect(rows).to_have_count(100)                      # one page in the DOM, not 600 rows
    assert _names(page)[:2] == HOSTS[:2]
    expect(page.locator(".page-of")).to_have_text("Page 1 of 6")
    shot(page, "hosts-600")

    # every change of view below is drawn from the page's data: no request, well under a second
    def timed(action, text):
        begin = time.monotonic()
        action()
        expect(count).to_have_text(text)
        return time.monotonic() - begin

    assert timed(lambda: page.get_by_role("button", name="Next page").click(), "Hosts 101–200 of 600") < 2
    assert _names(page)[0] == HOSTS[100]
    assert "page=2" in page.url

    # sort by every column: host descending, then status (problems first), wave, time, versions
    page.get_by_role("button", name="Host", exact=True).click()    # sorted by host: now reversed
    expect(count).to_have_text("Hosts 1–100 of 600")    # a new order starts at page 1
    expect(page.locator("th[data-column=host]")).to_have_attribute("aria-sort", "descending")
    assert _names(page)[:2] == [HOSTS[-1], HOSTS[-2]]
    page.get_by_role("button", name="Status", exact=True).click()
    expect(page.locator("th[data-column=status]")).to_have_attribute("aria-sort", "ascending")
    assert sorted(_names(page)[:2]) == FAILED                    # failed hosts first
    assert set(_names(page)[2:15]) == set(IN_PROGRESS)           # then the ones deploying
    page.get_by_role("button", name="Wave", exact=True).click()
    page.get_by_role("button", name="Wave", exact=True).click()
    expect(page.locator("th[data-column=wave]")).to_have_attribute("aria-sort", "descending")
    expect(rows.first.locator("td.opt")).to_have_text("2")
    page.get_by_role("button", name="Last report", exact=True).click()
    page.get_by_role("button", name="Last report", exact=True).click()
    expect(page.locator("th[data-column=reported_at]")).to_have_attribute("aria-sort", "descending")
    assert _names(page)[:8] == [FAILED[0], FAILED[1], HOSTS[0], *SUCCEEDED]  # newest first
    page.get_by_role("button", name="Running", exact=True).click()
    page.get_by_role("button", name="Running", exact=True).click()
    expect(rows.first.locator("td").nth(1)).to_have_text("1.0.0")
    page.get_by_role("button", name="Target", exact=True).click()
    expect(page.locator("th[data-column=target_version]")).to_have_attribute("aria-sort", "ascending")

    # filters, with counts in their options, combined, kept in the URL
    status = page.get_by_label("Status", exact=True)
    expect(status.locator("option", has_text="Failed (2)")).to_have_count(1)
    assert timed(lambda: status.select_option(HostStatus.FAILED), "Hosts 1–2 of 2 (filtered from 600)") < 2
    assert sorted(_names(page)) == FAILED
    assert f"status={HostStatus.FAILED}" in page.url
    shot(page, "hosts-600-failed")
    page.reload()
    expect(count).to_have_text("Hosts 1–2 of 2 (filtered from 600)", timeout=LOAD_MS)  # kept by the URL
    expect(page.get_by_label("Status", exact=True)).to_have_value(HostStatus.FAILED)

    page.get_by_role("button", name="Clear filters").click()
    expect(count).to_have_text("Hosts 1–100 of 600")
    wave = page.get_by_label("Wave", exact=True)
    expect(wave.locator("option", has_text="Wave 1 (59)")).to_have_count(1)
    wave.select_option("1")
    expect(count).to_have_text("Hosts 1–59 of 59 (filtered from 600)")
    page.get_by_label("Status", exact=True).select_option(HostStatus.SUCCEEDED)
    expect(count).to_have_text("Hosts 1–5 of 5 (filtered from 600)")
    assert sorted(_names(page)) == SUCCEEDED
    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Host name").fill("host-59")
    expect(count).to_have_text("Hosts 1–10 of 10 (filtered from 600)")
    page.get_by_label("Host name").fill("no-such-host")
    expect(page.locator(".table-empty")).to_be_visible()
    assert loaded < LOAD_MS / 1000


def test_a_refresh_of_600_hosts_redraws_only_the_rows_that_changed(page, live, site):
    from chalicelib.models import HostState, wave_key
    expect = expecting()
    _seed(live)
    _slow_refresh(live, site, 2)
    _open(page, "project/web?wave=1&status=in_progress")
    count = page.locator(".table-count")
    expect(count).to_have_text("Hosts 1–13 of 13 (filtered from 600)", timeout=LOAD_MS)
    renders = page.locator("table.hosts tbody tr").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.host, r.dataset.renders]))")

    # one host finishes its deploy: its row alone is redrawn, and it leaves the filtered view
    done = IN_PROGRESS[0]
    item = HostState.get(done, "web")
    item.update(actions=[HostState.status.set(HostStatus.SUCCEEDED), HostState.running_version.set("1.0.0"),
                         HostState.wave_key.set(wave_key(1, HostStatus.SUCCEEDED, done))])
    expect(count).to_have_text("Hosts 1–12 of 12 (filtered from 600)", timeout=LOAD_MS)
    after = page.locator("table.hosts tbody tr").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.host, r.dataset.renders]))")
    assert after == {host: n for host, n in renders.items() if host != done}
    page.get_by_label("Status", exact=True).select_option(HostStatus.SUCCEEDED)
    row = page.locator(f"tr[data-host='{done}']")
    expect(row.locator(".badge").first).to_have_text("Succeeded")
