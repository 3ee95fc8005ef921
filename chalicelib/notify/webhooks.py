"""Signed webhook POSTs: the one place a fabu message leaves over HTTP (notifications, gates).

Every body is JSON signed with ``X-Fabu-Signature: sha256=<hex HMAC-SHA256 of the body>`` using
the hook's secret (a value, or an ``ssm:``/``secretsmanager:`` reference), else the stage's
``FABU_WEBHOOK_SECRET``. Redirects are answers, not approvals: they fail the delivery. Every
failure to send (an unreadable secret reference included) is a ``DeliveryError``.

Connections obey ``chalicelib.netguard`` (``netclients.opener``): the URL's host is resolved once
per delivery, every address checked (a name re-pointed since the project was saved is caught)
and the request goes to a checked address; a refusal is a ``DeliveryError`` naming the address.
"""
import hashlib
import hmac
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request

from botocore.exceptions import BotoCoreError

from chalicelib import netclients, netguard, secrets
from chalicelib.errors import FabuError

log = logging.getLogger("fabu.notify")

SIGNATURE_HEADER = "X-Fabu-Signature"
DEFAULT_TIMEOUT = 5


class DeliveryError(FabuError):
    """A notification target could not be reached or refused the delivery."""
    status = 502


def signature(body_bytes: bytes, secret: str) -> str:
    """``sha256=<hex>``: the value of ``X-Fabu-Signature`` for ``body_bytes``."""
    return f"sha256={hmac.new(secret.encode(), body_bytes, hashlib.sha256).hexdigest()}"


def _secret_of(hook: dict) -> str | None:
    """The signing key: resolved when a reference; DeliveryError (naming it) when unreadable."""
    secret = hook.get("secret") or os.environ.get("FABU_WEBHOOK_SECRET") or None
    if secret and secrets.is_reference(secret):
        try:
            return secrets.resolve(secret)
        except (secrets.SecretError, BotoCoreError) as exc:
            raise DeliveryError(f"{describe_url(hook['url'])}: {exc}") from None
    return secret


def describe_url(url: str) -> str:
    """The URL without its path (a Slack webhook's path is its credential)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


_OPENER = netclients.opener(redirects=False)  # a 3xx is an answer, not an approval


def post_signed(hook: dict, body: dict, *, event_id: str | None = None) -> int:
    """POST ``body`` as JSON to ``hook["url"]``, signed; the HTTP status, or DeliveryError.

    Any answer (2xx or not) is returned; a timeout, a refused connection or a broken answer
    raises ``DeliveryError`` naming the target (never its secret or path).
    """
    data = json.dumps(body, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "fabu-notifier"}
    secret = _secret_of(hook)
    if secret:
        headers[SIGNATURE_HEADER] = signature(data, secret)
    else:
        log.warning("webhook %s has no secret and FABU_WEBHOOK_SECRET is unset: sent unsigned",
                    describe_url(hook["url"]))
    if event_id:
        headers["X-Fabu-Event-Id"] = event_id
    request = urllib.request.Request(hook["url"], data=data, headers=headers, method="POST")
    timeout = int(hook.get("timeout_seconds") or DEFAULT_TIMEOUT)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except netguard.Refused as exc:
        raise DeliveryError(f"{describe_url(hook['url'])}: refused: {exc.message}") from None
    except (OSError, ValueError) as exc:  # URLError, timeouts, resets, bad URLs
        raise DeliveryError(f"{describe_url(hook['url'])}: {getattr(exc, 'reason', exc)}") from None


def post_or_fail(hook: dict, body: dict, *, event_id: str | None = None, what: str = "") -> int:
    """``post_signed``, and DeliveryError unless the answer is 2xx (``what`` names the hook)."""
    status = post_signed(hook, body, event_id=event_id)
    if not 200 <= status < 300:
        raise DeliveryError(f"{what}{describe_url(hook['url'])} answered HTTP {status}")
    return status
