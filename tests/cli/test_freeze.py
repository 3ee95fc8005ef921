"""``fabu freeze`` / ``fabu thaw`` and a promote through the freeze, against the live local stack:
freeze → status → a promote refused (the API's message, exit 1) → a promote with
``--override-freeze --reason`` goes through and is recorded → thaw; and the usage errors (exit 2)."""
import datetime

from tests.cli.support import PROJECT_YAML, fabu, ready_release, write_yaml
from tests.conftest import ADMIN_ARN


def _events(live, kind):
    items = live.request("GET", "/api/v1/project/shop/events?limit=200").json()["events"]
    return [e for e in items if e["kind"] == kind]


def test_freeze_status_refused_promote_override_and_thaw(live, tmp_path):
    assert fabu(live, "project", "create", "-f", write_yaml(tmp_path, PROJECT_YAML))[0] == 0
    ready_release("shop", "1.0.0")

    code, out, err = fabu(live, "freeze")
    assert (code, out.strip()) == (0, "the stage is not frozen"), err
    until = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    code, out, err = fabu(live, "freeze", "--reason", "end-of-year change freeze", "--until", until)
    assert code == 0, err
    assert f"the stage is now frozen by {ADMIN_ARN}" in out and f"until {until}" in out
    assert "end-of-year change freeze" in out

    code, out, err = fabu(live, "freeze", "--reason", "a second one")
    assert code == 1 and "HTTP 409" in err and "already frozen: end-of-year change freeze" in err
    code, out, err = fabu(live, "freeze", "--reason", "incident 42", "--replace")
    assert code == 0 and "replaced the freeze" in out and "until it is thawed" in out, err

    code, out, err = fabu(live, "freeze", "status")
    assert code == 0, err
    assert f"the stage is frozen by {ADMIN_ARN}" in out and "incident 42" in out
    assert "stage.frozen" in out                           # the latest freezes and thaws
    assert fabu(live, "-o", "json", "freeze")[1].count('"frozen": true') == 1

    live.tick()                                            # the rollout is held by the freeze
    shown = live.request("GET", "/api/v1/project/shop").json()["rollout"]
    assert shown["reason"] == f"frozen: incident 42 (by {ADMIN_ARN})"
    code, out, err = fabu(live, "show", "shop")               # the rollout view says why it waits
    assert f"freeze: the stage is frozen by {ADMIN_ARN} until thawed: incident 42" in out
    code, out, err = fabu(live, "promote", "shop")
    assert code == 1 and "HTTP 409" in err and "frozen" in err, (out, err)

    code, out, err = fabu(live, "promote", "shop", "--override-freeze")
    assert code == 2 and "--override-freeze needs --reason" in err
    code, out, err = fabu(live, "promote", "shop", "--reason", "why")
    assert code == 2 and "--reason goes with --override-freeze" in err
    assert _events(live, "rollout.freeze_override") == []

    code, out, err = fabu(live, "promote", "shop", "--override-freeze", "--reason", "hotfix CVE-2026-1")
    assert code == 0, (out, err)
    assert "running" in out
    override = _events(live, "rollout.freeze_override")
    assert len(override) == 1 and override[0]["actor"] == ADMIN_ARN
    assert "hotfix CVE-2026-1" in override[0]["message"]
    code, out, err = fabu(live, "events", "shop")
    assert "rollout.freeze_override" in out and "hotfix CVE-2026-1" in out

    code, out, err = fabu(live, "thaw")
    assert code == 0 and "the stage is thawed (it was frozen by" in out and "incident 42" in out, err
    code, out, err = fabu(live, "thaw")
    assert code == 1 and "HTTP 404" in err and "the stage is not frozen" in err
    code, out, err = fabu(live, "freeze", "status")
    assert code == 0 and out.startswith("the stage is not frozen") and "stage.thawed" in out


def test_freeze_usage_errors(live):
    code, out, err = fabu(live, "freeze", "--until", "2027-01-04T08:00:00Z")
    assert code == 2 and "--reason is required" in err
    code, out, err = fabu(live, "freeze", "--reason", "x", "--until", "yesterday")
    assert code == 1 and "until" in err                    # the API's field message
    assert fabu(live, "freeze")[1].strip() == "the stage is not frozen"
