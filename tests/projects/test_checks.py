"""The primitive checks and the error collector the project validators share."""
import pytest

from chalicelib.errors import ValidationError
from chalicelib.projects import checks


def test_the_first_message_per_path_wins_and_one_problem_has_no_count():
    errors = checks.Errors()
    errors.add("name", "is required")
    errors.add("name", "must be a slug")
    with pytest.raises(ValidationError) as caught:
        errors.raise_if_any()
    assert caught.value.message == "invalid project: name is required"
    assert caught.value.fields == {"name": "is required"}


def test_no_problem_raises_nothing():
    checks.Errors().raise_if_any()


@pytest.mark.parametrize("value,kind,ok", [
    ("x", str, True), (True, int, False), (1, int, True), ([], dict, False), (True, bool, True),
])
def test_check_type_never_takes_a_bool_for_something_else(value, kind, ok):
    errors = checks.Errors()
    assert checks.check_type(errors, "f", value, kind, "a thing") is ok
    assert errors.fields == ({} if ok else {"f": "must be a thing"})


@pytest.mark.parametrize("value,problem", [
    ("abc", None), ("a\x00b", "must not contain NUL bytes"), ("abcd", "is too long (at most 3 characters)"),
    (3, "must be a string"),
])
def test_check_string(value, problem):
    errors = checks.Errors()
    checks.check_string(errors, "f", value, 3)
    assert errors.fields.get("f") == problem


@pytest.mark.parametrize("url,problem", [
    ("https://h.example.com/x", None),
    ("https://h.example.com:99999/x", "is not a valid URL"),
    ("https://h.example.com/a b", "is not a valid URL"),
    ("h.example.com/x", "is not a valid URL"),
    ("ftp://h.example.com/x", "scheme must be one of http, https"),
    ("https:///x", "needs a host"),
    ("file:///srv/x", "scheme must be one of http, https"),
])
def test_check_url(url, problem):
    errors = checks.Errors()
    parts = checks.check_url(errors, "u", url, {"https", "http"}, 2048)
    assert errors.fields.get("u") == problem
    assert (parts is None) == (problem is not None)
