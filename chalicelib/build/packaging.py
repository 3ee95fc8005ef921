"""Reproducible release tarballs: pack a source tree, hash it and stream it to S3.

The same tree always gives the same bytes: entries are sorted, owners are root with empty names,
every mtime is one fixed value, modes are normalised to 0644/0755, and the gzip header carries no
timestamp or file name.  The tarball is never held in memory: it is hashed, counted and cut into
8 MiB multipart-upload parts as it is compressed, so a 1 GB release costs the builder ~20 MB.
Python's ``tarfile`` ``w:gz`` mode compresses at level 9 (3x slower than GNU tar's default), so
the gzip layer is our own ``GzipFile`` at level 6 (see docs/builds.md).
"""

import gzip
import hashlib
import io
import os
import queue
import stat
import tarfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import botocore.exceptions
from botocore.client import BaseClient

from chalicelib import aws
from chalicelib.errors import FabuError

VCS_DIRS = frozenset({".git", ".svn", ".hg", "CVS", ".bzr"})
PART_SIZE = 8 * 1024 * 1024
GZIP_LEVEL = 6
_READ_CHUNK = 1024 * 1024
_QUEUE_DEPTH = 4


class PackagingError(FabuError):
    """A tree could not be packed, stored or verified."""

    #: The S3 version of the object that failed its check, when there is one.
    version_id: str | None = None


class PackageTooLarge(PackagingError):
    """The tarball grew past the configured maximum size."""


class ChecksumMismatch(PackagingError):
    """An uploaded artifact does not hash to the sha256 it was announced with."""


@dataclass(frozen=True)
class Artifact:
    """A stored tarball: where it is (its S3 version id, in a versioned bucket) and its hash."""

    sha256: str
    size: int
    key: str
    version_id: str | None = None


def build_tarball(tree: str | os.PathLike, *, bucket: str, key: str, max_bytes: int | None,
                  s3: BaseClient | None = None, mtime: int = 0) -> Artifact:
    """Pack `tree` into s3://bucket/key; raise PackageTooLarge (nothing stored) past max_bytes."""
    s3 = s3 or _s3()
    sink = _S3Writer(s3, bucket, key)
    try:
        digest, size = write_tarball(tree, sink, max_bytes=max_bytes, mtime=mtime)
        version_id = sink.finish()
    except BaseException:
        sink.abort()
        raise
    return Artifact(sha256=digest, size=size, key=key, version_id=version_id)


def write_tarball(tree: str | os.PathLike, fileobj: BinaryIO, *, max_bytes: int | None = None,
                  mtime: int = 0) -> tuple[str, int]:
    """Write the reproducible .tgz of `tree` to `fileobj`; return (sha256 hex, size in bytes)."""
    counted = _CountingSink(fileobj, max_bytes)
    # filename="" and mtime=0 keep the gzip header free of anything that varies between builds.
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=counted, compresslevel=GZIP_LEVEL, mtime=0)
    pipe = _CompressorThread(gz)
    try:
        tar = tarfile.open(fileobj=pipe, mode="w", format=tarfile.PAX_FORMAT,
                           copybufsize=_READ_CHUNK)
        for path, name in iter_entries(Path(tree)):
            _add_entry(tar, path, name, mtime)
            tar.members.clear()  # TarFile remembers every entry it wrote: memory O(files)
        tar.close()
        pipe.close()
    finally:
        pipe.stop()
    return counted.hexdigest(), counted.size


def iter_entries(tree: Path, _prefix: str = "") -> Iterator[tuple[Path, str]]:
    """Yield (path, archive name) for every entry under `tree`, VCS metadata skipped.

    Depth-first in byte order of names, like `tar --sort=name`, so the order never depends on
    the file system.  Symlinks are entries, never followed.
    """
    with os.scandir(tree) as it:
        entries = sorted((e for e in it if e.name not in VCS_DIRS), key=lambda e: os.fsencode(e.name))
    for entry in entries:
        path = tree / entry.name
        yield path, _prefix + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from iter_entries(path, _prefix + entry.name + "/")


def verify_uploaded(bucket: str, key: str, sha256: str, max_bytes: int,
                    s3: BaseClient | None = None) -> Artifact:
    """Stream s3://bucket/key and check it hashes to `sha256`; raise on mismatch or oversize.

    The object's current version is read (and named in the ``Artifact``, so hosts download
    exactly it, whatever is uploaded to the key later). The raised ``ChecksumMismatch`` and
    ``PackageTooLarge`` carry it as ``version_id``. Only a missing object is a
    ``PackagingError``; every other S3 error propagates.
    """
    s3 = s3 or _s3()
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
        raise PackagingError(f"no artifact uploaded at s3://{bucket}/{key}") from exc
    version = _version_id(head)
    if head["ContentLength"] > max_bytes:
        raise _with_version(PackageTooLarge(
            f"artifact is {head['ContentLength']} bytes, more than the {max_bytes}-byte limit"),
            version)
    pinned = {"VersionId": version} if version else {}
    body = s3.get_object(Bucket=bucket, Key=key, **pinned)["Body"]
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: body.read(_READ_CHUNK), b""):
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != sha256.lower():
        raise _with_version(ChecksumMismatch(
            f"uploaded artifact has sha256 {digest.hexdigest()}, expected {sha256.lower()}"),
            version)
    return Artifact(sha256=digest.hexdigest(), size=size, key=key, version_id=version)


def _version_id(response: dict) -> str | None:
    """The S3 version id of a response; None when the bucket does not version (``"null"``)."""
    version = response.get("VersionId")
    return version if version and version != "null" else None


def _with_version(exc: PackagingError, version: str | None) -> PackagingError:
    exc.version_id = version
    return exc


def _add_entry(tar, path: Path, name: str, mtime: int):
    """Append one file, directory or symlink with normalised metadata."""
    st = os.lstat(path)
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
        info.mode = 0o777
        tar.addfile(info)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
    elif stat.S_ISREG(st.st_mode):
        info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
        info.size = st.st_size
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        raise PackagingError(f"cannot package {name!r}: not a file, directory or symlink")


class _CompressorThread:
    """A file-like object that compresses what it is given on a second thread.

    zlib releases the GIL, so reading files and building tar headers here overlaps with deflate
    there, the way `tar | gzip` overlaps in GNU tar.  Writes are coalesced into _READ_CHUNK
    blocks and at most _QUEUE_DEPTH blocks wait, so memory stays bounded.
    """

    def __init__(self, gz):
        self._gz = gz
        self._buffer = bytearray()
        self._offset = 0
        self._queue = queue.Queue(maxsize=_QUEUE_DEPTH)
        self._error = None
        self._thread = threading.Thread(target=self._run, name="fabu-gzip", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        self._offset += len(data)
        self._buffer += data
        if len(self._buffer) >= _READ_CHUNK:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def tell(self) -> int:
        return self._offset

    def close(self) -> None:
        """Flush, finish the gzip stream and re-raise whatever the compressor hit."""
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        self._put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Make sure the thread ends even when the producer failed half-way."""
        if self._thread.is_alive():
            self._error = self._error or PackagingError("packaging aborted")
            while self._thread.is_alive():
                try:
                    self._queue.put(None, timeout=0.1)
                except queue.Full:
                    pass
            self._thread.join()

    def _put(self, block):
        if self._error is not None:
            raise self._error
        self._queue.put(block)

    def _run(self):
        while True:
            block = self._queue.get()
            if block is None:
                break
            if self._error is None:
                try:
                    self._gz.write(block)
                except BaseException as exc:  # handed to the producer, which re-raises it
                    self._error = exc
        if self._error is None:
            try:
                self._gz.close()
            except BaseException as exc:
                self._error = exc


class _CountingSink(io.RawIOBase):
    """Pass writes through while hashing and counting them; stop past max_bytes."""

    def __init__(self, target, max_bytes):
        self._target = target
        self._max_bytes = max_bytes
        self._sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise PackageTooLarge(f"release tarball is larger than the {self._max_bytes}-byte limit")
        self._sha.update(data)
        self._target.write(data)
        return len(data)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


class _S3Writer(io.RawIOBase):
    """A write-only stream into one S3 object, uploaded in PART_SIZE parts as it fills.

    At most one part is buffered while one more uploads in the background, so memory stays near
    2 x PART_SIZE whatever the object size.  An object smaller than one part is one put_object.
    """

    def __init__(self, s3, bucket, key, part_size=None):
        self._s3, self._bucket, self._key = s3, bucket, key
        self._part_size = part_size or PART_SIZE
        self._buffer = bytearray()
        self._upload_id = None
        self._parts = []
        self._pending = None
        self._pool = None

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) >= self._part_size:
            with memoryview(self._buffer) as view:  # one copy of the part, not two
                part = bytes(view[:self._part_size])
            del self._buffer[:self._part_size]
            self._send_part(part)
        return len(data)

    def finish(self) -> str | None:
        """Store what was written (one put_object when small, else complete the multipart
        upload); the S3 version id of the stored object (None in an unversioned bucket)."""
        if self._upload_id is None:
            stored = self._s3.put_object(Bucket=self._bucket, Key=self._key,
                                         Body=bytes(self._buffer), ContentType="application/gzip")
            return _version_id(stored)
        if self._buffer:
            self._send_part(bytes(self._buffer))
            self._buffer.clear()
        self._wait_pending()
        stored = self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts})
        self._shutdown()
        return _version_id(stored)

    def abort(self) -> None:
        """Drop a half-done upload so no partial object or orphaned parts remain."""
        if self._pending is not None:
            self._pending.exception()  # wait; its error no longer matters
            self._pending = None
        self._shutdown()
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key,
                                            UploadId=self._upload_id)
            self._upload_id = None

    def _send_part(self, part):
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType="application/gzip")["UploadId"]
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fabu-upload")
        self._wait_pending()
        number = len(self._parts) + 1
        self._pending = self._pool.submit(self._upload_part, number, part)

    def _upload_part(self, number, part):
        etag = self._s3.upload_part(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id,
                                    PartNumber=number, Body=part)["ETag"]
        return {"PartNumber": number, "ETag": etag}

    def _wait_pending(self):
        if self._pending is not None:
            self._parts.append(self._pending.result())
            self._pending = None

    def _shutdown(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _s3():
    return aws.client("s3")
