"""``notify`` and ``gates``: webhook URLs, secrets, limits, and their stored form."""
import pytest

from chalicelib.errors import ValidationError
from chalicelib.projects import hooks, validation
from chalicelib.projects.checks import Errors
from tests.conftest import base_project


def test_webhooks_must_be_https_outside_the_local_stage():
    body = base_project(notify={"webhooks": ["http://hooks.example.com/x"]})
    with pytest.raises(ValidationError) as caught:
        validation.validate_project(body, local=False)
    assert "notify.webhooks[0].url" in caught.value.fields
    assert validation.validate_project(body, local=True)["notify"]["webhooks"] == [
        {"url": "http://hooks.example.com/x"}]


def test_a_webhook_needs_a_secret_when_the_stage_has_none(monkeypatch):
    monkeypatch.delenv("FABU_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ValidationError) as caught:
        validation.validate_project(base_project(notify={"webhooks": ["https://h.example.com/x"]}))
    assert "notify.webhooks[0].secret" in caught.value.fields
    ok = base_project(notify={"webhooks": [{"url": "https://h.example.com/x", "secret": "ssm:/fabu/hook"}]})
    assert validation.validate_project(ok)["notify"]["webhooks"][0]["secret"] == "ssm:/fabu/hook"


def test_webhook_fields_and_limits(monkeypatch):
    monkeypatch.setenv("FABU_WEBHOOK_SECRET", "stage-secret")
    errors = Errors()
    hooks.validate_notify(errors, {"webhooks": [
        {"url": "https://h.example.com/x", "timeout_seconds": 61, "deadline_seconds": 0, "retries": 3},
        {"url": "https://u:pw@h.example.com/x"},
    ] + ["https://h.example.com/x"] * 9, "topic": "x"}, local=False)
    assert errors.fields == {
        "notify.topic": "unknown field",
        "notify.webhooks": "at most 10 webhooks",
        "notify.webhooks[0].retries": "unknown field",
        "notify.webhooks[0].timeout_seconds": "must be between 1 and 60",
        "notify.webhooks[0].deadline_seconds": "must be between 1 and 604800",
        "notify.webhooks[1].url": "must not carry a password: use source.credentials (an SSM or "
                                  "Secrets Manager reference)"}


def test_gates_are_before_wave_and_after_only(monkeypatch):
    monkeypatch.setenv("FABU_WEBHOOK_SECRET", "stage-secret")
    errors = Errors()
    hooks.validate_gates(errors, {"before_wave": "https://g.example.com/", "during": "https://g.example.com/",
                                  "after": {"url": "ftp://g.example.com/"}}, local=False)
    assert errors.fields == {"gates.during": "unknown gate: use before_wave or after",
                             "gates.after.url": "scheme must be one of https"}


def test_bare_urls_are_stored_as_objects():
    clean = {"notify": {"webhooks": ["https://a.example.com/", {"url": "https://b.example.com/"}]},
             "gates": {"after": "https://g.example.com/"}}
    hooks.normalise_hooks(clean)
    assert clean == {"notify": {"webhooks": [{"url": "https://a.example.com/"}, {"url": "https://b.example.com/"}]},
                     "gates": {"after": {"url": "https://g.example.com/"}}}
