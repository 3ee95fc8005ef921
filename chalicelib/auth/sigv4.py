"""Verify an AWS Signature Version 4 request the way API Gateway's IAM authorizer would.

Pure: no I/O, no environment. The caller supplies the request as it arrived, the stage's region
and a ``lookup`` from access key id to :class:`Principal`; the answer is the principal or a
:class:`SignatureError` whose message says why (never a secret).

The canonical request is rebuilt from exactly the headers the client listed in ``SignedHeaders``
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). Two client quirks
shape it:

- ``curl --aws-sigv4`` signs only ``host;x-amz-date`` and sends no ``x-amz-content-sha256``, so
  the payload hash is always computed here from the body received.
- SDKs URI-encode the path once more for every service but S3, so the canonical URI is the path
  as received on the wire, encoded again. Route segments are plain ASCII slugs, for which the
  encodings coincide.
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from chalicelib.errors import FabuError

ALGORITHM = "AWS4-HMAC-SHA256"
DEFAULT_MAX_SKEW = timedelta(minutes=5)
_AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
_REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date")
_AUTHORIZATION_RE = re.compile(
    r"AWS4-HMAC-SHA256 "
    r"Credential=(?P<credential>[^,\s]+), ?"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_SPACES_RE = re.compile(" +")
_SIGNED_HEADERS_RE = re.compile(r"[a-z0-9!#$%&'*+.^_`|~-]+(;[a-z0-9!#$%&'*+.^_`|~-]+)*")


class AuthError(FabuError):
    """Base of every authentication and authorization failure; the message is safe to show.

    A ``FabuError`` with status 403, so ``api.http.handles_errors`` answers it as
    ``403 {"error": <message>}`` like any domain error: the errors stay one flat hierarchy.
    """

    status = 403


class SignatureError(AuthError):
    """The request is unsigned, badly signed, expired, or signed by an unknown key."""


@dataclass(frozen=True)
class Principal:
    """One set of credentials the local stage accepts, and the IAM ARN it stands for."""

    access_key_id: str
    secret_access_key: str
    arn: str
    session_token: str | None = None

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        return f"Principal(access_key_id={self.access_key_id!r}, arn={self.arn!r})"


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    scope_date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"


def verify_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    service: str = "execute-api",
    lookup: Callable[[str], Principal | None],
    now: datetime | None = None,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> Principal:
    """Return the principal whose key signed this request, or raise :class:`SignatureError`.

    ``path`` is the raw (still percent-encoded) path without the query string; ``query`` the
    decoded (key, value) pairs in any order, repeats allowed; ``headers`` any mapping (names are
    matched case-insensitively); ``body`` the raw bytes received.
    """
    try:
        return _verify(method, path, query, headers, body, region=region, service=service,
                       lookup=lookup, now=now, max_skew=max_skew)
    except UnicodeEncodeError:
        # A lone surrogate cannot be UTF-8 encoded, hence was never signed by any client.
        raise SignatureError("request text is not valid Unicode") from None


def _verify(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    service: str,
    lookup: Callable[[str], Principal | None],
    now: datetime | None,
    max_skew: timedelta,
) -> Principal:
    lowered = {name.lower(): value for name, value in headers.items()}
    auth = _parse_authorization(lowered.get("authorization"))
    _check_scope(auth, region=region, service=service)
    _check_signed_headers_present(auth.signed_headers, lowered)
    amz_date = _check_date(lowered["x-amz-date"], auth.scope_date, now=now, max_skew=max_skew)
    payload_hash = _payload_hash(lowered.get("x-amz-content-sha256"), body)
    principal = lookup(auth.access_key_id)
    if principal is None:
        raise SignatureError("unknown access key")
    _check_session_token(principal, lowered.get("x-amz-security-token"))
    canonical = canonical_request(method, path, query, lowered, auth.signed_headers, payload_hash)
    expected = _signature(principal.secret_access_key, auth, amz_date, canonical)
    if not _same(expected, auth.signature):
        raise SignatureError("signature mismatch")
    return principal


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    lowered_headers: Mapping[str, str],
    signed_headers: Iterable[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request over exactly ``signed_headers`` (public for tests/tools)."""
    names = sorted(signed_headers)
    header_lines = "".join(f"{name}:{_trimall(lowered_headers[name])}\n" for name in names)
    return "\n".join(
        [
            method,  # as received: HTTP methods are case-sensitive
            quote(path or "/", safe="/~"),
            canonical_query_string(query),
            header_lines,
            ";".join(names),
            payload_hash,
        ]
    )


def canonical_query_string(query: Iterable[tuple[str, str]]) -> str:
    """Encode every key and value, then sort by encoded key, then encoded value."""
    encoded = sorted((_uri_encode(key), _uri_encode(value)) for key, value in query)
    return "&".join(f"{key}={value}" for key, value in encoded)


def signing_key(secret_access_key: str, scope_date: str, region: str, service: str) -> bytes:
    """Derive the per-day, per-region, per-service key from the secret."""
    key = _hmac(f"AWS4{secret_access_key}".encode(), scope_date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _parse_authorization(value: str | None) -> _Authorization:
    if not value:
        raise SignatureError("missing Authorization header")
    match = _AUTHORIZATION_RE.fullmatch(value.strip())
    if match is None:
        raise SignatureError(
            "malformed Authorization header (expected AWS4-HMAC-SHA256 Credential=..., "
            "SignedHeaders=..., Signature=<64 hex digits>)"
        )
    credential = match["credential"].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request" or not all(credential):
        raise SignatureError(
            "malformed credential scope (expected <key>/<yyyymmdd>/<region>/<service>/aws4_request)"
        )
    signed_headers = match["signed_headers"]
    if not _SIGNED_HEADERS_RE.fullmatch(signed_headers):
        raise SignatureError("malformed SignedHeaders (lower-case names separated by ';')")
    return _Authorization(
        access_key_id=credential[0],
        scope_date=credential[1],
        region=credential[2],
        service=credential[3],
        signed_headers=tuple(signed_headers.split(";")),
        signature=match["signature"],
    )


def _check_scope(auth: _Authorization, *, region: str, service: str) -> None:
    if auth.service != service:
        raise SignatureError(f"credential scope service must be {service}")
    if auth.region != region:
        raise SignatureError(f"credential scope region must be {region}")


def _check_signed_headers_present(signed: tuple[str, ...], lowered: Mapping[str, str]) -> None:
    for required in _REQUIRED_SIGNED_HEADERS:
        if required not in signed:
            raise SignatureError(f"SignedHeaders must include {required}")
    missing = [name for name in signed if name not in lowered]
    if missing:
        raise SignatureError(f"signed header missing from request: {missing[0]}")


def _check_date(
    amz_date: str, scope_date: str, *, now: datetime | None, max_skew: timedelta
) -> datetime:
    try:
        when = datetime.strptime(amz_date, _AMZ_DATE_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise SignatureError("malformed X-Amz-Date (expected YYYYMMDDTHHMMSSZ)") from None
    if when.strftime(_AMZ_DATE_FORMAT) != amz_date:
        raise SignatureError("malformed X-Amz-Date (expected YYYYMMDDTHHMMSSZ)")
    if amz_date[:8] != scope_date:
        raise SignatureError("credential scope date does not match X-Amz-Date")
    current = now or datetime.now(timezone.utc)
    if abs(current - when) > max_skew:
        minutes = int(max_skew.total_seconds() // 60)
        raise SignatureError(f"request expired (X-Amz-Date outside {minutes} minutes)")
    return when


def _payload_hash(declared: str | None, body: bytes) -> str:
    actual = hashlib.sha256(body).hexdigest()
    if declared is not None and not _same(declared, actual):
        raise SignatureError("body does not match X-Amz-Content-SHA256")
    return actual


def _check_session_token(principal: Principal, sent: str | None) -> None:
    expected = principal.session_token
    if expected is None and sent is None:
        return
    if expected is None:
        raise SignatureError("unexpected X-Amz-Security-Token for a long-term key")
    if sent is None:
        raise SignatureError("missing X-Amz-Security-Token")
    if not _same(expected, sent):
        raise SignatureError("invalid X-Amz-Security-Token")


def _signature(secret: str, auth: _Authorization, when: datetime, canonical: str) -> str:
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            when.strftime(_AMZ_DATE_FORMAT),
            auth.scope,
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    key = signing_key(secret, auth.scope_date, auth.region, auth.service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _same(left: str, right: str) -> bool:
    # Constant time; compare_digest refuses non-ASCII str, so compare the encoded bytes.
    return hmac.compare_digest(left.encode("utf-8", "surrogatepass"),
                               right.encode("utf-8", "surrogatepass"))


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def _trimall(value: str) -> str:
    # SigV4 "Trimall": strip, and collapse runs of spaces (only spaces: a tab stays a tab, so
    # swapping a space for a tab changes the signature).
    return _SPACES_RE.sub(" ", value.strip())
