"""Webhook secrets in and out: inline secrets are shown as ``********`` and survive a round trip.

References (``ssm:/...``, ``secretsmanager:...``) are shown as they are. A webhook sent back with
the redacted secret keeps the secret stored for the same URL; for a new URL it is a 400.
"""
import copy
from collections.abc import Iterator

from chalicelib.errors import ValidationError
from chalicelib.projects.schema import SECRET_REF_PREFIXES

REDACTED = "********"


def _hooks(spec: dict) -> Iterator:
    """Every webhook of a spec or of a change (notify webhooks and gates)."""
    yield from (spec.get("notify") or {}).get("webhooks", [])
    yield from (spec.get("gates") or {}).values()


def redact(spec: dict) -> dict:
    """A copy of ``spec`` with inline webhook secrets hidden."""
    redacted = copy.deepcopy(spec)
    for hook in _hooks(redacted):
        if isinstance(hook, dict) and hook.get("secret") \
                and not hook["secret"].startswith(SECRET_REF_PREFIXES):
            hook["secret"] = REDACTED
    return redacted


def keep_secrets(changes: dict, stored: dict) -> None:
    """Put the stored secret back into every webhook of ``changes`` sent with ``REDACTED``."""
    known = {hook.get("url"): hook.get("secret") for hook in _hooks(stored) if isinstance(hook, dict)}
    for hook in _hooks(changes):
        if isinstance(hook, dict) and hook.get("secret") == REDACTED:
            if known.get(hook.get("url")):
                hook["secret"] = known[hook["url"]]
            else:
                raise ValidationError("a redacted webhook secret was sent for a new URL",
                                      {"secret": f"send the real secret for {hook.get('url')}"})
