"""Where fabu may connect: the one network rule for every URL a user gives it (SSRF guard).

A project's ``source.url``, ``notify.webhooks[i].url`` and ``gates.*.url`` make fabu open
connections from inside its own network. The rule, for every address a host name resolves to:

* never, in any stage: link-local and AWS-internal addresses (169.254.0.0/16 — the instance
  metadata service, ECS/Lambda credentials, the VPC resolver —, fe80::/10, fd00:ec2::/32 — IMDS
  over IPv6 is fd00:ec2::254 —), "this network" 0.0.0.0/8 and ``::``, multicast and reserved
  ranges, and the stage's own AWS endpoint (host:port of ``AWS_ENDPOINT_URL`` and
  ``AWS_ENDPOINT_URL_<SERVICE>`` when set: locally the emulator, which holds every secret);
* outside stage ``local`` also loopback, private (RFC 1918, fc00::/7), carrier-grade NAT
  (100.64.0.0/10) and other special-purpose ranges, unless the address is inside a network of the
  stage setting ``FABU_ALLOWED_NETWORKS`` (comma-separated CIDRs; an invalid entry refuses
  everything it would have opened, naming the entry).

IPv4 addresses embedded in IPv6 (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``)
are judged as their IPv4 address. ``file:`` URLs are allowed only in stage ``local``.

The rule is applied when a project is validated (``url_problem``: the message of a 400 naming
the field) and again right before every connection (``connect``): the name is resolved once,
every address checked, and the socket connects to a checked address, never resolving again, so
a name re-pointed after validation (DNS rebinding) is caught. ``check_redirect`` is the redirect
policy every client follows: at most ``MAX_REDIRECTS`` hops, the field's schemes only, never
https → http, every hop re-checked; ``without_credentials`` drops ``CREDENTIAL_HEADERS`` when the
origin changes. The HTTP clients built on all this live in ``chalicelib.netclients``.
"""
import functools
import ipaddress
import os
import socket
import threading
import urllib.parse
from typing import Iterable

from chalicelib import config
from chalicelib.errors import FabuError

MAX_REDIRECTS = 5
#: Seconds a validation waits for a name to resolve (a name that does not resolve in time is
#: left to the fetch-time check, which refuses it then if it must).
VALIDATION_DNS_SECONDS = 2.0
#: Seconds a connection waits for a name to resolve when its caller gives no timeout.
DEFAULT_DNS_SECONDS = 30.0
#: Headers that carry credentials: dropped when a redirect changes the origin (lowercase).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "private-token",
                                "job-token", "x-api-key", "x-auth-token"})
ALLOWED_NETWORKS_SETTING = "FABU_ALLOWED_NETWORKS"
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ftps": 21, "git": 9418, "ssh": 22,
                 "svn": 3690, "svn+ssh": 22, "git+ssh": 22}
_NO_NETWORK_SCHEMES = {"s3"}  # reached through the AWS SDK only, never by a URL's host

_NEVER = [(ipaddress.ip_network(net), label) for net, label in (
    ("169.254.0.0/16", "a link-local address (169.254.0.0/16: the instance metadata service and "
                       "other AWS-internal services)"),
    ("fe80::/10", "a link-local address (fe80::/10)"),
    ("fd00:ec2::/32", "an AWS-internal address (fd00:ec2::/32: the instance metadata service "
                      "over IPv6)"),
    ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
    ("::/128", "the unspecified address (::)"),
    ("224.0.0.0/4", "a multicast address (224.0.0.0/4)"),
    ("ff00::/8", "a multicast address (ff00::/8)"),
    ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
)]
_LOCAL_ONLY = [(ipaddress.ip_network(net), label) for net, label in (
    ("127.0.0.0/8", "a loopback address (127.0.0.0/8)"),
    ("::1/128", "the loopback address (::1)"),
    ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
    ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
    ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
    ("fc00::/7", "a unique local address (fc00::/7)"),
    ("100.64.0.0/10", "a carrier-grade NAT address (100.64.0.0/10)"),
    ("192.0.0.0/24", "an IETF protocol address (192.0.0.0/24)"),
    ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
    ("fec0::/10", "a site-local address (fec0::/10)"),
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPAT = ipaddress.ip_network("::/96")


class Refused(FabuError):
    """fabu will not connect there: an address, redirect or scheme breaks the network rule."""
    status = 400


# --- the rule ------------------------------------------------------------------------------

def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address of ``text`` (a scope ``%eth0`` dropped), IPv4 when IPv6 embeds one."""
    ip = ipaddress.ip_address(text.split("%", 1)[0])
    if ip.version == 4:
        return ip
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _COMPAT and int(ip) > 1):  # NAT64, IPv4-compatible (not ::, ::1)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@functools.lru_cache(maxsize=8)
def _parse_networks(text: str) -> tuple[tuple, str | None]:
    """The networks of the setting's value, and the first invalid entry's problem (or None)."""
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            return tuple(networks), f"{ALLOWED_NETWORKS_SETTING} has an invalid entry {entry!r} ({exc})"
    return tuple(networks), None


def _allowed(ip) -> tuple[bool, str | None]:
    """Whether a network of ``FABU_ALLOWED_NETWORKS`` holds ``ip``; the setting's error, if any."""
    networks, problem = _parse_networks(os.environ.get(ALLOWED_NETWORKS_SETTING, ""))
    if problem:
        return False, problem
    return any(ip in net for net in networks), None


def _endpoint_urls() -> list[str]:
    return [value for name, value in os.environ.items()
            if (name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")) and value]


_ENDPOINTS: dict[str, tuple[frozenset, int | None, bool]] = {}  # resolved endpoint URLs


def _endpoint(url: str) -> tuple[frozenset, int | None, bool]:
    """(addresses, port, wide) of an AWS endpoint URL; ``wide``: it is on this machine.

    Remembered once resolved (at most 32 URLs); a failed lookup is tried again next time.
    """
    if url in _ENDPOINTS:
        return _ENDPOINTS[url]
    try:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
        infos = resolve(host, port or 0, VALIDATION_DNS_SECONDS) if host else []
    except (OSError, ValueError):
        return frozenset(), None, False
    ips = frozenset(_ip(info[4][0]) for info in infos)
    found = (ips, port, any(ip.is_loopback or ip.is_unspecified for ip in ips))
    if len(_ENDPOINTS) < 32:
        _ENDPOINTS[url] = found
    return found


@functools.lru_cache(maxsize=1)
def _own_addresses() -> frozenset:
    """This machine's own addresses (an emulator bound to 0.0.0.0 answers on each of them)."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return frozenset()
    return frozenset(_ip(info[4][0]) for info in infos)


def _is_endpoint(ip, port: int) -> bool:
    for url in _endpoint_urls():
        ips, endpoint_port, wide = _endpoint(url)
        if port != endpoint_port:
            continue
        if ip in ips or (wide and (ip.is_loopback or ip in _own_addresses())):
            return True
    return False


def _verdict(address: str, port: int, local: bool) -> tuple[str, str] | None:
    """``(subject, reason)`` when ``address:port`` is refused (e.g. ``("169.254.169.254",
    "a link-local address (...); never allowed")``), else None."""
    ip = _ip(address)
    if _is_endpoint(ip, port):
        where = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        return where, "the stage's own AWS endpoint (AWS_ENDPOINT_URL); never allowed"
    for net, label in _NEVER:
        if ip in net:
            return str(ip), f"{label}; never allowed"
    if local:
        return None
    for net, label in _LOCAL_ONLY:
        if ip in net:
            allowed, problem = _allowed(ip)
            if problem:
                return str(ip), f"{label}, and {problem}"
            if not allowed:
                return str(ip), (f"{label}; allowed outside stage local only inside a network "
                                 f"listed in {ALLOWED_NETWORKS_SETTING}")
    return None


def address_problem(address: str, port: int, *, local: bool | None = None) -> str | None:
    """Why fabu may not connect to the IP ``address`` on ``port``, or None when it may."""
    verdict = _verdict(address, port, config.is_local() if local is None else local)
    return f"{verdict[0]} is {verdict[1]}" if verdict else None


def _check_infos(host: str, infos: Iterable[tuple], local: bool | None) -> None:
    """Refused unless every resolved address of ``host`` may be connected to."""
    local = config.is_local() if local is None else local
    for info in infos:
        _check_address(host, info[4][0], info[4][1], local)


def _check_address(host: str, address: str, port: int, local: bool) -> None:
    verdict = _verdict(address, port, local)
    if not verdict:
        return
    subject, reason = verdict
    if host.strip("[]") == str(_ip(address)):  # the URL names the very address
        raise Refused(f"{subject} is {reason}")
    verb = "is" if _literal(host) else "resolves to"
    raise Refused(f"{host} {verb} {subject}, {reason}")


def _literal(host: str):
    """The IP address ``host`` spells (brackets and a zone ``%eth0``/``%25eth0`` dropped), or None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


# --- resolving and connecting ----------------------------------------------------------------

def resolve(host: str, port: int, timeout: float | None = None) -> list[tuple]:
    """``getaddrinfo`` (TCP) of ``host`` within ``timeout`` seconds; OSError when it fails.

    The system resolver takes no timeout, so a name is looked up on a daemon thread and the
    caller stops waiting after ``timeout`` (``TimeoutError``). An IP needs no lookup.
    """
    try:
        return socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        pass
    budget = DEFAULT_DNS_SECONDS if timeout is None else timeout
    box: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except UnicodeError as exc:  # a label longer than 63 characters, say
            box["error"] = socket.gaierror(socket.EAI_NONAME, f"invalid host name {host!r}: {exc}")
        except OSError as exc:
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=lookup, name="fabu-resolve", daemon=True).start()
    if not done.wait(budget):
        raise TimeoutError(f"resolving {host} took longer than {budget:g}s")
    if "error" in box:
        raise box["error"]
    if not box["infos"]:
        raise socket.gaierror(socket.EAI_NONAME, f"no address found for {host}")
    return box["infos"]


def connect(host: str, port: int, timeout=None, source_address=None, *,
            socket_options: Iterable[tuple] | None = None,
            local: bool | None = None) -> socket.socket:
    """A TCP socket to ``host:port`` through an address the rule allows; Refused otherwise.

    Resolves once, checks every address (all must pass), then connects to them in turn like
    ``socket.create_connection``. ``timeout`` may be socket's default-timeout sentinel.
    """
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        timeout = socket.getdefaulttimeout()
    infos = resolve(host, port, timeout)
    _check_infos(host, infos, local)
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"no address found for {host}")


# --- URLs --------------------------------------------------------------------------------------

def _host_port(parts: urllib.parse.SplitResult) -> tuple[str, int]:
    return parts.hostname or "", parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


def check_url(url: str, *, local: bool | None = None, timeout: float | None = None) -> None:
    """Refused when ``url`` may not be used now; OSError when its host does not resolve.

    For the clients fabu cannot pin to the checked address (svn, git://, ssh run their own
    lookups): called right before they connect. Pinned clients call it first too, for a
    message naming the URL before any credential is read.
    """
    local = config.is_local() if local is None else local
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if not local:
            raise Refused("file: URLs are allowed only in stage local")
        return
    if parts.scheme in _NO_NETWORK_SCHEMES:
        return
    host, port = _host_port(parts)
    if not host:
        raise Refused(f"{shown(url)} has no host")
    if _literal(host) is not None:  # judged as written, even where it cannot be resolved here
        _check_address(host, str(_literal(host)), port, local)
    _check_infos(host, resolve(host, port, timeout), local)


def url_problem(url: str, *, local: bool | None = None,
                timeout: float = VALIDATION_DNS_SECONDS) -> str | None:
    """Why ``url`` may not be a project's URL (for a 400 naming its field), or None.

    A name that does not resolve now (or not within ``timeout``) passes: the check at fetch
    time decides then.
    """
    try:
        check_url(url, local=local, timeout=timeout)
    except Refused as exc:
        return f"refused: {exc.message}"
    except (OSError, ValueError):
        return None
    return None


def shown(url: str) -> str:
    """``url`` without user-info, query or fragment (a redirect may carry signed query strings)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def origin(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    host, port = _host_port(parts)
    return parts.scheme.lower(), host.lower(), port


def check_redirect(old_url: str, new_url: str, hops: int, schemes: Iterable[str]) -> None:
    """Refused unless hop number ``hops`` from ``old_url`` to ``new_url`` may be followed."""
    old, new = urllib.parse.urlsplit(old_url), urllib.parse.urlsplit(new_url)
    if hops > MAX_REDIRECTS:
        raise Refused(f"more than {MAX_REDIRECTS} redirects (the limit); the next was to "
                      f"{shown(new_url)}")
    allowed = set(schemes)
    if new.scheme.lower() not in allowed:
        raise Refused(f"a redirect to {shown(new_url)}: only {', '.join(sorted(allowed))} "
                      "redirects are followed")
    if old.scheme.lower() == "https" and new.scheme.lower() == "http":
        raise Refused(f"a redirect from {shown(old_url)} to {shown(new_url)} would downgrade "
                      "https to http")
    try:
        check_url(new_url)
    except Refused as exc:
        raise Refused(f"a redirect to {shown(new_url)}: {exc.message}") from None
    except (OSError, ValueError):
        pass  # the connection itself fails, with its own message


def without_credentials(headers: dict, old_url: str, new_url: str) -> dict:
    """``headers`` for the next hop: credential headers removed when the origin changes."""
    if origin(old_url) == origin(new_url):
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
