"""Fixtures of the source tests: an empty scratch tree (and moto, for credentials and s3)."""
import pytest

from tests.support.builds import aws_env  # noqa: F401 (fixture)


@pytest.fixture
def dest(tmp_path):
    """An empty ``tree`` inside a scratch directory, as the worker gives a fetcher."""
    path = tmp_path / "scratch" / "tree"
    path.mkdir(parents=True)
    return path
