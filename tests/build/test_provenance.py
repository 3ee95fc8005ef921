"""Provenance: what each source resolved to, the REVISION file, and the commits between releases.

Builds go through the SQS build worker against moto, from a git repository served over smart
HTTP (``git_http_server``), svn ``file://``, a local HTTP server and an S3 bucket.
"""
import contextlib
import http.server
import io
import subprocess
import shutil
import tarfile
import threading

import pytest

from chalicelib import config
from chalicelib.build import releases, worker
from chalicelib.models import Release
from chalicelib.states import ReleaseState
from tests.support.builds import aws_env, git_http_server  # noqa: F401 (fixture)

BASE_TIME = 1_700_000_000


class History:
    """A git repository written object by object (fast: no index, no work tree)."""

    def __init__(self, path):
        from dulwich.repo import Repo
        self.repo = Repo.init_bare(str(path), mkdir=True)
        self.clock = BASE_TIME

    def commit(self, subject, parents=(), author="Ann Author", files=None):
        from dulwich.objects import Blob, Commit, Tree
        store, tree = self.repo.object_store, Tree()
        for name, data in (files or {"app.txt": subject.encode() + b"\n"}).items():
            blob = Blob.from_string(data)
            store.add_object(blob)
            tree.add(name.encode(), 0o100644, blob.id)
        store.add_object(tree)
        self.clock += 60
        commit = Commit()
        commit.tree, commit.parents = tree.id, [p.encode() for p in parents]
        email = f"{author.split()[0].lower()}@example.com"
        commit.author = commit.committer = f"{author} <{email}>".encode()
        commit.author_time = commit.commit_time = self.clock
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"{subject}\n\nthe body of {subject}\n".encode()
        store.add_object(commit)
        return commit.id.decode()

    def chain(self, parent, subjects, author="Ann Author"):
        shas = []
        for subject in subjects:
            parent = self.commit(subject, [parent] if parent else [], author)
            shas.append(parent)
        return shas

    def point(self, ref, sha):
        self.repo.refs[ref.encode()] = sha.encode()
        if ref == "refs/heads/main":
            self.repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")


def _build(project, version, source):
    Release(project, version, state=ReleaseState.QUEUED, source=source, build_id="b-1").save()
    worker.handle_build_message({"project": project, "version": version, "build_id": "b-1"})
    release = releases.get(project, version)
    assert release.state == ReleaseState.READY, release.error
    return release


def _tarball(aws, release):
    body = aws.client("s3").get_object(Bucket=config.release_bucket(),
                                       Key=release.s3_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_git_releases_record_their_commit_and_exactly_the_commits_between_two_tags(
        aws_env, tmp_path):
    history = History(tmp_path / "repo.git")
    first = history.commit("first release")
    fix, feature, bump = history.chain(first, ["fix the login", "add search", "release 2"])
    history.repo.refs[b"refs/heads/other"] = history.commit("elsewhere", [first]).encode()
    history.point("refs/tags/v1", first)
    history.point("refs/tags/v2", bump)
    history.point("refs/heads/main", history.chain(bump, ["after v2"])[0])
    with git_http_server(tmp_path / "repo.git") as url:
        one = _build("web", "1.0", {"type": "git", "url": url, "ref": "v1"})
        two = _build("web", "1.1", {"type": "git", "url": url, "ref": "v2"})
    assert one.provenance == {
        "type": "git", "url": url, "ref": "v1", "revision": first, "commit": first,
        "subject": "first release", "author": "Ann Author", "date": "2023-11-14T22:14:20Z"}
    changes = two.provenance["changes"]
    assert [(c["sha"], c["subject"], c["author"]) for c in changes["commits"]] == [
        (bump, "release 2", "Ann Author"), (feature, "add search", "Ann Author"),
        (fix, "fix the login", "Ann Author")]
    assert (changes["total"], changes["truncated"], changes["previous_version"],
            changes["previous_commit"]) == (3, False, "1.0", first)
    files = _tarball(aws_env, two)
    lines = files["REVISION"].decode().splitlines()
    assert lines[0] == bump and f"commit: {bump}" in lines and "ref: v2" in lines
    assert files["app.txt"] == b"release 2\n"


def test_authors_are_listed_per_commit_newest_first(aws_env, tmp_path):
    history = History(tmp_path / "repo.git")
    base = history.commit("base")
    alice = history.commit("alice's change", [base], author="Alice Liddell")
    bob = history.commit("bob's change", [alice], author="Bob Builder")
    history.point("refs/tags/v1", base)
    history.point("refs/tags/v2", bob)
    url = (tmp_path / "repo.git").as_uri()
    _build("web", "1.0", {"type": "git", "url": url, "ref": "v1"})
    two = _build("web", "2.0", {"type": "git", "url": url, "ref": "v2"})
    assert [(c["subject"], c["author"]) for c in two.provenance["changes"]["commits"]] == [
        ("bob's change", "Bob Builder"), ("alice's change", "Alice Liddell")]


def test_more_than_100_commits_lists_the_newest_100_and_counts_them_all(aws_env, tmp_path):
    history = History(tmp_path / "repo.git")
    base = history.commit("base")
    shas = history.chain(base, [f"change {n}" for n in range(130)])
    history.point("refs/tags/v1", base)
    history.point("refs/tags/v2", shas[-1])
    with git_http_server(tmp_path / "repo.git") as url:
        _build("web", "1.0", {"type": "git", "url": url, "ref": "v1"})
        two = _build("web", "1.1", {"type": "git", "url": url, "ref": "v2"})
    changes = two.provenance["changes"]
    assert (changes["total"], changes["truncated"], len(changes["commits"])) == (130, True, 100)
    assert changes["commits"][0]["subject"] == "change 129"
    assert changes["commits"][-1]["subject"] == "change 30"


def test_a_force_pushed_branch_says_the_changes_are_unknown(aws_env, tmp_path):
    history = History(tmp_path / "repo.git")
    base = history.commit("base")
    old = history.chain(base, ["wip 1", "wip 2"])[-1]
    history.point("refs/heads/main", old)
    url = (tmp_path / "repo.git").as_uri()
    _build("web", "1.0", {"type": "git", "url": url, "ref": "main"})
    rewritten = history.chain(base, ["clean 1"])[-1]
    history.point("refs/heads/main", rewritten)  # git push --force
    two = _build("web", "1.1", {"type": "git", "url": url, "ref": "main"})
    assert two.provenance["commit"] == rewritten
    assert two.provenance["changes"] == {
        "previous_version": "1.0", "previous_commit": old,
        "changes_unknown": f"previous commit {old[:12]} is not an ancestor of {rewritten[:12]}"}


def test_history_is_deepened_only_as_far_as_the_depth_limit(aws_env, tmp_path, monkeypatch):
    monkeypatch.setenv("FABU_GIT_HISTORY_DEPTH", "20")
    history = History(tmp_path / "repo.git")
    base = history.commit("base")
    shas = history.chain(base, [f"change {n}" for n in range(30)])
    history.point("refs/tags/v1", base)
    history.point("refs/tags/v2", shas[-1])
    url = (tmp_path / "repo.git").as_uri()
    _build("web", "1.0", {"type": "git", "url": url, "ref": "v1"})
    two = _build("web", "1.1", {"type": "git", "url": url, "ref": "v2"})
    assert two.provenance["changes"]["changes_unknown"] == (
        f"previous commit {base[:12]} is not among the 20 newest commits of {shas[-1][:12]} "
        "(FABU_GIT_HISTORY_DEPTH)")


def test_the_sources_own_revision_file_is_replaced_and_the_tarball_stays_reproducible(
        aws_env, tmp_path):
    history = History(tmp_path / "repo.git")
    sha = history.commit("with a REVISION", files={"REVISION": b"theirs\n", "a.txt": b"a\n"})
    history.point("refs/heads/main", sha)
    source = {"type": "git", "url": (tmp_path / "repo.git").as_uri()}
    one, other = _build("web", "1.0", source), _build("api", "3.0", source)
    assert _tarball(aws_env, one)["REVISION"].decode().splitlines()[0] == sha
    assert one.provenance["note"] == "the source's own REVISION file was replaced by fabu's"
    assert one.sha256 == other.sha256  # no project, version or build time in REVISION


@pytest.mark.skipif(shutil.which("svnadmin") is None, reason="subversion is not installed")
def test_svn_records_the_revision_it_exported(aws_env, tmp_path):
    repo = tmp_path / "svnrepo"
    subprocess.run(["svnadmin", "create", str(repo)], check=True)
    work = tmp_path / "import"
    work.mkdir()
    (work / "app.txt").write_text("one\n")
    url = repo.as_uri() + "/trunk"
    subprocess.run(["svn", "import", "-q", "-m", "r1", str(work), url], check=True)
    subprocess.run(["svn", "mkdir", "-q", "-m", "r2", repo.as_uri() + "/branches"], check=True)
    release = _build("web", "1.0", {"type": "svn", "url": url})
    prov = release.provenance
    assert (prov["type"], prov["url"], prov["revision"], prov["last_changed_revision"]) == (
        "svn", url, "2", "1")
    assert _tarball(aws_env, release)["REVISION"].decode().splitlines()[0] == "2"
    pinned = _build("web", "1.1", {"type": "svn", "url": url, "ref": "1"})
    assert (pinned.provenance["revision"], pinned.provenance["ref"]) == ("1", "1")


@contextlib.contextmanager
def _etag_server(body, etag, modified):
    """``/latest?token=…`` redirects to ``/app-2.0.jar``, which has an ETag and Last-Modified."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/latest"):
                self.send_response(302)
                self.send_header("Location", "/app-2.0.jar?sig=secret-signature")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_records_the_final_urls_etag_and_last_modified(aws_env):
    modified = "Tue, 14 Nov 2023 22:13:20 GMT"
    with _etag_server(b"jar bytes", '"abc-123"', modified) as base:
        release = _build("web", "1.0", {"type": "http", "url": f"{base}/latest?token=t0ps3cret"})
    assert release.provenance == {"type": "http", "url": f"{base}/app-2.0.jar",
                                  "etag": '"abc-123"', "last_modified": modified,
                                  "revision": '"abc-123"'}
    files = _tarball(aws_env, release)
    assert files["latest"] == b"jar bytes"  # named after the URL asked for
    assert files["REVISION"].decode().splitlines()[0] == '"abc-123"'
    assert "secret" not in files["REVISION"].decode() and "t0ps3cret" not in str(release.provenance)


def test_s3_records_the_objects_etag_and_version(aws_env):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="artifacts")
    s3.put_bucket_versioning(Bucket="artifacts", VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket="artifacts", Key="app/app.jar", Body=b"jar")
    release = _build("web", "1.0", {"type": "s3", "url": "s3://artifacts/app/app.jar"})
    assert release.provenance == {"type": "s3", "url": "s3://artifacts/app/app.jar",
                                  "etag": put["ETag"].strip('"'), "version_id": put["VersionId"],
                                  "revision": put["VersionId"]}
