"""Page cursors: DynamoDB's ``LastEvaluatedKey`` as an opaque, signed, URL-safe token, and back.

A cursor is ``<22-character MAC><base64url JSON key>``. The MAC is an HMAC-SHA256 (first 128
bits) over the key and the *query it belongs to*: the route and every request parameter but
``cursor`` and ``limit`` (``api.http.handles_errors`` binds them for each request with
``bound_to``). So a cursor only ever goes back to the query that issued it: a forged, edited,
truncated or foreign cursor (another route, another project's timeline, another ``since``) is a
400 naming ``cursor``, never a DynamoDB ``ValidationException``. The decoded key is
shape-checked too (a few attribute names, each a bounded string or number), and a caller may
name the exact key attributes of the index it pages (``keys``).

The MAC key is ``FABU_CURSOR_KEY`` (any string; set it per stage to make cursors unforgeable by
anyone who reads this source); without it a key derived from the stage's resource prefix is
used, which still refuses every cursor the API did not issue for the same query.
"""
import base64
import contextlib
import contextvars
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Iterator

from chalicelib import config
from chalicelib.errors import ValidationError

#: Longest cursor accepted (characters); DynamoDB keys of fabu's tables are far shorter.
MAX_CURSOR_CHARS = 2048
#: At most this many attributes in a key (a GSI's key plus its table's key).
MAX_KEY_ATTRIBUTES = 4
#: Longest string value of a key attribute (a project id, a host name, an event sort key).
MAX_VALUE_CHARS = 1024
_MAC_CHARS = 22  # 16 bytes of base64url without padding
_TOKEN_RE = re.compile(rf"[A-Za-z0-9_-]{{{_MAC_CHARS + 2},{MAX_CURSOR_CHARS}}}")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_NUMBER_RE = re.compile(r"-?[0-9]{1,38}(\.[0-9]{1,38})?")
_FIELDS = {"cursor": "is not a cursor this API issued for this query: pass the next_cursor "
                     "of the previous page of the same query, or leave cursor out to start over"}

_scope: contextvars.ContextVar[str] = contextvars.ContextVar("fabu_cursor_scope", default="")


@contextlib.contextmanager
def bound_to(route: str, params: Iterable[tuple[str, str]] = ()) -> Iterator[None]:
    """Cursors encoded or decoded inside the block belong to ``route`` with these parameters.

    ``params`` are the request's (name, value) pairs; ``cursor`` and ``limit`` are left out (a
    client may change the page size between pages).
    """
    kept = sorted((name, value) for name, value in params if name not in ("cursor", "limit"))
    token = _scope.set(json.dumps([route, kept], ensure_ascii=True))
    try:
        yield
    finally:
        _scope.reset(token)


def encode(key: dict | None) -> str | None:
    """The ``next_cursor`` for a page that ended at ``key`` (None when it was the last page)."""
    if not key:
        return None
    payload = _b64(json.dumps(key, sort_keys=True, separators=(",", ":")).encode())
    return _mac(payload) + payload


def decode(cursor: str | None, *, keys: Iterable[str] | None = None) -> dict | None:
    """The ``ExclusiveStartKey`` of a cursor (None for none); 400 naming ``cursor`` otherwise.

    ``keys``, when given, are the exact attribute names of the index the caller pages.
    """
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR_CHARS:
        raise ValidationError(f"cursor is {len(cursor)} characters; the limit is {MAX_CURSOR_CHARS}",
                              {"cursor": f"is longer than {MAX_CURSOR_CHARS} characters"})
    if not _TOKEN_RE.fullmatch(cursor):
        raise _refused()
    mac, payload = cursor[:_MAC_CHARS], cursor[_MAC_CHARS:]
    if not hmac.compare_digest(mac, _mac(payload)):
        raise _refused()
    try:
        key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        raise _refused() from None
    if not _well_formed(key) or (keys is not None and set(key) != set(keys)):
        raise _refused()
    return key


def _well_formed(key: object) -> bool:
    """A dict of 1..4 attribute names, each ``{"S": text}`` or ``{"N": number}``, bounded."""
    if not isinstance(key, dict) or not 0 < len(key) <= MAX_KEY_ATTRIBUTES:
        return False
    for name, value in key.items():
        if not _NAME_RE.fullmatch(name) or not isinstance(value, dict) or len(value) != 1:
            return False
        (kind, text), = value.items()
        if not isinstance(text, str) or len(text) > MAX_VALUE_CHARS:
            return False
        if kind == "N" and not _NUMBER_RE.fullmatch(text):
            return False
        if kind not in ("S", "N"):
            return False
    return True


def _refused() -> ValidationError:
    return ValidationError("bad cursor: pass the next_cursor of the previous page", dict(_FIELDS))


def _mac(payload: str) -> str:
    message = f"{_scope.get()}\n{payload}".encode()
    return _b64(hmac.new(_secret(), message, hashlib.sha256).digest()[:16])


def _secret() -> bytes:
    configured = os.environ.get("FABU_CURSOR_KEY")
    if configured:
        return configured.encode("utf-8", "surrogatepass")
    return hashlib.sha256(f"fabu-cursor:{config.prefix()}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
