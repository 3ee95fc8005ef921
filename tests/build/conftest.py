"""Fixtures of the build tests: the sample git repository (built once per module)."""
import pytest

from tests.support.builds import make_git_repo


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("git"))
