"""HTTP clients that obey the network rule of ``chalicelib.netguard``: urllib and urllib3.

Every connection goes through ``netguard.connect`` (resolve once, check every address, connect
to a checked one), while the Host header, TLS SNI and the certificate check stay on the URL's
host name. Redirects follow ``netguard.check_redirect`` (at most ``netguard.MAX_REDIRECTS``
hops, allowed schemes only, no https → http, every hop re-checked) and drop credential headers
when the origin changes. Proxies from the environment are never used: the guard has to see the
real target.

* ``opener`` — urllib, for http(s) sources (redirects followed) and for webhooks and gates
  (``redirects=False``: a 3xx is the answer);
* ``pool_manager`` — urllib3, for dulwich's git over http(s) (``get_transport_and_path(...,
  pool_manager=...)``).

A refusal is ``netguard.Refused``, which is no ``OSError``: clients do not mistake it for a
network failure worth retrying, and it reaches the caller as it is.
"""
import http.client
import socket
import urllib.parse
import urllib.request
from typing import Any, Iterable

import urllib3
from urllib3.connection import HTTPConnection as U3HTTPConnection
from urllib3.connection import HTTPSConnection as U3HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from chalicelib import netguard

HTTP_SCHEMES = ("http", "https")


# --- urllib --------------------------------------------------------------------------------------

def _pinned(address, timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    return netguard.connect(address[0], address[1], timeout, source_address)


class PinnedHTTPConnection(http.client.HTTPConnection):
    """``http.client`` connection made through ``netguard.connect`` (checked, pinned)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _pinned


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same for https: TLS (SNI, certificate check) still on the URL's host name."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._create_connection = _pinned


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(PinnedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(PinnedHTTPSConnection, req, context=self._context)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs) -> None:
        return None  # the 3xx itself is the answer


class _Redirects(urllib.request.HTTPRedirectHandler):
    max_repeats = max_redirections = netguard.MAX_REDIRECTS + 1  # check_redirect speaks first

    def __init__(self, schemes: Iterable[str]) -> None:
        self.schemes = frozenset(schemes)

    def http_error_302(self, req, fp, code, msg, headers):
        """Name a redirect to another scheme (file:, ftp:) before urllib refuses it vaguely."""
        location = headers.get("location") or headers.get("uri")
        if location:
            target = urllib.parse.urljoin(req.full_url, location)
            if urllib.parse.urlsplit(target).scheme.lower() not in self.schemes:
                netguard.check_redirect(req.full_url, target, 1, self.schemes)
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        hops = getattr(req, "fabu_hops", 0) + 1
        netguard.check_redirect(req.full_url, newurl, hops, self.schemes)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.fabu_hops = hops
            new.headers = netguard.without_credentials(new.headers, req.full_url, newurl)
        return new


def opener(*, redirects: bool,
           schemes: Iterable[str] = HTTP_SCHEMES) -> urllib.request.OpenerDirector:
    """A urllib opener for http(s) only: guarded connections, no proxies, no file:/ftp:/data:.

    ``redirects=False``: a 3xx comes back as an ``HTTPError`` (webhooks, gates); else redirects
    to ``schemes`` are followed under ``netguard.check_redirect``.
    """
    director = urllib.request.OpenerDirector()
    for handler in (urllib.request.UnknownHandler(), _HTTPHandler(), _HTTPSHandler(),
                    urllib.request.HTTPDefaultErrorHandler(),
                    _Redirects(schemes) if redirects else _NoRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        director.add_handler(handler)
    return director


# --- urllib3 -------------------------------------------------------------------------------------

class _PinnedNewConn:
    """urllib3's ``_new_conn`` through ``netguard.connect``, with urllib3's own exceptions."""

    def _new_conn(self) -> socket.socket:
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        try:
            return netguard.connect(self._dns_host, self.port, timeout, self.source_address,
                                    socket_options=self.socket_options)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={timeout})") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _U3HTTP(_PinnedNewConn, U3HTTPConnection):
    pass


class _U3HTTPS(_PinnedNewConn, U3HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _U3HTTP


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _U3HTTPS


class GuardedPoolManager(urllib3.PoolManager):
    """A PoolManager whose connections are pinned and whose redirects follow the guard."""

    def __init__(self, schemes: Iterable[str] = HTTP_SCHEMES, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self.schemes = frozenset(schemes)

    def urlopen(self, method: str, url: str, redirect: bool = True,
                **kw: Any) -> urllib3.BaseHTTPResponse:
        """Check each redirect hop (urllib3 calls this again with the next URL) before it."""
        retries = kw.get("retries")
        history = retries.history if isinstance(retries, Retry) else ()
        if history:
            netguard.check_redirect(history[-1].url, url, len(history), self.schemes)
        return super().urlopen(method, url, redirect=redirect, **kw)


def pool_manager(timeout: float, headers: dict | None = None) -> GuardedPoolManager:
    """The guarded urllib3 manager for dulwich: certificates verified, bounded retries."""
    retries = Retry(total=None, connect=2, read=2, status=0, other=0,
                    redirect=netguard.MAX_REDIRECTS + 1, raise_on_redirect=True,
                    remove_headers_on_redirect=netguard.CREDENTIAL_HEADERS)
    return GuardedPoolManager(headers=headers, timeout=timeout, retries=retries,
                              cert_reqs="CERT_REQUIRED")
