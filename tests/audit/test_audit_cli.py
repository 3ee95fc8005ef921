"""``fabu audit`` against the live local stack: the table, filters, ``--json``, following pages;
and ``fabu local host-key`` leaving its own entry."""
import json

from tests.cli.support import fabu
from tests.conftest import ADMIN_ARN, add_principal, base_project

ALICE = "arn:aws:iam::000000000000:user/fabu-admins/alice"
ALICE_KEY, ALICE_SECRET = "AKIAFABUTESTAUDITALICE", "alice-audit-secret"


def _act(live):
    add_principal(live.principals_path, ALICE_KEY, ALICE_SECRET, ALICE)
    assert live.request("POST", "/api/v1/project", base_project(name="web"), key=ALICE_KEY,
                        secret=ALICE_SECRET).status_code == 201
    assert live.request("POST", "/api/v1/freeze", {"reason": "cli week"}).status_code == 201
    assert live.request("DELETE", "/api/v1/freeze", key=ALICE_KEY, secret=ALICE_SECRET).status_code == 200


def test_fabu_audit_prints_who_did_what_and_follows_pages(live):
    _act(live)
    code, out, err = fabu(live, "audit")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["time", "actor", "action", "project", "summary"]
    assert [line.split()[1:4] for line in lines[1:]] == [
        [ALICE, "stage.thawed", "-"], [ADMIN_ARN, "stage.frozen", "-"],
        [ALICE, "project.created", "web"]]
    assert "stage frozen: cli week" in out and "project created at version 1.0.0" in out

    code, out, err = fabu(live, "audit", "--actor", ALICE, "--since", "1h", "--json")
    assert code == 0, err
    body = json.loads(out)
    assert [(e["action"], e["project"]) for e in body["entries"]] == [
        ("stage.thawed", "-"), ("project.created", "web")]
    assert body["retention_days"] == 400

    code, out, err = fabu(live, "audit", "--project", "web")
    assert code == 0 and "project.created" in out and "stage." not in out, err

    code, out, err = fabu(live, "-o", "json", "audit", "--limit", "3", "--page-size", "2")
    assert code == 0 and len(json.loads(out)["entries"]) == 3, err     # two pages followed
    code, out, err = fabu(live, "audit", "--limit", "2", "--page-size", "1")
    assert code == 0 and len(out.splitlines()) == 3
    assert "more entries: fabu audit --limit 2 --cursor " in err

    code, out, err = fabu(live, "audit", "--since", "last tuesday")
    assert code == 1 and "since" in err and "ISO 8601" in err


def test_a_minted_and_a_revoked_host_key_are_audited(live):
    env = {"FABU_PRINCIPALS": str(live.principals_path)}
    code, out, err = fabu(live, "local", "host-key", "db-9.example.com", env=env)
    assert code == 0 and "not recorded" not in err, err
    key = next(line.split("=", 1)[1] for line in out.splitlines()
               if line.startswith("AWS_ACCESS_KEY_ID="))
    assert fabu(live, "local", "host-key", "revoke", "db-9.example.com", env=env)[0] == 0
    code, out, err = fabu(live, "-o", "json", "audit", "--project", "-")
    entries = json.loads(out)["entries"]
    assert [(e["actor"], e["action"]) for e in entries] == [(ADMIN_ARN, "key.revoked"),
                                                             (ADMIN_ARN, "key.minted")]
    assert entries[1]["detail"] == {"host": "db-9.example.com", "access_key_id": key, "revoked": []}
    assert entries[0]["detail"] == {"target": "db-9.example.com", "keys": [key]}
    assert "SECRET" not in out and "secret_access_key" not in out
