"""Materialise one downloaded file: unpack a tar or zip archive safely, or keep the file as is.

A single file named ``*.tar.gz``, ``*.tgz``, ``*.tar`` or ``*.zip`` is unpacked (no absolute
paths, no ``..``, no links leaving the tree, no devices); an archive holding one top-level
directory is unpacked from inside it, like the archives code forges publish. Any other file is
moved into the tree under its own name. Downloads land in a ``download_slot`` next to the tree,
never inside it, and are removed afterwards.
"""
import contextlib
import gzip
import os
import posixpath
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
            # The "data" filter refuses absolute paths, "..", links leaving the tree and devices.
            tar.extractall(staging, filter="data")
    except tarfile.FilterError as exc:
        raise SourceError(f"archive {name} has an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise SourceError(f"{name} is not a readable tar archive: {exc}") from None


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
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(mode):
        link = zf.read(info).decode("utf-8", "surrogateescape")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(info.filename), link))
        if posixpath.isabs(link) or resolved.startswith("../") or resolved == "..":
            raise SourceError(f"archive {name} has an unsafe entry: {info.filename!r} links "
                              f"outside the tree")
        os.symlink(link, target)
        return
    with zf.open(info) as src, open(target, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    target.chmod(0o755 if mode & 0o111 else 0o644)
