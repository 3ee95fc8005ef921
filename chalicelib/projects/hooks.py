"""Validators of a project's outbound calls: ``notify`` (SNS topic, webhooks) and ``gates``.

A webhook is a URL or ``{url, secret?, timeout_seconds?, deadline_seconds?}``; every delivery is
signed, so it needs a secret unless the stage has one (``FABU_WEBHOOK_SECRET``). Outside the
local stage webhooks must be HTTPS. Every URL must also pass the network rule of
``chalicelib.netguard`` (``check_url``): no metadata, link-local or AWS endpoint address, and no
private one outside the local stage unless ``FABU_ALLOWED_NETWORKS`` lists it. ``normalise_hooks``
stores every webhook as an object.
"""
import os
from typing import Any

from chalicelib.projects import schema
from chalicelib.projects.checks import Errors, check_int, check_string, check_type, check_url


def _validate_webhook(errors: Errors, path: str, hook: Any, local: bool) -> None:
    if isinstance(hook, str):
        hook = {"url": hook}
    if not check_type(errors, path, hook, dict, "a URL or an object {url, secret?}"):
        return
    for key in hook:
        if key not in schema.WEBHOOK_FIELDS:
            errors.add(f"{path}.{key}", "unknown field")
    schemes = {"https", "http"} if local else {"https"}
    check_url(errors, f"{path}.url", hook.get("url"), schemes, schema.MAX_LENGTHS["url"],
              local=local)
    if "secret" in hook:
        check_string(errors, f"{path}.secret", hook["secret"], schema.MAX_LENGTHS["secret"])
    elif not os.environ.get("FABU_WEBHOOK_SECRET"):
        errors.add(f"{path}.secret", "is required: every delivery is signed with it (a value, or "
                                     "ssm:/... or secretsmanager:...); or set FABU_WEBHOOK_SECRET "
                                     "for the stage")
    for key, (low, high) in schema.WEBHOOK_LIMITS.items():
        if key in hook:
            check_int(errors, f"{path}.{key}", hook[key], low, high)


def validate_notify(errors: Errors, notify: Any, local: bool) -> None:
    """``{sns_topic_arn?, webhooks?}``: a topic ARN and at most ``MAX_WEBHOOKS`` webhooks."""
    if not check_type(errors, "notify", notify, dict, "an object {sns_topic_arn?, webhooks?}"):
        return
    for key in notify:
        if key not in schema.NOTIFY_FIELDS:
            errors.add(f"notify.{key}", "unknown field")
    arn = notify.get("sns_topic_arn")
    if arn is not None and (not isinstance(arn, str) or not schema.SNS_ARN_RE.fullmatch(arn)):
        errors.add("notify.sns_topic_arn", "must be an SNS topic ARN (arn:aws:sns:region:account:name)")
    hooks = notify.get("webhooks", [])
    if check_type(errors, "notify.webhooks", hooks, list, "a list of webhooks"):
        if len(hooks) > schema.MAX_WEBHOOKS:
            errors.add("notify.webhooks", f"at most {schema.MAX_WEBHOOKS} webhooks")
        for i, hook in enumerate(hooks[:schema.MAX_WEBHOOKS]):
            _validate_webhook(errors, f"notify.webhooks[{i}]", hook, local)


def validate_gates(errors: Errors, gates: Any, local: bool) -> None:
    """``{before_wave?, after?}``, each a webhook."""
    if not check_type(errors, "gates", gates, dict, "an object {before_wave?, after?}"):
        return
    for key, hook in gates.items():
        if key not in schema.GATE_NAMES:
            errors.add(f"gates.{key}", "unknown gate: use before_wave or after")
        else:
            _validate_webhook(errors, f"gates.{key}", hook, local)


def normalise_hooks(clean: dict) -> None:
    """Turn every webhook given as a bare URL into ``{"url": ...}`` (in place, on a valid body)."""
    notify = clean.get("notify")
    if isinstance(notify, dict) and "webhooks" in notify:
        notify["webhooks"] = [{"url": h} if isinstance(h, str) else h for h in notify["webhooks"]]
    gates = clean.get("gates") or {}
    for key, hook in gates.items():
        if isinstance(hook, str):
            gates[key] = {"url": hook}
