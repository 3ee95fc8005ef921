"""Reproducible tarballs: same tree → same bytes, normalised metadata, bounded S3 streaming."""
import gzip
import hashlib
import io
import os
import subprocess
import tarfile

import pytest

from chalicelib import config
from chalicelib.build import packaging
from tests.support.builds import aws_env, tree_listing  # noqa: F401 (fixture)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    (root / "src" / "lib").mkdir(parents=True)
    (root / "src" / "lib" / "b.py").write_text("b = 2\n")
    (root / "src" / "a.py").write_text("a = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o750)
    (root / "secret.txt").write_text("mode 600 on disk\n")
    (root / "secret.txt").chmod(0o600)
    (root / "empty").mkdir()
    os.symlink("src/a.py", root / "current")
    for vcs in (".git", ".svn", ".hg", "CVS"):
        (root / vcs).mkdir()
        (root / vcs / "config").write_text("vcs metadata\n")
    (root / "src" / ".git").mkdir()
    (root / "src" / ".git" / "HEAD").write_text("ref\n")
    return root


def _tgz(tree, **kwargs):
    out = io.BytesIO()
    digest, size = packaging.write_tarball(tree, out, **kwargs)
    return out.getvalue(), digest, size


def test_same_tree_gives_same_bytes_whatever_the_file_metadata(tree):
    first, digest, size = _tgz(tree)
    for path in tree.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_700_000_000, 1_700_000_000))
    (tree / "src" / "a.py").chmod(0o664)
    second, digest2, _ = _tgz(tree)
    assert first == second
    assert digest == digest2 == hashlib.sha256(first).hexdigest()
    assert size == len(first)


def test_entries_are_sorted_normalised_and_free_of_vcs_metadata(tree):
    data, _, _ = _tgz(tree)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == ["current", "empty", "run.sh", "secret.txt", "src", "src/a.py",
                     "src/lib", "src/lib/b.py"]
    by_name = {m.name: m for m in members}
    assert all((m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 0) for m in members)
    assert by_name["run.sh"].mode == 0o755
    assert by_name["secret.txt"].mode == 0o644
    assert by_name["src"].isdir() and by_name["src"].mode == 0o755
    assert by_name["current"].issym() and by_name["current"].linkname == "src/a.py"


def test_gzip_header_has_no_timestamp_and_source_date_epoch_sets_mtimes(tree):
    data, _, _ = _tgz(tree, mtime=1_600_000_000)
    assert data[4:8] == b"\0\0\0\0"  # gzip MTIME field
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1_600_000_000}


def test_gnu_tar_unpacks_the_same_tree(tree, tmp_path):
    data, _, _ = _tgz(tree)
    (tmp_path / "r.tgz").write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "xzf", str(tmp_path / "r.tgz"), "-C", str(out)], check=True)
    expected = {k: v for k, v in tree_listing(tree).items()
                if not any(part in packaging.VCS_DIRS for part in k.split("/"))}
    assert tree_listing(out) == expected


def test_too_large_output_stops_while_streaming(tree):
    (tree / "noise.bin").write_bytes(os.urandom(200_000))
    with pytest.raises(packaging.PackageTooLarge, match="100000-byte limit"):
        _tgz(tree, max_bytes=100_000)


def test_small_tarball_is_stored_with_its_sha256(tree, aws_env):
    bucket = config.release_bucket()
    artifact = packaging.build_tarball(tree, bucket=bucket, key="releases/p/1.tgz",
                                       max_bytes=10_000_000)
    body = aws_env.client("s3").get_object(Bucket=bucket, Key="releases/p/1.tgz")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == artifact.sha256
    assert artifact.size == len(body)
    assert body == _tgz(tree)[0]


def test_large_tarball_goes_up_in_parts(tree, aws_env, monkeypatch):
    monkeypatch.setattr(packaging, "PART_SIZE", 5 * 1024 * 1024)  # S3's minimum part size
    (tree / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    bucket = config.release_bucket()
    artifact = packaging.build_tarball(tree, bucket=bucket, key="releases/p/big.tgz",
                                       max_bytes=50_000_000)
    s3 = aws_env.client("s3")
    body = s3.get_object(Bucket=bucket, Key="releases/p/big.tgz")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == artifact.sha256
    assert s3.head_object(Bucket=bucket, Key="releases/p/big.tgz")["ETag"].endswith('-3"')
    with gzip.open(io.BytesIO(body)) as gz, tarfile.open(fileobj=gz, mode="r|") as tar:
        assert "big.bin" in [m.name for m in tar]


def test_oversized_upload_is_aborted_and_leaves_nothing(tree, aws_env, monkeypatch):
    monkeypatch.setattr(packaging, "PART_SIZE", 5 * 1024 * 1024)
    (tree / "big.bin").write_bytes(os.urandom(12 * 1024 * 1024))
    bucket = config.release_bucket()
    with pytest.raises(packaging.PackageTooLarge):
        packaging.build_tarball(tree, bucket=bucket, key="releases/p/big.tgz",
                                max_bytes=7 * 1024 * 1024)
    s3 = aws_env.client("s3")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


@pytest.mark.parametrize("announced, ok", [("right", True), ("wrong", False)])
def test_verify_uploaded_checks_the_announced_sha256(aws_env, announced, ok):
    bucket = config.release_bucket()
    aws_env.client("s3").put_object(Bucket=bucket, Key="k.tgz", Body=b"tarball bytes")
    right = hashlib.sha256(b"tarball bytes").hexdigest()
    sha = right if announced == "right" else hashlib.sha256(b"other").hexdigest()
    if ok:
        assert packaging.verify_uploaded(bucket, "k.tgz", sha, 1000).size == 13
    else:
        with pytest.raises(packaging.ChecksumMismatch, match=right):
            packaging.verify_uploaded(bucket, "k.tgz", sha, 1000)


def test_verify_uploaded_refuses_an_oversized_object(aws_env):
    bucket = config.release_bucket()
    aws_env.client("s3").put_object(Bucket=bucket, Key="k.tgz", Body=b"x" * 2000)
    with pytest.raises(packaging.PackageTooLarge):
        packaging.verify_uploaded(bucket, "k.tgz", "0" * 64, 1000)
