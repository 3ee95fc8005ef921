"""Signed webhook POSTs: the signature a receiver checks, what counts as an answer, what fails."""
import hashlib
import hmac
import os
import socket

import pytest

from chalicelib.notify import webhooks
from tests.support.receiver import Receiver

SECRET = "s3cret-for-tests"


def _hook(receiver, **extra):
    return dict({"url": receiver.url, "secret": SECRET, "timeout_seconds": 1}, **extra)


def test_the_signature_is_the_hmac_sha256_of_the_exact_body():
    body = b'{"id": "e-1"}'
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert webhooks.signature(body, SECRET) == f"sha256={expected}"
    assert webhooks.signature(body + b" ", SECRET) != webhooks.signature(body, SECRET)


def test_a_described_url_keeps_no_path_or_query():
    assert webhooks.describe_url("https://hooks.slack.com/services/T0/B0/SeCrEt?x=1") == \
        "https://hooks.slack.com"


def test_any_answer_is_a_status_and_only_2xx_passes():
    with Receiver(SECRET, plan=[200, 403, 500]) as receiver:
        hook = _hook(receiver)
        assert webhooks.post_or_fail(hook, {"id": "e-1"}, event_id="e-1") == 200
        assert webhooks.post_signed(hook, {"id": "e-2"}) == 403
        with pytest.raises(webhooks.DeliveryError, match=r"^after gate http://127\.0\.0\.1:\d+ answered HTTP 500$"):
            webhooks.post_or_fail(hook, {"id": "e-3"}, what="after gate ")
    first = receiver.requests[0]
    assert first["signature_ok"] and first["headers"]["X-Fabu-Event-Id"] == "e-1"
    assert "X-Fabu-Event-Id" not in receiver.requests[1]["headers"]


def test_a_redirect_is_not_followed_and_fails_the_delivery():
    with Receiver(SECRET) as target, Receiver(SECRET, default=307, location=target.url) as hook_end:
        with pytest.raises(webhooks.DeliveryError, match="answered HTTP 307"):
            webhooks.post_or_fail(_hook(hook_end), {"id": "e-1"})
    assert len(hook_end.requests) == 1 and target.requests == []


def test_timeouts_and_refused_connections_fail_naming_the_host_only():
    with Receiver(SECRET, plan=["timeout"], hang_seconds=2) as receiver:
        with pytest.raises(webhooks.DeliveryError, match="timed out") as caught:
            webhooks.post_signed(_hook(receiver), {"id": "e-1"})
    assert "/hook" not in caught.value.message
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: the connection is refused
        with pytest.raises(webhooks.DeliveryError, match=f"^http://127.0.0.1:{port}: ") as caught:
            webhooks.post_signed({"url": f"http://127.0.0.1:{port}/secret-path", "secret": SECRET}, {})
    assert "secret-path" not in caught.value.message


def test_a_secret_reference_signs_with_the_stored_value(aws):
    from tests.conftest import boto_client
    boto_client("ssm").put_parameter(Name="/fabu/hook", Value=SECRET, Type="SecureString")
    with Receiver(SECRET) as receiver:
        assert webhooks.post_signed(_hook(receiver, secret="ssm:/fabu/hook"), {"id": "e-1"}) == 200
    assert receiver.requests[0]["signature_ok"]


def test_a_secret_reference_that_cannot_be_read_is_a_delivery_failure(aws):
    """Bug fixed: it raised SecretError, which the notifier and the before-wave gate do not catch."""
    with Receiver(SECRET) as receiver:
        with pytest.raises(webhooks.DeliveryError, match="'ssm:/fabu/missing' does not exist") as caught:
            webhooks.post_signed(_hook(receiver, secret="ssm:/fabu/missing"), {"id": "e-1"})
    assert caught.value.message.startswith("http://127.0.0.1:")
    assert receiver.requests == []  # never sent unsigned


def test_a_webhook_is_checked_again_when_it_is_sent(monkeypatch):
    """Saved while allowed, sent after the stage's rule changed: refused, nothing reaches it."""
    monkeypatch.setenv("FABU_STAGE", "dev")
    monkeypatch.setenv("FABU_ALLOWED_NETWORKS", "127.0.0.1/32")
    with Receiver(SECRET) as receiver:
        assert webhooks.post_signed(_hook(receiver), {"id": "e-1"}) == 200
        monkeypatch.delenv("FABU_ALLOWED_NETWORKS")
        with pytest.raises(webhooks.DeliveryError) as caught:
            webhooks.post_signed(_hook(receiver), {"id": "e-2"})
    assert caught.value.message == (
        f"{webhooks.describe_url(receiver.url)}: refused: 127.0.0.1 is a loopback address "
        "(127.0.0.0/8); allowed outside stage local only inside a network listed in "
        "FABU_ALLOWED_NETWORKS")
    assert [r["body"]["id"] for r in receiver.requests] == ["e-1"]


@pytest.mark.parametrize("url, reason", [
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254 is an AWS-internal address"),
    ("{endpoint}/moto-api/data.json", "the stage's own AWS endpoint"),
    ("{localhost}/moto-api/data.json", "localhost resolves to 127.0.0.1:"),
], ids=["metadata", "metadata-ipv6", "emulator", "emulator-by-name"])
def test_metadata_and_the_emulator_are_never_sent_to(url, reason):
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # the worker's own emulator: known only at run time
    url = url.format(endpoint=endpoint, localhost=endpoint.replace("127.0.0.1", "localhost"))
    with pytest.raises(webhooks.DeliveryError, match="refused: ") as caught:
        webhooks.post_signed({"url": url, "secret": SECRET, "timeout_seconds": 30}, {"id": "e-1"})
    assert reason in caught.value.message
    assert "meta-data" not in caught.value.message and "moto-api" not in caught.value.message
