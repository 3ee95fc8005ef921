"""Fetching sources: git over file://, HTTP, FTP, svn, S3; safe archives; actionable errors."""
import io
import json
import os
import shutil
import subprocess
import tarfile
import zipfile

import pytest

from chalicelib import secrets
from chalicelib.build import sources
from tests.support.builds import (aws_env, free_port, ftp_server, http_server,  # noqa: F401
                                   make_git_repo, tree_listing)


@pytest.fixture(scope="module")
def git_repo(tmp_path_factory):
    return make_git_repo(tmp_path_factory.mktemp("git"))


@pytest.fixture
def dest(tmp_path):
    path = tmp_path / "scratch" / "tree"
    path.mkdir(parents=True)
    return path


def _fetch(source, dest, **kwargs):
    return tree_listing(sources.fetch(source, dest, **kwargs))


# --- git -------------------------------------------------------------------------------------

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


# --- http ------------------------------------------------------------------------------------

def _archive_dir(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "app.jar").write_bytes(b"jar bytes")
    with tarfile.open(site / "app-1.0.tar.gz", "w:gz") as tar:
        for name, data in (("app-1.0/README", b"readme\n"), ("app-1.0/bin/start", b"#!/bin/sh\n")):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(site / "app.zip", "w") as zf:
        zf.writestr("a.txt", "a\n")
        zf.writestr("dir/b.txt", "b\n")
    with tarfile.open(site / "evil.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with tarfile.open(site / "evil-link.tgz", "w:gz") as tar:
        info = tarfile.TarInfo("passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    with zipfile.ZipFile(site / "evil.zip", "w") as zf:
        zf.writestr("../escape.txt", "evil")
    return site


def test_http_single_file_keeps_its_name(tmp_path, dest):
    with http_server(_archive_dir(tmp_path)) as base:
        assert _fetch({"type": "http", "url": base + "/app.jar"}, dest) == {"app.jar": b"jar bytes"}


def test_http_tarball_is_unpacked_from_its_top_directory(tmp_path, dest):
    with http_server(_archive_dir(tmp_path)) as base:
        got = _fetch({"type": "http", "url": base + "/app-1.0.tar.gz"}, dest)
    assert got == {"README": b"readme\n", "bin": "/", "bin/start": b"#!/bin/sh\n"}
    assert not list(dest.parent.glob("fabu-*")), "temporary download dirs are cleaned up"


def test_http_zip_is_unpacked(tmp_path, dest):
    with http_server(_archive_dir(tmp_path)) as base:
        got = _fetch({"type": "http", "url": base + "/app.zip"}, dest)
    assert got == {"a.txt": b"a\n", "dir": "/", "dir/b.txt": b"b\n"}


@pytest.mark.parametrize("name", ["evil.tgz", "evil-link.tgz", "evil.zip"])
def test_http_archive_escaping_the_tree_is_refused(tmp_path, dest, name):
    with http_server(_archive_dir(tmp_path)) as base:
        with pytest.raises(sources.SourceError, match=f"archive {name} has an unsafe entry"):
            sources.fetch({"type": "http", "url": f"{base}/{name}"}, dest)
    assert not (tmp_path / "escape.txt").exists()
    assert not (dest.parent / "escape.txt").exists()


def test_http_not_found_and_unreachable(tmp_path, dest):
    with http_server(_archive_dir(tmp_path)) as base:
        with pytest.raises(sources.SourceError, match=r"not found \(HTTP 404\)") as err:
            sources.fetch({"type": "http", "url": base + "/missing.tgz"}, dest)
        assert not err.value.retryable
    port = free_port()
    with pytest.raises(sources.SourceError, match=f"could not connect to 127.0.0.1:{port}") as err:
        sources.fetch({"type": "http", "url": f"http://127.0.0.1:{port}/x.tgz"}, dest, timeout=5)
    assert err.value.retryable


def test_http_oversized_source_is_refused(tmp_path, dest):
    site = _archive_dir(tmp_path)
    (site / "big.bin").write_bytes(b"x" * 50_000)
    with http_server(site) as base:
        with pytest.raises(sources.SourceError, match="larger than the 10000-byte limit"):
            sources.fetch({"type": "http", "url": base + "/big.bin"}, dest, max_bytes=10_000)


def test_http_credentials_come_from_ssm_and_never_show(tmp_path, dest, aws_env):
    aws_env.client("ssm").put_parameter(
        Name="/fabu/http", Type="SecureString",
        Value=json.dumps({"username": "ci", "password": "hunter2"}))
    with http_server(_archive_dir(tmp_path), auth=("ci", "hunter2")) as base:
        with pytest.raises(sources.SourceError, match="authentication failed") as err:
            sources.fetch({"type": "http", "url": base + "/app.jar"}, dest)
        got = _fetch({"type": "http", "url": base + "/app.jar", "credentials": "ssm:/fabu/http"},
                     dest)
    assert got == {"app.jar": b"jar bytes"}
    assert "hunter2" not in str(err.value)


def test_inline_password_in_the_url_is_refused(dest):
    with pytest.raises(sources.SourceError, match="source.credentials"):
        sources.fetch({"type": "http", "url": "https://ci:hunter2@example.com/a.tgz"}, dest)


# --- secrets ---------------------------------------------------------------------------------

def test_secrets_manager_token_and_missing_reference(aws_env):
    aws_env.client("secretsmanager").create_secret(Name="fabu/git", SecretString="tok-123")
    creds = secrets.resolve_credentials("secretsmanager:fabu/git")
    assert (creds.username, creds.password) == (None, "tok-123")
    assert "tok-123" not in repr(creds)
    with pytest.raises(secrets.SecretError, match="'ssm:/nope' does not exist"):
        secrets.resolve("ssm:/nope")
    with pytest.raises(secrets.SecretError, match="not an inline value"):
        secrets.resolve("hunter2")


# --- ftp -------------------------------------------------------------------------------------

@pytest.fixture
def ftp_root(tmp_path):
    root = tmp_path / "ftp"
    (root / "release" / "conf").mkdir(parents=True)
    (root / "release" / "app.bin").write_bytes(b"\x00\x01binary")
    (root / "release" / "conf" / "app.ini").write_text("[app]\n")
    return root


@pytest.fixture
def ftp_creds(aws_env):
    aws_env.client("ssm").put_parameter(
        Name="/fabu/ftp", Type="SecureString",
        Value=json.dumps({"username": "deploy", "password": "s3cret"}))
    return "ssm:/fabu/ftp"


def test_ftp_directory_tree(ftp_root, dest, ftp_creds):
    with ftp_server(ftp_root) as base:
        got = _fetch({"type": "ftp", "url": base + "/release", "credentials": ftp_creds}, dest)
    assert got == {"app.bin": b"\x00\x01binary", "conf": "/", "conf/app.ini": b"[app]\n"}


def test_ftp_single_file(ftp_root, dest, ftp_creds):
    with ftp_server(ftp_root) as base:
        got = _fetch({"type": "ftp", "url": base + "/release/app.bin", "credentials": ftp_creds},
                     dest)
    assert got == {"app.bin": b"\x00\x01binary"}


def test_ftp_wrong_password_and_unreachable_server(ftp_root, dest, aws_env):
    aws_env.client("ssm").put_parameter(Name="/fabu/bad", Type="SecureString",
                                        Value=json.dumps({"username": "deploy", "password": "no"}))
    with ftp_server(ftp_root) as base:
        with pytest.raises(sources.SourceError, match="authentication failed for ftp://127.0.0.1"):
            sources.fetch({"type": "ftp", "url": base + "/release", "credentials": "ssm:/fabu/bad"},
                          dest)
    port = free_port()
    with pytest.raises(sources.SourceError, match=f"could not connect to 127.0.0.1:{port}") as err:
        sources.fetch({"type": "ftp", "url": f"ftp://127.0.0.1:{port}/x"}, dest, timeout=5)
    assert err.value.retryable


# --- s3 --------------------------------------------------------------------------------------

def test_s3_object_and_prefix(aws_env, dest, tmp_path):
    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="ci-output")
    s3.put_object(Bucket="ci-output", Key="builds/7/app.jar", Body=b"jar")
    s3.put_object(Bucket="ci-output", Key="builds/7/conf/app.ini", Body=b"ini")
    assert _fetch({"type": "s3", "url": "s3://ci-output/builds/7/app.jar"}, dest) == {"app.jar": b"jar"}
    other = tmp_path / "other"
    other.mkdir()
    assert _fetch({"type": "s3", "url": "s3://ci-output/builds/7/"}, other) == {
        "app.jar": b"jar", "conf": "/", "conf/app.ini": b"ini"}
    with pytest.raises(sources.SourceError, match="nothing found at s3://ci-output/builds/8"):
        sources.fetch({"type": "s3", "url": "s3://ci-output/builds/8"}, tmp_path / "x")


# --- svn -------------------------------------------------------------------------------------

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
    got = _fetch({"type": "svn", "url": url + "/trunk", "ref": "1"}, dest)
    assert got == {"app.txt": b"one\n"}
    with pytest.raises(sources.SourceError, match="svn could not find"):
        sources.fetch({"type": "svn", "url": url + "/tags/nope"}, dest)
