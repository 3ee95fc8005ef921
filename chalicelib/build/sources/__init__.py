"""Materialise a project's ``source`` into a scratch directory: git, svn, ftp(s), http(s), s3.

``source = {"type": "git"|"svn"|"ftp"|"http"|"s3", "url": ..., "ref": ..., "credentials": ...}``.
``credentials`` is a reference resolved at fetch time (``chalicelib.secrets``), never a value.
One module per kind does the fetching (``git``, ``svn``, ``ftp``, ``http``, ``s3``); a single
downloaded file is unpacked or kept by ``archives``. Every failure is a ``SourceError`` whose
message a user can act on; ``retryable`` is True only when trying again later could help
(timeouts, refused connections, server errors). Secrets never appear in a message: URLs are shown
without their user-info (``redact``). What a source may download or unpack is bounded by the
byte budget (``max_bytes``).
"""
import urllib.parse
from pathlib import Path

from chalicelib import secrets
from chalicelib.build.sources import ftp, git, http, s3, svn
from chalicelib.build.sources.base import Budget, Job, SourceError, redact

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "SourceError", "fetch", "redact"]

DEFAULT_TIMEOUT = 60
DEFAULT_MAX_BYTES = 4 * 1024 ** 3
_FETCHERS = {"git": git.fetch, "svn": svn.fetch, "ftp": ftp.fetch, "ftps": ftp.fetch,
             "http": http.fetch, "https": http.fetch, "s3": s3.fetch}


def fetch(source: dict, dest: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
          max_bytes: int | None = DEFAULT_MAX_BYTES) -> Path:
    """Fetch `source` into the (existing, empty) directory `dest`; return `dest`.

    `timeout` bounds every network operation (seconds); `max_bytes` bounds what is downloaded
    and what an archive unpacks to.
    """
    dest = Path(dest)
    kind = (source.get("type") or "").lower()
    url = source.get("url") or ""
    fetcher = _FETCHERS.get(kind)
    if fetcher is None:
        raise SourceError(f"unknown source type {kind!r}; use one of {', '.join(sorted(_FETCHERS))}")
    if not url:
        raise SourceError("the source has no url")
    if urllib.parse.urlsplit(url).password:
        raise SourceError("the source url contains a password: store it in SSM Parameter Store "
                          "or Secrets Manager and name it in source.credentials instead")
    creds = secrets.resolve_credentials(source.get("credentials"))
    fetcher(Job(url=url, ref=source.get("ref"), creds=creds, timeout=timeout,
                budget=Budget(max_bytes)), dest)
    return dest
