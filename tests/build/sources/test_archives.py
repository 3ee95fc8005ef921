"""A single downloaded file: archives unpacked safely (from their top directory), others kept."""
import io
import os
import tarfile
import zipfile

import pytest

from chalicelib.build.sources import archives
from chalicelib.build.sources.base import Budget, SourceError
from tests.support.builds import archive_site, tree_listing


def _materialise(path, dest, name=None, max_bytes=None):
    archives.materialise(path, name or path.name, dest, Budget(max_bytes))
    return tree_listing(dest)


def test_a_plain_file_is_moved_in_under_its_name(tmp_path, dest):
    site = archive_site(tmp_path)
    assert _materialise(site / "app.jar", dest) == {"app.jar": b"jar bytes"}
    assert not (site / "app.jar").exists()


def test_a_tarball_with_one_top_directory_is_unpacked_from_inside_it(tmp_path, dest):
    got = _materialise(archive_site(tmp_path) / "app-1.0.tar.gz", dest)
    assert got == {"README": b"readme\n", "bin": "/", "bin/start": b"#!/bin/sh\n"}
    assert not list(dest.parent.glob("fabu-*")), "the staging dir is removed"


def test_a_zip_keeps_its_layout_and_executable_bits(tmp_path, dest):
    path = tmp_path / "tools.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "r\n")
        info = zipfile.ZipInfo("bin/run")
        info.external_attr = 0o100755 << 16
        zf.writestr(info, "#!/bin/sh\n")
    got = _materialise(path, dest)
    assert got == {"bin": "/", "bin/run": b"#!/bin/sh\n", "readme.txt": b"r\n"}
    assert os.access(dest / "bin" / "run", os.X_OK)
    assert not os.access(dest / "readme.txt", os.X_OK)


@pytest.mark.parametrize("name", ["evil.tgz", "evil-link.tgz", "evil.zip"])
def test_entries_leaving_the_tree_are_refused(tmp_path, dest, name):
    with pytest.raises(SourceError, match=f"^archive {name} has an unsafe entry"):
        _materialise(archive_site(tmp_path) / name, dest)
    assert not (dest.parent / "escape.txt").exists()


def test_a_zip_symlink_pointing_outside_is_refused(tmp_path, dest):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("dir/up")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../etc/passwd")
    with pytest.raises(SourceError) as err:
        _materialise(path, dest)
    assert str(err.value) == ("archive link.zip has an unsafe entry: 'dir/up' is a symbolic link "
                              "(zip archives may not contain links; use a tar archive)")


def _symlink_chain(kind, path):
    """``a -> .``, ``c -> a/..`` (textually ".", really the parent), then ``c/ESCAPED``."""
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            for name, target in (("a", "."), ("c", "a/..")):
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o120777 << 16
                zf.writestr(info, target)
            zf.writestr("c/ESCAPED", "evil")
        return
    with tarfile.open(path, "w:gz") as tar:
        for name, target in (("a", "."), ("c", "a/..")):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        info = tarfile.TarInfo("c/ESCAPED")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))


def _written_outside(tmp_path, dest):
    """Every path under tmp_path outside the scratch tree's own directory, but the archive."""
    return sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                  if dest.parent not in p.parents and p != dest.parent and p.suffix not in (".zip", ".tgz"))


@pytest.mark.parametrize("kind, message", [
    ("zip", "archive chain.zip has an unsafe entry: 'a' is a symbolic link"),
    ("tgz", "archive chain.tgz has an unsafe entry: 'c' would link to"),  # tar's "data" filter
])
def test_a_symlink_chain_cannot_write_outside_the_scratch_dir(tmp_path, dest, kind, message):
    path = tmp_path / f"chain.{kind}"
    _symlink_chain(kind, path)
    with pytest.raises(SourceError) as err:
        _materialise(path, dest)
    assert str(err.value).startswith(message)
    assert not list(tmp_path.rglob("ESCAPED"))
    assert _written_outside(tmp_path, dest) == []
    assert tree_listing(dest) == {}


def test_a_tar_link_chain_longer_than_path_max_cannot_write_outside(tmp_path, dest):
    """The chain that fools the "data" filter of Pythons before 3.11.13 (CVE-2025-4517): its
    realpath() gives up past PATH_MAX, so the link looks inside; no write goes through a link."""
    path = tmp_path / "deep.tar"
    component, steps, prefix = "d" * 247, "abcdefghijklmnop", ""
    with tarfile.open(path, "w") as tar:
        for step in steps:
            info = tarfile.TarInfo(os.path.join(prefix, component))
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            info = tarfile.TarInfo(os.path.join(prefix, step))
            info.type, info.linkname = tarfile.SYMTYPE, component
            tar.addfile(info)
            prefix = os.path.join(prefix, component)
        deep = os.path.join("/".join(steps), "l" * 254)
        info = tarfile.TarInfo(deep)
        info.type, info.linkname = tarfile.SYMTYPE, "../" * len(steps)
        tar.addfile(info)
        info = tarfile.TarInfo("escape")
        info.type, info.linkname = tarfile.SYMTYPE, deep + "/../../"
        tar.addfile(info)
        info = tarfile.TarInfo("escape/ESCAPED")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(SourceError) as err:
        _materialise(path, dest)
    assert str(err.value).startswith("archive deep.tar has an unsafe entry: 'a/b/c/d/")
    assert str(err.value).endswith("' would be written through the symbolic link 'a'")
    assert len(str(err.value)) < 300
    assert not list(tmp_path.rglob("ESCAPED"))
    assert not (tmp_path.parent / "ESCAPED").exists()


def test_a_tar_hard_link_through_an_earlier_symlink_is_refused(tmp_path, dest):
    path = tmp_path / "hard.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("dir")
        info.type, info.linkname = tarfile.SYMTYPE, "."
        tar.addfile(info)
        info = tarfile.TarInfo("copy")
        info.type, info.linkname = tarfile.LNKTYPE, "dir/other"
        tar.addfile(info)
    with pytest.raises(SourceError, match="would be written through the symbolic link 'dir'"):
        _materialise(path, dest)


def test_what_an_archive_unpacks_to_counts_against_the_budget(tmp_path, dest):
    path = tmp_path / "big.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = 1000
        tar.addfile(info, io.BytesIO(b"\0" * 1000))
    with pytest.raises(SourceError, match="larger than the 999-byte limit"):
        _materialise(path, dest, max_bytes=999)


def test_a_corrupt_archive_says_so(tmp_path, dest):
    path = tmp_path / "broken.tgz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(SourceError, match="^broken.tgz is not a readable tar archive"):
        _materialise(path, dest)
    path = tmp_path / "broken.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(SourceError, match="^broken.zip is not a readable zip archive"):
        _materialise(path, dest)


@pytest.mark.parametrize("rel", ["/etc/passwd", "\\windows", "c:/x", "a/../../b", ".."])
def test_safe_join_refuses_paths_leaving_the_root(tmp_path, rel):
    with pytest.raises(SourceError, match="^the source has an unsafe entry"):
        archives.safe_join(tmp_path, rel)


def test_safe_join_drops_empty_and_dot_components(tmp_path):
    assert archives.safe_join(tmp_path, "./a//b/./c") == tmp_path / "a" / "b" / "c"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b"])
def test_a_download_name_must_be_a_plain_file_name(name):
    with pytest.raises(SourceError, match="unsafe file name"):
        archives.check_name(name)
