"""A scheduled update on the project page, and the form's field reference, in a real browser.

An update sent with ``apply_at`` (as the CLI or the form would) waits: the projects page lists it
among the waiting updates of every project, and the project page shows when
it applies, who asked and what it changes, with a Cancel button whose dialog's Cancel keeps it
and whose confirmation sends ``DELETE /api/v1/project/{id}/scheduled``; then it is gone from the
page and the API. The project form links to the field reference (``docs/fields.md``, published
with the console as the page ``docs/fields.html``) and the link opens it.
"""
import datetime
import re

from tests.conftest import ADMIN_ARN, ROOT
from tests.web.console import confirm, create, expecting, goto, project, shot

AHEAD = datetime.timedelta(hours=2)


def test_a_scheduled_update_is_shown_and_cancelled_after_confirmation(page, live):
    expect = expecting()
    create(live)
    apply_at = (datetime.datetime.now(datetime.timezone.utc) + AHEAD).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent = live.request("PUT", "/api/v1/project/web", {"version": "1.1.0", "description": "next",
                                                       "apply_at": apply_at})
    assert sent.status_code == 200, sent.text
    deletes = []
    page.on("request", lambda r: r.method == "DELETE" and r.url.startswith(live.url)
            and deletes.append(r.url[len(live.url):]))

    when = apply_at.replace("T", " ").replace("Z", " UTC")
    goto(page, "projects")
    expect(page.locator("tr[data-project=web] .badge", has_text="Update scheduled")).to_be_visible()
    listed = page.locator("section.scheduled-list li[data-project=web]")   # across all projects
    expect(listed).to_contain_text(f"web: version, description at {when}")
    expect(listed.locator(".actor")).to_have_text("fabu-admin")
    listed.get_by_role("link", name="web").click()
    card = page.locator("section.scheduled")
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name="Scheduled update")).to_be_visible()
    expect(card).to_contain_text(f"Applies at {when}")
    expect(card.locator("time.countdown")).to_have_text(re.compile(r"^1:59:\d\d left$"))
    expect(card.locator(".scheduled-changes li")).to_have_text(["version: 1.1.0", "description: next"],
                                                               ignore_case=False)
    expect(card.locator(".actor")).to_have_text("fabu-admin")
    expect(card.locator(".actor")).to_have_attribute("title", ADMIN_ARN)
    expect(page.locator(".header .desired")).to_contain_text("1.0.0")     # not applied yet
    shot(page, "scheduled")

    # the dialog's Cancel keeps the update
    card.get_by_role("button", name="Cancel scheduled update").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text(f"planned for {when}")
    dialog.get_by_role("button", name="Cancel", exact=True).click()
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(500)
    assert deletes == []
    assert live.request("GET", "/api/v1/project/web/scheduled").json()["scheduled"]["apply_at"] == apply_at

    # replaced by someone else while the dialog is open: the cancel is refused, not applied unseen
    card.get_by_role("button", name="Cancel scheduled update").click()
    expect(dialog).to_be_visible()
    replaced = live.request("PUT", "/api/v1/project/web", {"version": "1.2.0", "apply_at": apply_at,
                                                           "replace": True})
    assert replaced.status_code == 200, replaced.text
    dialog.get_by_role("button", name="Cancel the update").click()
    expect(card.locator(".scheduled-result")).to_contain_text("Could not cancel")
    expect(card.locator(".scheduled-result")).to_contain_text("409")
    expect(card.locator(".scheduled-changes li")).to_have_text(["version: 1.2.0"])
    assert live.request("GET", "/api/v1/project/web/scheduled").json()["scheduled"]["changes"] == {
        "version": "1.2.0"}

    confirm(page, "Cancel scheduled update", "Cancel the update")
    expect(card).to_be_hidden()
    assert deletes == ["/api/v1/project/web/scheduled"] * 2
    assert live.request("GET", "/api/v1/project/web/scheduled").json()["scheduled"] is None
    assert project(live)["pending"] is None and project(live)["version"] == "1.0.0"
    expect(page.locator("#flash")).to_contain_text("The scheduled update of web is cancelled")
    expect(page.locator(".timeline .kind[data-kind='project.update_cancelled']")).to_have_text(
        "Scheduled update cancelled")
    page.wait_for_timeout(1500)           # later refreshes do not bring it back
    expect(card).to_be_hidden()
    page.get_by_role("link", name="Projects").click()
    expect(page.locator("tr[data-project=web]")).to_be_visible()
    expect(page.locator("section.scheduled-list")).to_be_hidden()


def test_the_form_links_to_the_field_reference(page, console):
    expect = expecting()
    goto(page, "new")
    link = page.get_by_role("link", name="field reference")
    expect(link).to_have_attribute("target", "_blank")
    with page.expect_popup() as opened:
        link.click()
    reference = opened.value
    reference.wait_for_load_state()
    assert reference.url == console.rsplit("/", 1)[0] + "/docs/fields.html"
    expect(reference).to_have_title("Project fields · fabu")
    text = reference.locator("pre.reference-text").inner_text()
    with open(f"{ROOT}/docs/fields.md", encoding="utf-8") as source:
        assert text.strip() == source.read().strip()        # all of it, every character intact
    assert "`rollout.waves[2]`" in text and "apply_at" in text
    assert reference.evaluate("window.__csp") == []
    reference.close()
