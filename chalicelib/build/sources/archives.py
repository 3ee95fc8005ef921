"""Materialise one downloaded file: unpack a tar or zip archive safely, or keep the file as is.

A single file named ``*.tar.gz``, ``*.tgz``, ``*.tar`` or ``*.zip`` is unpacked (no absolute
paths, no ``..``, no links leaving the tree, no devices); an archive holding one top-level
directory is unpacked from inside it, like the archives code forges publish. Any other file is
moved into the tree under its own name. Downloads land in a ``download_slot`` next to the tree,
never inside it, and are removed afterwards.

Symbolic links are where textual checks fail (``a -> .``, ``c -> a/..``, then ``c/ESCAPED``
lands outside), so: a zip may hold no symlink at all; a tar goes through the stdlib ``data``
filter and, before each member is written, a check on the disk as it is then: no member may be
written at or through a symlink an earlier member made, and a hard link's target must be a
regular file reached without one (the ``data`` filter alone can be fooled on Pythons before
3.11.13/3.12.11 by a chain longer than PATH_MAX).
"""
import contextlib
import gzip
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

from chalicelib.build.sources.base import CHUNK, Budget, SourceError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


@contextlib.contextmanager
def download_slot(dest: Path) -> Iterator[Path]:
    """A temporary file outside `dest` to download into, removed afterwards."""
    workdir = tempfile.mkdtemp(prefix="fabu-dl-", dir=Path(dest).parent)
    try:
        yield Path(workdir) / "download"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def materialise(path: Path, name: str, dest: Path, budget: Budget) -> None:
    """Unpack an archive into `dest`, or move a plain file there under its own name."""
    check_name(name)
    lower = name.lower()
    if not lower.endswith(ARCHIVE_SUFFIXES):
        shutil.move(path, dest / name)
        return
    staging = Path(tempfile.mkdtemp(prefix="fabu-unpack-", dir=dest.parent))
    try:
        if lower.endswith(".zip"):
            _unzip(path, staging, name, budget)
        else:
            _untar(path, staging, name, budget)
        root = staging
        children = list(staging.iterdir())
        if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
            root = children[0]
        for child in root.iterdir():
            shutil.move(child, dest / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def safe_join(root: Path, rel: str, archive: str | None = None) -> Path:
    """root/rel, refusing absolute paths, drive letters and `..` components."""
    parts = rel.replace("\\", "/").split("/")
    if rel.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts:
        where = f"archive {archive}" if archive else "the source"
        raise SourceError(f"{where} has an unsafe entry: {rel!r}")
    return root.joinpath(*[p for p in parts if p not in ("", ".")])


def check_name(name: str) -> None:
    """SourceError unless `name` is a plain file name (no separators, not `.` or `..`)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise SourceError(f"the source has an unsafe file name {name!r}")


def _untar(path, staging, name, budget):
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            budget.take(sum(m.size for m in members if m.isfile()))
            tar.extractall(staging, filter=_tar_filter(staging, name))
    except tarfile.FilterError as exc:
        raise SourceError(f"archive {name} has an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(f"{name} is not a readable tar archive: {exc}") from None


def _tar_filter(staging: Path, archive: str):
    """The "data" filter (no absolute paths, "..", links leaving the tree, devices), then a look
    at the disk as it is right before the member is written (tarfile calls it member by member)."""
    def check(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
        member = tarfile.data_filter(member, dest_path)
        _no_symlink_on_path(staging, member.name, archive, member.name)
        if member.islnk():
            target = _no_symlink_on_path(staging, member.linkname, archive, member.name)
            if not target.is_file():
                raise SourceError(f"archive {archive} has an unsafe entry: {member.name!r} is a "
                                  f"hard link to {member.linkname!r}, which is no regular file")
        return member
    return check


def _no_symlink_on_path(root: Path, rel: str, archive: str, entry: str) -> Path:
    """root/rel, refusing it when a component (the last included) exists as a symlink."""
    path = root
    for part in (p for p in rel.split("/") if p not in ("", ".")):
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break  # created by the extraction, as a real directory or file
        if stat.S_ISLNK(mode):
            raise SourceError(f"archive {archive} has an unsafe entry: {_short(entry)!r} would be "
                              f"written through the symbolic link "
                              f"{_short(path.relative_to(root).as_posix())!r}")
    return root.joinpath(rel)


def _short(name: str) -> str:
    """An entry name fit for a message (names can be thousands of characters long)."""
    return name if len(name) <= 120 else f"{name[:60]}...{name[-40:]}"


def _unzip(path, staging, name, budget):
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            budget.take(sum(i.file_size for i in infos))
            for info in infos:
                _unzip_member(zf, info, staging, name)
    except zipfile.BadZipFile as exc:
        raise SourceError(f"{name} is not a readable zip archive: {exc}") from None


def _unzip_member(zf, info, staging, name):
    target = safe_join(staging, info.filename, archive=name)
    mode = info.external_attr >> 16
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    if stat.S_ISLNK(mode):  # chains of links defeat any textual check: none at all in a zip
        raise SourceError(f"archive {name} has an unsafe entry: {info.filename!r} is a symbolic "
                          "link (zip archives may not contain links; use a tar archive)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    target.chmod(0o755 if mode & 0o111 else 0o644)
