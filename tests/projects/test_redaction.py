"""Webhook secrets: never shown, kept on a round trip, refused for a new URL."""
import pytest

from chalicelib.errors import ValidationError
from chalicelib.models import Project
from chalicelib.projects import redaction
from tests.conftest import base_project

SECRET = "s3cr3t-value"
HOOK = {"url": "https://hooks.example.com/fabu", "secret": SECRET}


def test_webhook_secrets_are_never_shown_and_survive_a_round_trip(api):
    created = api.post("/api/v1/project", base_project(notify={"webhooks": [HOOK]}))
    assert created.status == 201
    assert SECRET not in created.body.decode()
    shown = api.get("/api/v1/project/web").json["notify"]["webhooks"][0]
    assert shown == {"url": "https://hooks.example.com/fabu", "secret": "********"}
    assert api.put("/api/v1/project/web", {"notify": {"webhooks": [shown]}}).status == 200
    assert Project.get("web").spec["notify"]["webhooks"][0]["secret"] == SECRET
    moved = api.put("/api/v1/project/web", {"notify": {"webhooks": [
        {"url": "https://other.example.com/x", "secret": "********"}]}})
    assert moved.status == 400


def test_a_scheduled_update_does_not_show_its_webhook_secrets(api):
    """Regression: ``pending.changes`` used to be shown as stored, inline secrets included."""
    api.post("/api/v1/project", base_project())
    scheduled = api.put("/api/v1/project/web", {"notify": {"webhooks": [HOOK]},
                                                "gates": {"after": HOOK},
                                                "apply_at": "2099-01-01T00:00:00Z"})
    assert scheduled.status == 200
    assert SECRET not in scheduled.body.decode()
    shown = api.get("/api/v1/project/web")
    assert SECRET not in shown.body.decode()
    assert shown.json["pending"]["changes"]["gates"]["after"]["secret"] == "********"
    assert Project.get("web").pending["changes"]["gates"]["after"]["secret"] == SECRET


def test_references_are_shown_and_only_inline_secrets_hidden():
    spec = {"notify": {"webhooks": [HOOK, {"url": "https://b.example.com/", "secret": "ssm:/fabu/b"},
                                    {"url": "https://c.example.com/"}]},
            "gates": {"before_wave": {"url": "https://g.example.com/", "secret": "secretsmanager:g"}}}
    redacted = redaction.redact(spec)
    assert [h.get("secret") for h in redacted["notify"]["webhooks"]] == ["********", "ssm:/fabu/b", None]
    assert redacted["gates"]["before_wave"]["secret"] == "secretsmanager:g"
    assert spec["notify"]["webhooks"][0]["secret"] == SECRET  # the stored spec is untouched


def test_keep_secrets_puts_back_the_stored_secret_of_the_same_url_only():
    changes = {"gates": {"after": {"url": HOOK["url"], "secret": "********"}}}
    redaction.keep_secrets(changes, {"notify": {"webhooks": [HOOK]}})
    assert changes["gates"]["after"]["secret"] == SECRET
    with pytest.raises(ValidationError) as caught:
        redaction.keep_secrets({"notify": {"webhooks": [{"url": "https://x.example.com/", "secret": "********"}]}},
                               {"notify": {"webhooks": [HOOK]}})
    assert caught.value.fields == {"secret": "send the real secret for https://x.example.com/"}
