"""What an operator reads: human labels for every state, callers by name, skipped not a failure.

A project whose release waits for its CI upload (rollout "waiting for release"), created by a
caller with a path in its ARN, and hosts in every tricky status (seeded at the storage boundary,
as the tick and the hosts' reports would have left them). Neither the project page nor the
projects list may show a raw state name of the API (``rolled_back``, ``waiting_release``,
``awaiting_artifact``...) or a full ARN; ``skipped`` is drawn like a success, not like ``failed``.
"""
import datetime
import re

from chalicelib import states
from chalicelib.states import HostStatus, Phase, ReportStatus, RolloutState
from tests.conftest import base_project
from tests.web.console import expecting, goto, rollout, shot

ALICE = "arn:aws:iam::000000000000:user/fabu-admins/alice"
STATUSES = {"h-skipped.example.com": HostStatus.SKIPPED, "h-failed.example.com": HostStatus.FAILED,
            "h-back.example.com": HostStatus.ROLLED_BACK,
            "h-queued.example.com": HostStatus.ROLLBACK_PENDING,
            "h-busy.example.com": HostStatus.IN_PROGRESS, "h-ok.example.com": HostStatus.SUCCEEDED}
#: Every state name of the API that is not an English word as it is.
RAW = sorted({str(v) for enum in (states.HostStatus, states.RolloutState, states.ReleaseState,
                                  states.ReportStatus) for v in enum if "_" in str(v)})


def _seed_hosts():
    from chalicelib.models import HostState, wave_key
    now = datetime.datetime.now(datetime.timezone.utc)
    with HostState.batch_write() as batch:
        for host, status in STATUSES.items():
            item = HostState(host, "web", wave=0, status=status, wave_key=wave_key(0, status, host),
                             rollout_id="r-seeded", target_version="1.0.0", last_seen=now,
                             running_version="1.0.0" if status in (HostStatus.SKIPPED, HostStatus.SUCCEEDED)
                             else "0.9.0", reported_at=now - datetime.timedelta(seconds=40))
            if status in (HostStatus.SKIPPED, HostStatus.FAILED, HostStatus.SUCCEEDED):
                item.last_phase = Phase.POST_DEPLOY
                item.last_status = {HostStatus.SKIPPED: ReportStatus.SKIPPED,
                                    HostStatus.FAILED: ReportStatus.FAILED}.get(status, ReportStatus.OK)
            batch.save(item)


def _raw_words(page):
    text = page.evaluate("document.body.innerText")
    return sorted({w for w in RAW if re.search(rf"\b{w}\b", text)}) + re.findall(r"arn:aws:\S+", text)


def test_states_read_as_words_callers_by_name_and_skipped_is_not_a_failure(page, live):
    from chalicelib.auth import principals
    expect = expecting()
    alice = principals.add_principal(ALICE, path=str(live.principals_path))
    created = live.request("POST", "/api/v1/project", base_project(hosts=sorted(STATUSES)),
                           key=alice.access_key_id, secret=alice.secret_access_key)
    assert created.status_code == 201, created.text
    live.tick()
    assert rollout(live)["state"] == RolloutState.WAITING_RELEASE
    _seed_hosts()

    goto(page, "project/web")
    expect(page.locator("table.hosts tbody tr")).to_have_count(len(STATUSES))
    expect(page.locator(".header h1 .badge")).to_have_text("Waiting for release")
    expect(page.locator(".header h1 .badge")).to_have_attribute("data-state", RolloutState.WAITING_RELEASE)
    expect(page.locator(".timeline li").first).to_be_visible()
    rows = {host: page.locator(f"tr[data-host='{host}']") for host in STATUSES}
    expect(rows["h-back.example.com"].locator(".badge").first).to_have_text("Rolled back")
    expect(rows["h-queued.example.com"].locator(".badge").first).to_have_text("Rollback queued")
    expect(rows["h-busy.example.com"].locator(".badge").first).to_have_text("Deploying")
    assert _raw_words(page) == []

    # the caller by the last segment of its ARN, the whole ARN in the tooltip
    updated = page.locator(".header .actor")
    expect(updated).to_have_text("alice")
    expect(updated).to_have_attribute("title", ALICE)
    created_event = page.locator(".timeline li", has=page.locator(".kind[data-kind='project.created']"))
    expect(created_event.locator(".kind")).to_have_text("Project created")
    expect(created_event.locator(".actor")).to_have_text("alice")
    expect(created_event.locator(".actor")).to_have_attribute("title", ALICE)

    # skipped went well: drawn like a success, not like a failure, and its row is not flagged
    def status_badge(host):
        return rows[host].locator("td").nth(2).locator(".badge").first

    def report_badge(host):
        return rows[host].locator("td").nth(4).locator(".badge")

    skipped, failed = status_badge("h-skipped.example.com"), status_badge("h-failed.example.com")
    expect(skipped).to_have_text("Skipped (already there)")
    expect(skipped).to_have_attribute("data-state", HostStatus.SKIPPED)
    expect(report_badge("h-skipped.example.com")).to_have_text("Skipped")
    colour = "el => getComputedStyle(el).backgroundColor"
    for well, wrong, ok in ((skipped, failed, status_badge("h-ok.example.com")),
                            (report_badge("h-skipped.example.com"), report_badge("h-failed.example.com"),
                             report_badge("h-ok.example.com"))):
        assert well.evaluate(colour) != wrong.evaluate(colour)
        assert well.evaluate(colour) == ok.evaluate(colour)
        expect(well).to_have_class(re.compile(r"\bgood\b"))
        expect(wrong).to_have_class(re.compile(r"\bbad\b"))
    expect(rows["h-failed.example.com"]).to_have_class(re.compile(r"\bfailed\b"))
    assert "failed" not in (rows["h-skipped.example.com"].get_attribute("class") or "").split()
    status = page.get_by_label("Status", exact=True)
    expect(status.locator("option", has_text="Skipped (already there) (1)")).to_have_count(1)
    shot(page, "labels-project")

    page.get_by_role("link", name="Projects").click()
    row = page.locator("tr[data-project=web]")
    expect(row.locator(".badge").first).to_be_visible()
    expect(row).to_contain_text("Waiting for release")
    assert _raw_words(page) == []
