"""git sources: refs resolved like git does, no metadata in the tree, actionable errors."""
import os

import pytest

from chalicelib.build import sources
from chalicelib.build.sources.git import network_reason, pick_ref
from tests.support.builds import free_port, tree_listing


def _fetch(source, dest, **kwargs):
    return tree_listing(sources.fetch(source, dest, **kwargs))


@pytest.mark.parametrize("ref, app, has_feature", [
    ("v1", b"one\n", False),                 # annotated tag
    ("v2", b"two\n", False),                 # lightweight tag
    ("feature", b"two\n", True),             # branch
    ("refs/tags/v1", b"one\n", False),       # full ref
    (None, b"two\n", False),                 # HEAD
])
def test_git_checks_out_the_ref_without_metadata(git_repo, dest, ref, app, has_feature):
    got = _fetch({"type": "git", "url": git_repo.as_uri(), "ref": ref}, dest)
    assert got["app.txt"] == app
    assert ("feature.txt" in got) is has_feature
    assert got["link"] == "-> app.txt"
    assert not any(name.startswith(".git/") or name == ".git" for name in got)
    assert ".gitignore" in got
    assert os.access(dest / "bin" / "run", os.X_OK)
    assert not os.access(dest / "app.txt", os.X_OK)


def test_git_missing_ref_names_the_ref_and_the_repository(git_repo, dest):
    with pytest.raises(sources.SourceError) as err:
        sources.fetch({"type": "git", "url": git_repo.as_uri(), "ref": "v9"}, dest)
    assert str(err.value) == f"git ref 'v9' not found in {git_repo.as_uri()}"
    assert not err.value.retryable


def test_git_unreachable_host_is_retryable(dest):
    url = f"http://127.0.0.1:{free_port()}/repo.git"
    with pytest.raises(sources.SourceError, match="could not connect to 127.0.0.1") as err:
        sources.fetch({"type": "git", "url": url, "ref": "v1"}, dest, timeout=5)
    assert err.value.retryable


def test_git_path_that_is_no_repository(tmp_path, dest):
    with pytest.raises(sources.SourceError, match="is not a git repository"):
        sources.fetch({"type": "git", "url": (tmp_path / "nope").as_uri()}, dest)


def test_git_source_larger_than_the_budget_is_refused(git_repo, dest):
    with pytest.raises(sources.SourceError, match="larger than the 5-byte limit"):
        sources.fetch({"type": "git", "url": git_repo.as_uri(), "ref": "v1"}, dest, max_bytes=5)


# --- pick_ref: git's lookup order over the advertised refs -----------------------------------

REFS = {b"HEAD": b"a" * 40, b"refs/heads/main": b"a" * 40, b"refs/heads/v1": b"b" * 40,
        b"refs/tags/v1": b"c" * 40, b"refs/tags/v1^{}": b"d" * 40, b"refs/pull/1": None}


@pytest.mark.parametrize("ref, sha", [
    (None, "a" * 40),                    # HEAD when no ref
    ("", "a" * 40),
    ("refs/heads/v1", "b" * 40),         # a full ref as given
    ("v1", "c" * 40),                    # refs/tags/ before refs/heads/, as git does
    ("main", "a" * 40),                  # a branch
    ("E" * 40, "e" * 40),                # a commit sha not advertised: asked for as is
    ("nope", None),
    ("pull/1", None),                    # a ref without a value is no ref
])
def test_pick_ref_follows_gits_order(ref, sha):
    assert pick_ref(REFS, ref) == sha


def test_network_reason_is_the_errno_at_the_heart_of_a_retry_message():
    text = ("HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: /x "
            "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection>: Failed to "
            "establish a new connection: [Errno 111] Connection refused'))")
    assert network_reason(text) == "[Errno 111] Connection refused"
    assert network_reason("something else") == "something else"
