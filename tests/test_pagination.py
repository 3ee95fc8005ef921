"""Page cursors: opaque, URL-safe, and refused when this API did not issue them."""
import pytest

from chalicelib import pagination
from chalicelib.errors import ValidationError


def test_a_cursor_round_trips_the_key_and_is_url_safe():
    key = {"scope": {"S": "web"}, "sk": {"S": "2026-11-01T12:00:00.000000Z#1a2b/+?"}}
    cursor = pagination.encode(key)
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert pagination.decode(cursor) == key


def test_the_last_page_has_no_cursor_and_no_cursor_starts_at_the_top():
    assert pagination.encode(None) is None and pagination.encode({}) is None
    assert pagination.decode(None) is None and pagination.decode("") is None


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WzFd", "bnVsbA", "%%%"])
def test_a_cursor_this_api_did_not_issue_is_400(cursor):
    with pytest.raises(ValidationError) as caught:
        pagination.decode(cursor)
    assert caught.value.fields == {"cursor": "is not a cursor this API issued"}
