"""The event log: what ``record`` stores and queues, and ``project_page``'s checks of its input."""
import datetime

import pytest

from tests.conftest import base_project, boto_client

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_events_expire_by_ttl_after_the_configured_days(aws, monkeypatch):
    from chalicelib import events
    from chalicelib.models import Event
    monkeypatch.setenv("FABU_EVENT_TTL_DAYS", "7")
    stored = events.record("web", "test.step", "tester", at=START)
    item = Event.get("web", stored["id"])
    assert item.expires_at == START + datetime.timedelta(days=7)
    ttl = boto_client("dynamodb").describe_time_to_live(TableName=Event.Meta.table_name)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_a_recorded_event_is_returned_as_stored_and_ids_sort_by_time(aws):
    from chalicelib import events
    first = events.record("web", "test.step", "tester", {"n": 1}, host="web-1", message="one",
                          at=START)
    second = events.record("web", "test.step", "tester", at=START + datetime.timedelta(microseconds=1))
    assert first == {"project": "web", "id": first["id"], "kind": "test.step", "actor": "tester",
                     "host": "web-1", "message": "one", "detail": {"n": 1},
                     "at": "2026-11-01T12:00:00.000000Z"}
    assert first["id"].startswith("2026-11-01T12:00:00.000000Z#") and first["id"] < second["id"]
    assert events.page("web", newest_first=False)[0] == [first, second]


@pytest.fixture
def web(api):
    assert api.post("/api/v1/project", base_project()).status == 201


def test_project_page_reads_since_in_any_zone_and_either_order(web):
    from chalicelib import events
    ids = [events.record("web", "test.step", "tester", at=START + datetime.timedelta(minutes=n))["id"]
           for n in range(3)]
    newest, _ = events.project_page("web", since="2026-11-01T13:01:00+01:00")
    assert [e["id"] for e in newest if e["kind"] == "test.step"] == ids[:0:-1]
    oldest, _ = events.project_page("web", since="2026-11-01T12:01:00", order="asc", limit=1)
    assert [e["id"] for e in oldest] == [ids[1]]  # no zone: UTC


@pytest.mark.parametrize("arguments, field", [
    ({"since": "yesterday"}, "since"), ({"since": ""}, "since"), ({"order": "sideways"}, "order"),
    ({"cursor": "not-a-cursor"}, "cursor"),
])
def test_project_page_names_the_bad_parameter(web, arguments, field):
    from chalicelib import events
    from chalicelib.errors import ValidationError
    with pytest.raises(ValidationError) as caught:
        events.project_page("web", **arguments)
    assert field in caught.value.fields and caught.value.status == 400


def test_project_page_of_an_unknown_project_is_not_found(aws):
    from chalicelib import events
    from chalicelib.errors import NotFound
    with pytest.raises(NotFound, match="no project named 'nope'"):
        events.project_page("nope")
