"""Daily reports over time-travelled fixture events: exact numbers, S3 objects, SNS, the API."""
import datetime
import json

import pytest

from tests.support.receiver import stage_topic, topic_observers
from tests.conftest import boto_client

UTC = datetime.timezone.utc
DAY = datetime.date(2026, 3, 10)
MIDNIGHT = datetime.datetime(2026, 3, 10, tzinfo=UTC)
NOW = datetime.datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # when the 08:00 report runs


def at(hours, seconds=0):
    return MIDNIGHT + datetime.timedelta(hours=hours, seconds=seconds)


def _rollout(project, rollout_id, start, duration, outcome="succeeded"):
    from chalicelib import events
    detail = {"rollout_id": rollout_id, "version": f"v-{rollout_id}"}
    events.record(project, "rollout.started", "fabu:tick", detail, at=start)
    if outcome == "rolled_back":
        events.record(project, "rollout.halted", "fabu:tick", detail, at=start + datetime.timedelta(seconds=duration / 2))
    events.record(project, f"rollout.{outcome}", "fabu:tick", detail,
                  at=start + datetime.timedelta(seconds=duration))


def _host(host, status, running, target, last_seen):
    """The host's item, and (when it was seen) its beat, as its last poll at ``last_seen`` left
    them (``chalicelib.hosts.beat``: silence is read from the beat)."""
    from chalicelib.models import HostState, wave_key
    from tests.support.hosts import stored_beat
    HostState(host, "web", wave=0, status=status, wave_key=wave_key(0, status, host),
              running_version=running, target_version=target, last_seen=last_seen).save()
    if last_seen is not None:
        stored_beat(host, last_seen)


@pytest.fixture
def history(aws):
    """Two projects' day 2026-03-10, with events the day before and after that must not count."""
    from chalicelib import events
    from chalicelib.models import Rollout
    # web: 6 finished rollouts, durations 60..1200 s, one rolled back; one began the day before.
    for n, (duration, outcome) in enumerate([(60, "succeeded"), (120, "succeeded"), (180, "succeeded"),
                                             (240, "succeeded"), (600, "rolled_back")]):
        _rollout("web", f"w{n}", at(1 + n), duration, outcome)
    Rollout("web", "w-overnight", version="0.9", start_at=at(-1, 3000)).save()
    _rollout("web", "w-overnight", at(-1, 3000), 1200)  # 23:50 the day before to 00:10
    _rollout("web", "w-cancelled", at(20), 30, "cancelled")
    events.record("web", "rollout.started", "fabu:tick", {"rollout_id": "w-unfinished"}, at=at(23))
    _rollout("web", "w-next-day", at(24, 60), 60)
    for i in range(10):
        events.record("web", "host.succeeded", f"h{i}", {"deploy_id": f"d{i}"}, at=at(2, i))
    for i, tail in enumerate(["a\nE: disk full\n", "x\nE: disk full\n\n", "boom\nconnection refused"]):
        events.record("web", "host.failed", f"f{i}", {"output_tail": tail}, at=at(3, i))
    events.record("web", "host.lost", "fabu:tick", {}, at=at(3, 30))
    for level in ("warn", "warn", "error"):
        events.record("web", "host.message", "h1", {"level": level}, message="x", at=at(4))
    # api: 20 successful rollouts of 1..20 minutes.
    for n in range(20):
        _rollout("api", f"a{n:02d}", at(0, 60 * n), 60 * (n + 1))
    # web's hosts now: in step, drifted, mid-deploy, silent, never seen (lost: not drift, see
    # chalicelib.drift), failed (its status says so: not drift either).
    _host("web-1", "succeeded", "2.0", "2.0", NOW)
    _host("web-2", "succeeded", "1.0", "2.0", NOW)
    _host("web-3", "in_progress", "1.0", "2.0", NOW)
    _host("web-4", "succeeded", "2.0", "2.0", NOW - datetime.timedelta(hours=2))
    _host("web-5", "lost", None, "2.0", None)
    _host("web-6", "failed", "1.0", "2.0", NOW)


def test_report_numbers_are_exact(history):
    from chalicelib.notify import reports
    report = reports.build(DAY, NOW)
    web, api = {p["project"]: p for p in report["projects"]}["web"], report["projects"][0]
    assert [p["project"] for p in report["projects"]] == ["api", "web"]
    assert (web["deploys"], web["succeeded"], web["failed"]) == (6, 5, 1)
    assert web["success_rate"] == 0.8333
    assert web["duration_seconds"] == {"median": 210, "p95": 1200, "max": 1200}
    assert [r["outcome"] for r in web["rollouts"] if r["rollout_id"] == "w4"] == ["rolled_back"]
    assert web["hosts"] == {"failed": 3, "lost": 1, "succeeded": 10}
    assert web["host_success_rate"] == round(10 / 14, 4)
    assert web["top_failure_lines"] == [{"line": "E: disk full", "count": 2},
                                        {"line": "connection refused", "count": 1}]
    assert web["messages"] == {"warn": 2, "error": 1}
    assert [(d["host"], d["expected"], d["running"]) for d in web["drift"]] == [("web-2", "2.0", "1.0")]
    assert [(s["host"], s["last_seen"]) for s in web["silent"]] == [
        ("web-4", "2026-03-11T06:00:00Z"), ("web-5", None)]
    assert (api["deploys"], api["success_rate"]) == (20, 1.0)
    assert api["duration_seconds"]["median"] == 630 and api["duration_seconds"]["p95"] == 1140
    totals = report["totals"]
    assert (totals["deploys"], totals["succeeded"], totals["success_rate"]) == (26, 25, 0.9615)
    assert totals["duration_seconds"]["p95"] == 1200 and (totals["drift"], totals["silent"]) == (1, 2)


@pytest.mark.parametrize("values, p95, median", [
    ([5], 5, 5), ([1, 2], 2, 1.5), (list(range(1, 21)), 19, 10.5), (list(range(1, 101)), 95, 50.5),
    (list(range(1, 102)), 96, 51),
])
def test_p95_is_the_nearest_rank(values, p95, median):
    from chalicelib.notify import reports
    assert reports.percentile(values, 0.95) == p95
    assert reports.median(values) == median


def test_generate_writes_json_and_self_contained_html_and_posts_a_summary(history):
    from chalicelib import config
    from chalicelib.notify import reports
    observers = topic_observers()
    watch = next(observers)(stage_topic())
    try:
        report = reports.generate(DAY, NOW)
        s3 = boto_client("s3")
        stored = json.loads(s3.get_object(Bucket=config.release_bucket(), Key="reports/2026-03-10.json")["Body"].read())
        assert stored == report
        page = s3.get_object(Bucket=config.release_bucket(), Key="reports/2026-03-10.html")
        html = page["Body"].read().decode()
        assert page["ContentType"].startswith("text/html")
        assert html.count("<svg") == 2 and "E: disk full" in html and "83.3%" in html
        for outside in ("<script", "<link", "src=", "href=", "url(", "@import"):
            assert outside not in html
        [text] = watch()
        assert "fabu report 2026-03-10: 26 deploys, 96.2% succeeded" in text
        assert "- web: 6 deploys (1 failed), p95 20m00s, drift 1, silent 2" in text
    finally:
        next(observers, None)


def test_report_routes_latest_by_date_html_and_errors(api, history, signed_client):
    from chalicelib.notify import reports
    assert api.get("/api/v1/reports/latest").status == 404
    reports.generate(DAY, NOW)
    reports.generate(DAY - datetime.timedelta(days=3), NOW)  # regenerating an older day
    latest = api.get("/api/v1/reports/latest")
    assert latest.status == 200 and latest.json["date"] == "2026-03-10"
    assert latest.json["totals"]["deploys"] == 26
    assert api.get("/api/v1/reports/2026-03-07").json["totals"]["deploys"] == 0
    page = api.get("/api/v1/reports/2026-03-10?format=html")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert api.get("/api/v1/reports/2026-03-11").status == 404
    for bad in ("2026-13-01", "yesterday", "2026-3-1"):
        assert api.get(f"/api/v1/reports/{bad}").status == 400
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1")
    assert host.get("/api/v1/reports/latest").status == 403


def test_the_daily_schedule_reports_the_previous_utc_day(history):
    from chalicelib.notify import reports
    report = reports.run_scheduled({"time": "2026-03-11T08:00:00Z"}, now=NOW)
    assert report["date"] == "2026-03-10" and report["totals"]["deploys"] == 26


def test_the_schedule_is_daily_at_0800_utc_unless_configured(monkeypatch):
    from app import app
    from chalice.app import ScheduledEventConfig
    from chalicelib.notify import reports
    from infra.ticker import cron_matches
    source = [s for s in app.event_sources if isinstance(s, ScheduledEventConfig) and s.name == "daily_report"][0]
    assert cron_matches(source.schedule_expression, datetime.datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    assert not cron_matches(source.schedule_expression, datetime.datetime(2026, 3, 11, 9, 0, tzinfo=UTC))
    monkeypatch.setenv("FABU_REPORT_CRON", "30 6 * * ? *")
    assert reports.cron().to_string() == "cron(30 6 * * ? *)"
    monkeypatch.setenv("FABU_REPORT_CRON", "every day")
    assert reports.cron().to_string() == "cron(0 8 * * ? *)"


# --- reports on demand and the list of days -------------------------------------------------

def _today_rollout(now, project="web"):
    """A rollout of ``project`` that started and succeeded within the last minute (today, UTC)."""
    started = max(now - datetime.timedelta(seconds=30),
                  datetime.datetime.combine(now.date(), datetime.time(), UTC))
    _rollout(project, f"t-{project}", started, (now - started).total_seconds() / 2)


def test_post_makes_todays_report_so_far_and_latest_answers_it(api, aws):
    from chalicelib import events
    from chalicelib.notify import reports
    before = api.get("/api/v1/reports/latest")
    assert before.status == 404 and "POST /api/v1/reports" in before.json["error"]
    now = datetime.datetime.now(UTC)
    _today_rollout(now)
    observers = topic_observers()
    watch = next(observers)(stage_topic())
    try:
        made = api.post("/api/v1/reports")
        assert made.status == 200, made.body
        today = made.json["date"]
        assert today == datetime.datetime.now(UTC).date().isoformat()
        assert made.json["complete"] is False and made.json["generated_by"].endswith(":user/fabu-admin")
        assert made.json["totals"]["deploys"] == 1
        assert watch() == []  # on demand: no SNS summary unless asked for
        latest = api.get("/api/v1/reports/latest")
        assert latest.status == 200 and latest.json["date"] == today
        assert api.get(f"/api/v1/reports/{today}?format=html").status == 200
        again = api.post("/api/v1/reports", {"date": today, "publish": True})
        assert again.status == 200
        assert [p["project"] for p in again.json["projects"]] == ["web"]  # its own event is not a project
        [text] = watch()
        assert text.startswith(f"fabu report {today}: 1 deploys")
    finally:
        next(observers, None)
    made_events, _ = events.page(reports.REPORT_SCOPE, limit=10, newest_first=False)
    assert [e["kind"] for e in made_events] == ["report.generated", "report.generated"]
    assert [e["detail"]["published"] for e in made_events] == [False, True]
    assert made_events[0]["actor"].endswith(":user/fabu-admin") and made_events[0]["detail"]["date"] == today


def test_post_refuses_what_it_cannot_report(api, signed_client, monkeypatch):
    today = datetime.datetime.now(UTC).date()
    cases = [({"date": (today + datetime.timedelta(days=1)).isoformat()}, "date", "is after today"),
             ({"date": "2026-13-01"}, "date", "is not a date"),
             ({"date": 20261104}, "date", "is not a date"),
             ({"date": (today - datetime.timedelta(days=120)).isoformat()}, "date", "oldest day with events"),
             ({"publish": "yes"}, "publish", "must be true or false"),
             ({"day": "2026-01-01"}, "day", "unknown field")]
    for body, field, said in cases:
        response = api.post("/api/v1/reports", body)
        assert response.status == 400, (body, response.body)
        assert said in response.json["fields"][field], (body, response.json)
    assert api.post("/api/v1/reports", b"[1]").status == 400
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1")
    assert host.post("/api/v1/reports").status == 403
    assert host.get("/api/v1/reports").status == 403
    # a day too big for the request's time budget is a 503 naming it, and nothing is stored
    _today_rollout(datetime.datetime.now(UTC))
    monkeypatch.setenv("FABU_REPORT_API_SECONDS", "0")
    slow = api.post("/api/v1/reports")
    assert slow.status == 503 and "FABU_REPORT_API_SECONDS" in slow.json["error"]
    assert api.get("/api/v1/reports/latest").status == 404


def test_the_list_holds_the_days_that_exist_newest_first_in_pages(api, aws):
    from chalicelib.notify import reports
    assert api.get("/api/v1/reports").json == {"reports": [], "next_cursor": None}
    days = [datetime.date(2024, 12, 30), datetime.date(2025, 1, 2), datetime.date(2026, 3, 9),
            datetime.date(2026, 3, 10), datetime.date(2017, 6, 1)]
    for day in days:
        reports.generate(day, NOW, publish=False)
    listed = api.get("/api/v1/reports?limit=3")
    assert listed.status == 200
    assert [r["date"] for r in listed.json["reports"]] == ["2026-03-10", "2026-03-09", "2025-01-02"]
    assert listed.json["reports"][0]["size"] > 0 and listed.json["reports"][0]["modified_at"].endswith("Z")
    seen = [r["date"] for r in listed.json["reports"]]
    cursor, pages = listed.json["next_cursor"], 1
    while cursor:  # 2024, then 2023..2019 looked at (5 years a page at most), then 2018 and 2017
        response = api.get(f"/api/v1/reports?limit=3&cursor={cursor}")
        assert response.status == 200, (cursor, response.body)
        page = response.json
        seen += [r["date"] for r in page["reports"]]
        cursor, pages = page["next_cursor"], pages + 1
        assert pages < 6
    assert seen == ["2026-03-10", "2026-03-09", "2025-01-02", "2024-12-30", "2017-06-01"]
    for bad in ("limit=0", "limit=367", "cursor=nonsense", "cursor=eyJiZWZvcmUiOiAieCJ9"):
        response = api.get(f"/api/v1/reports?{bad}")
        assert response.status == 400, bad
