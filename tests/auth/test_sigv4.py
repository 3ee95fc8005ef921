"""The pure SigV4 verifier against requests signed by botocore's own SigV4Auth."""

import dataclasses
import datetime
import hashlib
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.auth.sigv4 import Principal, SignatureError, verify_request
from tests.support.auth import REGION, sign

NOW = datetime.datetime(2026, 11, 26, 12, 0, 0, tzinfo=datetime.timezone.utc)
HOST = Principal("AKIAHOSTWEB100000001", "host-secret/abc+def", "arn:aws:iam::000000000000:user/fabu-hosts/web-1")
SESSION = Principal(
    "ASIASESSION000000001",
    "session-secret",
    "arn:aws:sts::000000000000:assumed-role/fabu-host/web-3",
    session_token="IQoJb3JpZ2luX2VjEFAaCXVzLWVhc3QtMSJGMEQCIB" * 4,
)
KEYS = {p.access_key_id: p for p in (HOST, SESSION)}
BASE = "http://127.0.0.1:8000"


@dataclasses.dataclass
class Wire:
    """A request as the server receives it: what verify_request takes."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def verify(self, *, now=NOW, region=REGION, lookup=KEYS.get, **kwargs):
        return verify_request(
            self.method, self.path, self.query, self.headers, self.body,
            region=region, lookup=lookup, now=now, **kwargs,
        )


def signed(
    method="GET",
    path="/api/v1/web-1",
    query=(),
    body=b"",
    principal=HOST,
    headers=None,
    when=NOW,
    **sign_kwargs,
) -> Wire:
    """Sign with botocore, then take the request apart as the server would see it."""
    query_string = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    url = f"{BASE}{path}" + (f"?{query_string}" if query_string else "")
    sent = sign(method, url, principal, body=body, headers=headers, when=when, **sign_kwargs)
    return Wire(method, path, list(query), sent, body)


def test_accepts_a_botocore_signed_get():
    assert signed().verify() == HOST


def test_accepts_a_signed_post_body_with_or_without_a_content_hash_header():
    body = b'{"phase": "do-deploy", "status": "ok"}'
    digest = hashlib.sha256(body).hexdigest()
    assert signed("POST", "/api/v1/web-1/report", body=body).verify() == HOST
    with_hash = signed("POST", "/api/v1/web-1/report", body=body,
                       headers={"X-Amz-Content-SHA256": digest})
    assert "x-amz-content-sha256" in with_hash.headers["Authorization"]
    assert with_hash.verify() == HOST


def test_accepts_repeated_query_params_in_any_order():
    wire = signed(query=[("tag", "b"), ("x", "a b/c"), ("tag", "a"), ("empty", "")])
    wire.query.reverse()  # the server's parser may group or reorder them
    assert wire.verify() == HOST


def test_accepts_a_session_token_and_requires_it_for_temporary_keys():
    assert signed(principal=SESSION, path="/api/v1/web-3").verify() == SESSION
    wire = signed(principal=SESSION, path="/api/v1/web-3", only=["host", "x-amz-date"])
    assert wire.verify() == SESSION  # the token need not be signed (curl does not), but sent
    del wire.headers["X-Amz-Security-Token"]
    with pytest.raises(SignatureError, match="missing X-Amz-Security-Token"):
        wire.verify()


def test_rejects_a_session_token_that_is_not_the_issued_one():
    wire = signed(principal=SESSION, path="/api/v1/web-3", session_token="forged-token")
    with pytest.raises(SignatureError, match="invalid X-Amz-Security-Token"):
        wire.verify()


def test_rejects_a_session_token_sent_with_a_long_term_key():
    with pytest.raises(SignatureError, match="unexpected X-Amz-Security-Token"):
        signed(session_token="some-token").verify()


def test_unsigned_headers_may_change_but_signed_ones_may_not():
    wire = signed(headers={"Content-Type": "application/json"})
    wire.headers["User-Agent"] = "added-after-signing"
    assert wire.verify() == HOST
    wire.headers["Content-Type"] = "text/plain"
    with pytest.raises(SignatureError, match="signature mismatch"):
        wire.verify()


def test_honours_a_client_that_signs_only_host_and_date():
    """What curl 7.88 does: SignedHeaders=host;x-amz-date and no content hash header."""
    curl_like = signed("POST", body=b"payload", headers={"Content-Type": "text/plain"},
                       only=["host", "x-amz-date"])
    assert "SignedHeaders=host;x-amz-date," in curl_like.headers["Authorization"]
    assert curl_like.verify() == HOST
    curl_like.headers["Content-Type"] = "application/json"  # not signed, so free to change
    assert curl_like.verify() == HOST
    curl_like.body = b"payloaD"  # but the body always is
    with pytest.raises(SignatureError, match="signature mismatch"):
        curl_like.verify()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda w: w.headers.pop("Authorization"), "missing Authorization header"),
        (lambda w: w.headers.update(Authorization="Bearer abc"), "malformed Authorization"),
        (lambda w: setattr(w, "path", "/api/v1/web-2"), "signature mismatch"),
        (lambda w: w.query.append(("extra", "1")), "signature mismatch"),
        (lambda w: setattr(w, "query", [("tag", "evil")]), "signature mismatch"),
        (lambda w: setattr(w, "body", b"rm -rf /"), "signature mismatch"),
        (lambda w: setattr(w, "method", "DELETE"), "signature mismatch"),
        (lambda w: w.headers.update(Host="evil.example"), "signature mismatch"),
        (lambda w: w.headers.update({"X-Amz-Content-SHA256": "0" * 64}), "body does not match"),
        (lambda w: w.headers.pop("X-Amz-Date"), "signed header missing from request: x-amz-date"),
        (lambda w: w.headers.update({"X-Amz-Date": "20261126T120001Z"}), "signature mismatch"),
        (lambda w: w.headers.update({"X-Amz-Date": "yesterday"}), "malformed X-Amz-Date"),
        (lambda w: w.headers.update({"X-Amz-Date": "20261125T235959Z"}), "scope date"),
    ],
    ids=[
        "unsigned", "not-sigv4", "path", "query-added", "query-changed", "body", "method", "host",
        "content-hash", "no-date", "date-changed", "date-garbage", "date-not-scope-date",
    ],
)
def test_rejects_a_tampered_or_incomplete_request(tamper, reason):
    wire = signed(query=[("tag", "v1")])
    tamper(wire)
    with pytest.raises(SignatureError, match=reason):
        wire.verify()


def test_rejects_a_wrong_secret_and_an_unknown_key():
    with pytest.raises(SignatureError, match="signature mismatch"):
        signed(secret="not-the-secret").verify()
    stranger = Principal("AKIASTRANGER00000000", "s", "arn:aws:iam::000000000000:user/x")
    with pytest.raises(SignatureError, match="unknown access key"):
        signed(principal=stranger).verify()


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [(datetime.timedelta(minutes=-4, seconds=-59), True), (datetime.timedelta(minutes=4, seconds=59), True),
     (datetime.timedelta(minutes=-5, seconds=-1), False), (datetime.timedelta(minutes=5, seconds=1), False)],
)
def test_clock_skew_is_at_most_five_minutes_either_way(offset, accepted):
    wire = signed(when=NOW + offset)
    if accepted:
        assert wire.verify() == HOST
    else:
        with pytest.raises(SignatureError, match=r"request expired \(X-Amz-Date outside 5 minutes\)"):
            wire.verify()


def test_service_and_region_are_pinned():
    with pytest.raises(SignatureError, match="credential scope service must be execute-api"):
        signed(service="s3").verify()
    with pytest.raises(SignatureError, match="credential scope region must be us-east-1"):
        signed(region="eu-west-1").verify()


@pytest.mark.parametrize("dropped", ["host", "x-amz-date"])
def test_host_and_date_must_be_signed(dropped):
    kept = [name for name in ("content-type", "host", "x-amz-date") if name != dropped]
    wire = signed(headers={"Content-Type": "text/plain"}, only=kept)
    with pytest.raises(SignatureError, match=f"SignedHeaders must include {dropped}"):
        wire.verify()


def test_no_rejection_echoes_a_secret_or_the_signature():
    attempts = [
        signed(secret="wrong"), signed(service="s3"), signed(when=NOW - datetime.timedelta(hours=1)),
        signed(principal=SESSION, session_token="forged"), signed(body=b"x"),
    ]
    attempts[-1].body = b"y"
    for wire in attempts:
        with pytest.raises(SignatureError) as caught:
            wire.verify()
        message = str(caught.value)
        signature = wire.headers["Authorization"].rsplit("=", 1)[1]
        for secret in (HOST.secret_access_key, SESSION.secret_access_key, SESSION.session_token,
                       signature, "forged"):
            assert secret not in message


# --- property: no single-byte change of a signed request is accepted ------------------------


def _mutable_parts(wire: Wire) -> list[str]:
    signed_names = wire.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    header_names = [n for n in wire.headers if n.lower() in signed_names or n == "Authorization"]
    return (
        ["method", "path", "body"]
        + [f"query-key:{i}" for i in range(len(wire.query))]
        + [f"query-value:{i}" for i in range(len(wire.query))]
        + [f"header-value:{name}" for name in header_names]
        + [f"header-name:{name}" for name in header_names]
    )


def _valid_for_property() -> Wire:
    body = b'{"project": "shop", "phase": "post-deploy", "status": "ok"}'
    return signed(
        "POST", "/api/v1/web-3/report", query=[("a", "1"), ("tag", "x y"), ("a", "0")], body=body,
        principal=SESSION, headers={"Content-Type": "application/json",
                                    "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()},
    )


def _replace_at(text, index, new):
    return text[:index] + new + text[index + 1:]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_single_byte_mutation_of_a_signed_request_is_accepted(data):
    wire = _valid_for_property()
    assert wire.verify() == SESSION
    part = data.draw(st.sampled_from(_mutable_parts(wire)), label="part")
    kind, _, name = part.partition(":")
    if kind == "body":
        index = data.draw(st.integers(0, len(wire.body) - 1), label="index")
        byte = data.draw(st.integers(0, 255).filter(lambda b: b != wire.body[index]), label="byte")
        wire.body = wire.body[:index] + bytes([byte]) + wire.body[index + 1:]
    else:
        original = _get_part(wire, kind, name)
        index = data.draw(st.integers(0, len(original) - 1), label="index")
        char = data.draw(st.characters(codec="latin-1").filter(lambda c: c != original[index]),
                         label="char")
        mutated = _replace_at(original, index, char)
        if kind == "header-name" and mutated.lower() == original.lower():
            return  # header names are case-insensitive: not a change of the request
        _set_part(wire, kind, name, mutated)
    with pytest.raises(SignatureError):
        wire.verify()


def _get_part(wire: Wire, kind: str, name: str) -> str:
    if kind in ("method", "path"):
        return getattr(wire, kind)
    if kind.startswith("query"):
        return wire.query[int(name)][0 if kind == "query-key" else 1]
    return name if kind == "header-name" else wire.headers[name]


def _set_part(wire: Wire, kind: str, name: str, value: str) -> None:
    if kind in ("method", "path"):
        setattr(wire, kind, value)
    elif kind.startswith("query"):
        key, old = wire.query[int(name)]
        wire.query[int(name)] = (value, old) if kind == "query-key" else (key, value)
    elif kind == "header-name":
        wire.headers[value] = wire.headers.pop(name)
    else:
        wire.headers[name] = value


def test_unsigned_payload_is_refused_because_the_body_must_be_hashed():
    wire = signed("POST", body=b"x", headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(SignatureError, match="body does not match X-Amz-Content-SHA256"):
        wire.verify()


def test_text_that_no_client_could_have_signed_is_refused_not_crashed_on():
    wire = signed()
    wire.path = "/api/v1/web-\udc80"
    with pytest.raises(SignatureError, match="not valid Unicode"):
        wire.verify()
