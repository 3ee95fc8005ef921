"""GET /api/v1/project/{id}/events: a project's timeline, newest first, paginated by cursor."""
import datetime
from urllib.parse import urlencode

import pytest

from tests.conftest import base_project

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def timeline(api):
    """Project ``web`` plus seven known events a minute apart (after its own creation events)."""
    from chalicelib import events
    assert api.post("/api/v1/project", base_project()).status == 201
    return [events.record("web", "test.step", "tester", {"n": n},
                          at=START + datetime.timedelta(minutes=n))["id"] for n in range(7)]


def _all_pages(api, query):
    ids, cursor, pages = [], None, 0
    while True:
        got = api.get(f"/api/v1/project/web/events?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert got.status == 200, got
        ids += [e["id"] for e in got.json["events"]]
        pages += 1
        cursor = got.json["next_cursor"]
        if not cursor:
            return ids, pages


def test_pages_walk_every_event_newest_first_without_repeats(api, timeline):
    first = api.get("/api/v1/project/web/events?limit=3")
    assert first.status == 200 and len(first.json["events"]) == 3
    ids, pages = _all_pages(api, "limit=3")
    assert len(ids) == len(set(ids)) and pages >= 3
    assert ids == sorted(ids, reverse=True)
    assert [i for i in ids if i in timeline] == timeline[::-1]


def test_since_and_order_select_the_later_events_oldest_first(api, timeline):
    ids, _ = _all_pages(api, urlencode({"since": "2026-11-01T12:04:00Z", "order": "asc", "limit": 2}))
    assert ids[:3] == timeline[4:]  # then the project's own creation events (today)
    offset = api.get("/api/v1/project/web/events?" + urlencode({"since": "2026-11-01T13:05:00+01:00",
                                                                 "limit": 50})).json["events"]
    assert [e["id"] for e in offset if e["kind"] == "test.step"] == timeline[:4:-1]  # 12:05 UTC on
    event = api.get("/api/v1/project/web/events?order=asc&limit=1").json["events"][0]
    assert (event["kind"], event["actor"], event["detail"], event["at"]) == (
        "test.step", "tester", {"n": 0}, "2026-11-01T12:00:00.000000Z")


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("since=yesterday", "since"),
    ("cursor=not-a-cursor", "cursor"), ("order=sideways", "order"),
])
def test_bad_parameters_are_400_naming_the_field(api, timeline, query, field):
    got = api.get(f"/api/v1/project/web/events?{query}")
    assert got.status == 400 and field in got.json["fields"]


def test_unknown_project_is_404_and_hosts_may_not_read_events(api, signed_client, timeline):
    assert api.get("/api/v1/project/nope/events").status == 404
    host = signed_client("arn:aws:iam::000000000000:user/fabu-hosts/web-1.example.com")
    assert host.get("/api/v1/project/web/events").status == 403
