"""The reports page in a real browser: "Generate now", and only days that exist are fetched.

Before any report exists the page says so (and asks for no report); "Generate now" makes today's
(``POST /api/v1/reports``) and shows it with the day's deploy of a real rollout; a past day can be
generated too, and the picker offers exactly the days ``GET /api/v1/reports`` lists. Every
answer the page got from the API is recorded: none may be a 404.
"""
import datetime
import re

from chalicelib.states import RolloutState
from tests.web.console import Host, create, deploy_everywhere, expecting, goto, ready_release, shot


def test_generate_now_shows_the_report_and_only_existing_days_are_fetched(page, live):
    expect = expecting()
    create(live, hosts=["web-1.example.com"])
    ready_release("web", "1.0.0")
    live.tick()
    assert deploy_everywhere(live, [Host(live, "web-1.example.com")])["state"] == RolloutState.SUCCEEDED
    answers = []
    page.on("response", lambda r: r.url.startswith(live.url) and r.request.method != "OPTIONS"
            and answers.append((r.status, r.request.method, r.url[len(live.url):])))
    today = datetime.datetime.now(datetime.timezone.utc).date()
    yesterday = today - datetime.timedelta(days=1)

    goto(page, "reports")
    note = page.locator(".load-error")
    expect(note).to_contain_text("No report yet")
    expect(page.locator(".report-body")).to_be_hidden()
    page.wait_for_timeout(1500)           # a refresh or two: still no day to fetch
    assert [a for a in answers if a[2].startswith("/api/v1/reports/")] == []

    page.get_by_role("button", name="Generate now").click()
    generated = page.locator(".generated")
    expect(generated).to_contain_text(f"Report of {today.isoformat()}")
    expect(generated).to_contain_text("(the day so far)")
    expect(note).to_be_hidden()
    row = page.locator(".report-table tbody tr", has_text="web")
    expect(row.locator("td").nth(0)).to_have_text("1")
    expect(row.locator("td").nth(1)).to_have_text("100 %")
    expect(page.locator("#flash")).to_contain_text(f"Report of {today.isoformat()} generated")
    expect(page.locator("#chart-success canvas")).to_have_count(1)
    assert ("POST", "/api/v1/reports") in [(m, p) for _, m, p in answers]

    # a past day: generated on demand, then offered by the picker next to today
    page.get_by_label("Day (UTC)").fill(yesterday.isoformat())
    page.get_by_role("button", name="Generate now").click()
    expect(generated).to_contain_text(f"Report of {yesterday.isoformat()}")
    expect(page.locator(".report-table tbody")).to_contain_text("No deploys in this report")
    picker = page.get_by_label("Show the report of")
    expect(picker.locator("option")).to_have_text(["the latest day", today.isoformat(), yesterday.isoformat()])
    picker.select_option("")
    expect(generated).to_contain_text(f"Report of {today.isoformat()}")
    picker.select_option(yesterday.isoformat())
    expect(generated).to_contain_text(f"Report of {yesterday.isoformat()}")
    page.wait_for_timeout(1500)           # refreshes keep the picked day
    expect(generated).to_contain_text(f"Report of {yesterday.isoformat()}")
    shot(page, "reports-generated")

    assert [a for a in answers if a[0] == 404] == []
    fetched = {p for _, m, p in answers if m == "GET" and re.fullmatch(r"/api/v1/reports/[^/?]+", p)}
    assert fetched <= {f"/api/v1/reports/{d.isoformat()}" for d in (today, yesterday)}, fetched
    assert all(status < 400 for status, _, _ in answers), answers
