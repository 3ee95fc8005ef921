"""svn sources: ``svn export`` of a revision, a clear failure without the binary, svn's errors."""
import shutil
import subprocess

import pytest

from chalicelib.build import sources
from chalicelib.build.sources.svn import export_error
from tests.support.builds import tree_listing


def test_svn_missing_binary_is_a_clear_failure(dest, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(sources.SourceError, match="^svn not available on this builder$"):
        sources.fetch({"type": "svn", "url": "svn://example.com/repo/tags/1.0"}, dest)


@pytest.mark.skipif(shutil.which("svn") is None or shutil.which("svnadmin") is None,
                    reason="subversion is not installed (CI installs it with apt)")
def test_svn_export_of_a_revision_strips_metadata(tmp_path, dest):
    repo = tmp_path / "svnrepo"
    subprocess.run(["svnadmin", "create", str(repo)], check=True)
    work = tmp_path / "import"
    work.mkdir()
    (work / "app.txt").write_text("one\n")
    url = repo.as_uri()
    subprocess.run(["svn", "import", "-q", "-m", "r1", str(work), url + "/trunk"], check=True)
    got = tree_listing(sources.fetch({"type": "svn", "url": url + "/trunk", "ref": "1"}, dest))
    assert got == {"app.txt": b"one\n"}
    with pytest.raises(sources.SourceError, match="svn could not find"):
        sources.fetch({"type": "svn", "url": url + "/tags/nope"}, dest)


@pytest.mark.parametrize("stderr, ref, message, retryable", [
    ("svn: E170001: Authentication failed", None, "authentication failed for svn://h/r", False),
    ("svn: E170000: URL 'svn://h/r' doesn't exist", "7",
     "svn could not find revision '7' of svn://h/r: svn: E170000: URL 'svn://h/r' doesn't exist",
     False),
    ("svn: E000111: Can't connect to host 'h': Connection refused", None,
     "could not connect to svn://h/r: svn: E000111: Can't connect to host 'h': Connection refused",
     True),
    ("", None, "svn export of svn://h/r failed: no error output", False),
])
def test_export_error_reads_svns_error_codes(stderr, ref, message, retryable):
    error = export_error(stderr, "svn://h/r", ref)
    assert (str(error), error.retryable) == (message, retryable)
