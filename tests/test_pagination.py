"""Page cursors: opaque, URL-safe, signed, bound to their query; anything else is a 400.

The routes' side (every route taking ``cursor``) is in ``tests/api/test_hostile_input.py``.
"""
import pytest

from chalicelib import pagination
from chalicelib.errors import ValidationError

KEY = {"scope": {"S": "web"}, "sk": {"S": "2026-11-01T12:00:00.000000Z#1a2b/+?"}}


def _refused(cursor, **kwargs):
    with pytest.raises(ValidationError) as caught:
        pagination.decode(cursor, **kwargs)
    assert list(caught.value.fields) == ["cursor"]
    return caught.value


def test_a_cursor_round_trips_the_key_and_is_url_safe():
    cursor = pagination.encode(KEY)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert pagination.decode(cursor) == KEY


def test_the_last_page_has_no_cursor_and_no_cursor_starts_at_the_top():
    assert pagination.encode(None) is None and pagination.encode({}) is None
    assert pagination.decode(None) is None and pagination.decode("") is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WzFd", "bnVsbA", "%%%", "x" * 30])
def test_a_cursor_this_api_did_not_issue_is_400(cursor):
    assert "next_cursor" in _refused(cursor).fields["cursor"]


def test_a_cursor_belongs_to_the_route_and_parameters_it_was_issued_for():
    with pagination.bound_to("events", [("{project_id}", "web"), ("order", "asc"), ("limit", "5")]):
        cursor = pagination.encode(KEY)
    # The page size may change between pages; nothing else may.
    with pagination.bound_to("events", [("limit", "50"), ("order", "asc"), ("{project_id}", "web")]):
        assert pagination.decode(cursor) == KEY
    for route, params in [("events", [("{project_id}", "api"), ("order", "asc")]),
                          ("events", [("{project_id}", "web")]),
                          ("projects", [("{project_id}", "web"), ("order", "asc")])]:
        with pagination.bound_to(route, params):
            _refused(cursor)
    _refused(cursor)  # outside any request


def test_a_cursor_is_signed_with_the_stage_key(monkeypatch):
    cursor = pagination.encode(KEY)
    monkeypatch.setenv("FABU_CURSOR_KEY", "another stage")
    _refused(cursor)
    assert pagination.decode(pagination.encode(KEY)) == KEY


def test_every_edit_of_a_cursor_is_refused():
    cursor = pagination.encode(KEY)
    for i in range(len(cursor)):
        edited = cursor[:i] + ("A" if cursor[i] != "A" else "B") + cursor[i + 1:]
        _refused(edited)
    _refused(cursor + "\n")
    _refused(cursor[:-1])


@pytest.mark.parametrize("key", [
    {"id": {"S": "x" * 2000}},  # too long a value
    {"id": {"N": "1e5"}},  # not a DynamoDB number string we issue
    {"id": {"B": "AAAA"}},  # binary keys: none in fabu
    {"id": "plain"},
    {"a": {"S": "1"}, "b": {"S": "2"}, "c": {"S": "3"}, "d": {"S": "4"}, "e": {"S": "5"}},
    {"bad name!": {"S": "x"}},
])
def test_even_a_correctly_signed_cursor_must_have_the_shape_of_a_key(key):
    _refused(pagination.encode(key))


def test_a_caller_may_name_the_exact_key_attributes_it_pages():
    cursor = pagination.encode(KEY)
    assert pagination.decode(cursor, keys=("sk", "scope")) == KEY
    _refused(cursor, keys=("id", "list_pk"))


def test_an_overlong_cursor_says_so():
    refusal = _refused("A" * (pagination.MAX_CURSOR_CHARS + 1))
    assert refusal.fields == {"cursor": "is longer than 2048 characters"}
