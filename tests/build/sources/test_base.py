"""What the fetchers share: the byte budget, redaction, host:port in messages."""
import io

import pytest

from chalicelib.build.sources.base import Budget, SourceError, host_port, redact


def test_budget_stops_past_its_limit_and_names_the_setting():
    budget = Budget(10)
    budget.take(10)
    with pytest.raises(SourceError) as err:
        budget.take(1)
    assert str(err.value) == ("the source is larger than the 10-byte limit "
                              "(FABU_MAX_SOURCE_BYTES)")
    assert not err.value.retryable


def test_budget_without_limit_only_counts():
    budget = Budget(None)
    budget.take(10 ** 12)
    assert budget.used == 10 ** 12


def test_budget_copy_counts_what_it_writes():
    out = io.BytesIO()
    Budget(100).copy(io.BytesIO(b"x" * 100), out)
    assert out.getvalue() == b"x" * 100
    with pytest.raises(SourceError, match="larger than the 99-byte limit"):
        Budget(99).copy(io.BytesIO(b"x" * 100), io.BytesIO())


@pytest.mark.parametrize("url, shown", [
    ("https://ci:hunter2@example.com/a.tgz", "https://example.com/a.tgz"),
    ("https://token@example.com:8443/repo.git", "https://example.com:8443/repo.git"),
    ("https://example.com/a.tgz", "https://example.com/a.tgz"),
    ("s3://bucket/key", "s3://bucket/key"),
])
def test_redact_drops_user_info_only(url, shown):
    assert redact(url) == shown


@pytest.mark.parametrize("url, expected", [
    ("http://127.0.0.1/x", "127.0.0.1:80"),
    ("https://example.com/x", "example.com:443"),
    ("ftp://example.com:2121/x", "example.com:2121"),
    ("git://example.com/repo", "example.com:9418"),
    ("svn://example.com/repo", "example.com"),
])
def test_host_port_fills_in_the_default_port(url, expected):
    assert host_port(url) == expected
