"""Fetch an http/https source with urllib: one file (an archive is unpacked).

Credentials become HTTP basic auth when they carry a username, else ``Authorization: Bearer``.
401/403 and 404 are final; 5xx, 429, refused connections and timeouts may pass on a retry.
The opener is ``netclients.opener``: every connection (redirects included) goes to an address
the network rule allows, at most 5 redirects, never https → http, and ``Authorization`` is not
sent on to another origin.
"""
import base64
import posixpath
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from chalicelib import netclients
from chalicelib.build import provenance
from chalicelib.build.sources.archives import download_slot, materialise
from chalicelib.build.sources.base import Job, SourceError, host_port, redact
from chalicelib.secrets import Credentials


_OPENER = netclients.opener(redirects=True)


def fetch(job: Job, dest: Path) -> dict:
    """Download the file at `job.url` into `dest` under its own name, or unpack it there.

    Returns the provenance record: the final URL (after redirects, without user-info) and the
    final response's ``ETag`` and ``Last-Modified``.
    """
    shown = redact(job.url)
    request = urllib.request.Request(job.url, headers={"User-Agent": "fabu-builder"})
    if job.creds:
        request.add_header("Authorization", authorization(job.creds))
    name = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(job.url).path)) or "download"
    try:
        with _OPENER.open(request, timeout=job.timeout) as response, \
                download_slot(dest) as tmp:
            with open(tmp, "wb") as out:
                job.budget.copy(response, out)
            materialise(tmp, name, dest, job.budget)
            headers, final = response.headers, response.geturl() or job.url
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise SourceError(f"authentication failed for {shown} (HTTP {exc.code})") from None
        if exc.code == 404:
            raise SourceError(f"{shown} not found (HTTP 404)") from None
        raise SourceError(f"{shown} answered HTTP {exc.code}",
                          retryable=exc.code >= 500 or exc.code == 429) from None
    except urllib.error.URLError as exc:
        raise SourceError(f"could not connect to {host_port(job.url)}: {exc.reason}",
                          retryable=True) from None
    except (socket.timeout, TimeoutError):
        raise SourceError(f"timed out after {job.timeout}s reading {shown}", retryable=True) from None
    except (ConnectionError, ssl.SSLError) as exc:
        raise SourceError(f"download of {shown} failed: {exc}", retryable=True) from None
    etag, modified = headers.get("ETag"), headers.get("Last-Modified")
    return provenance.record(urllib.parse.urlsplit(job.url).scheme, redact(final), etag=etag,
                             last_modified=modified, revision=etag or modified)


def authorization(creds: Credentials) -> str:
    """The ``Authorization`` header value: Basic with a username, else Bearer."""
    if creds.username:
        pair = f"{creds.username}:{creds.password}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return f"Bearer {creds.password}"
