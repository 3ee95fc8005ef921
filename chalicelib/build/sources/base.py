"""What every source fetcher shares: the error it raises, the byte budget, the job it is given.

A fetcher module (``git``, ``svn``, ``ftp``, ``http``, ``s3``) exposes ``fetch(job, dest)``, which
returns what the source resolved to (a ``chalicelib.build.provenance`` record); the
dispatcher in ``chalicelib.build.sources`` builds the ``Job`` once (url, ref, resolved credentials,
timeout, budget), so each fetcher takes only what it uses from it.
"""
import dataclasses
import urllib.parse
from typing import BinaryIO, Callable, Protocol

from chalicelib.errors import FabuError
from chalicelib.secrets import Credentials

CHUNK = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 21, "git": 9418}


class _Readable(Protocol):
    """What ``Budget.copy`` reads from: an HTTP response, an S3 object body."""

    def read(self, size: int) -> bytes: ...


class SourceError(FabuError):
    """The source could not be fetched; `retryable` says whether a later attempt may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Budget:
    """Counts bytes written to the scratch dir and stops at the limit (None: no limit)."""

    def __init__(self, max_bytes: int | None) -> None:
        self.max_bytes = max_bytes
        self.used = 0

    def take(self, n: int) -> None:
        """Count `n` more bytes; SourceError once the total is past the limit."""
        self.used += n
        if self.max_bytes is not None and self.used > self.max_bytes:
            raise SourceError(f"the source is larger than the {self.max_bytes}-byte limit "
                              "(FABU_MAX_SOURCE_BYTES)")

    def writer(self, out: BinaryIO) -> Callable[[bytes], None]:
        """A callback that counts each block, then writes it to `out` (for ftplib)."""
        def write(block: bytes) -> None:
            self.take(len(block))
            out.write(block)
        return write

    def copy(self, stream: "_Readable", out: BinaryIO) -> None:
        """Copy the readable `stream` to `out` in CHUNK blocks, counting each."""
        write = self.writer(out)
        for block in iter(lambda: stream.read(CHUNK), b""):
            write(block)


@dataclasses.dataclass(frozen=True)
class Job:
    """One fetch: where from, which ref, with which credentials, within which limits."""

    url: str
    ref: str | None
    creds: Credentials | None
    timeout: float
    budget: Budget
    since: str | None = None  # git: the previous release's commit, to list the changes since


def redact(url: str) -> str:
    """`url` without user-info, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def host_port(url: str) -> str:
    """``host:port`` of `url` (the scheme's default port when none is given), for messages."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    return f"{parts.hostname}:{port}" if port else (parts.hostname or url)
