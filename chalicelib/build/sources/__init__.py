"""Materialise a project's ``source`` into a scratch directory: git, svn, ftp(s), http(s), s3.

``source = {"type": "git"|"svn"|"ftp"|"http"|"s3", "url": ..., "ref": ..., "credentials": ...}``.
``credentials`` is a reference resolved at fetch time (``chalicelib.secrets``), never a value.
One module per kind does the fetching (``git``, ``svn``, ``ftp``, ``http``, ``s3``) and says what
the source resolved to (``resolve``: the provenance record); a single downloaded file is unpacked
or kept by ``archives``. Every failure is a ``SourceError`` whose
message a user can act on; ``retryable`` is True only when trying again later could help
(timeouts, refused connections, server errors). Secrets never appear in a message: URLs are shown
without their user-info (``redact``). What a source may download or unpack is bounded by the
byte budget (``max_bytes``).

Every URL obeys ``chalicelib.netguard``: it is checked here before any credential is read, and
again by each connection (http(s), git over http(s), ftp(s) connect only to the addresses they
checked; svn, git:// and ssh are checked right before they connect). A refusal is a final
``SourceError`` naming the address and why.
"""
import urllib.parse
from pathlib import Path

from chalicelib import netguard, secrets
from chalicelib.build.sources import ftp, git, http, s3, svn
from chalicelib.build.sources.base import Budget, Job, SourceError, redact

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_TIMEOUT", "SourceError", "fetch", "redact", "resolve"]

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
    resolve(source, dest, timeout=timeout, max_bytes=max_bytes)
    return Path(dest)


def resolve(source: dict, dest: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
            max_bytes: int | None = DEFAULT_MAX_BYTES, since: str | None = None) -> dict:
    """``fetch``, returning what the source resolved to (``chalicelib.build.provenance``).

    `since` (git): the previous release's commit; the record's ``changes`` lists the commits
    since it.
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
    _check_url(url, timeout)
    creds = secrets.resolve_credentials(source.get("credentials"))
    try:
        return fetcher(Job(url=url, ref=source.get("ref"), creds=creds, timeout=timeout,
                           budget=Budget(max_bytes), since=since), dest)
    except netguard.Refused as exc:  # a redirect or a re-resolved name that breaks the rule
        raise SourceError(f"refused to fetch {redact(url)}: {exc.message}") from None


def _check_url(url: str, timeout: float) -> None:
    """SourceError when the network rule refuses `url` now (before credentials are read).

    A name that does not resolve is left to the fetcher, which reports it its own way and checks
    again right before it connects.
    """
    try:
        netguard.check_url(url, timeout=timeout)
    except netguard.Refused as exc:
        raise SourceError(f"refused to fetch {redact(url)}: {exc.message}") from None
    except (OSError, ValueError):
        pass
