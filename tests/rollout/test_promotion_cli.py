"""``fabu promote-release`` against the live local stack: a refusal naming the upstream's state
(exit 1), ``--force`` without ``--reason`` (exit 2), a forced promotion, a second run that finds
it done, and the chain in ``fabu show``."""
from tests.cli.support import fabu, ready_release
from tests.conftest import base_project


def _create(live, **overrides):
    response = live.request("POST", "/api/v1/project", base_project(**overrides))
    assert response.status_code == 201, response.text


def test_promote_release_from_the_cli(live):
    _create(live, name="staging", version="2.1.0", hosts=["stg-1.example.com"])
    ready_release("staging", "2.1.0")
    live.tick()                                   # staging's rollout runs; its host never polls
    _create(live, name="prod", version="2.0.0", hosts=["prd-1.example.com"],
            promote_from={"project": "staging"})

    code, out, err = fabu(live, "promote-release", "prod", "--version", "2.1.0")
    assert code == 1 and "HTTP 409" in err, err
    assert "staging's rollout of 2.1.0 is running (wave 1 of 1)" in err
    code, out, err = fabu(live, "promote-release", "prod", "--force")
    assert code == 2 and "--force needs --reason" in err
    code, out, err = fabu(live, "show", "prod")
    assert code == 0 and "promote  from staging's rollout of 2.1.0 is running" in out, err

    code, out, err = fabu(live, "promote-release", "prod", "--force", "--reason", "INC-42 hotfix")
    assert code == 0, err
    assert "promoted prod 2.1.0 from staging (sha256 " in out and "forced: INC-42 hotfix" in out
    code, out, err = fabu(live, "promote-release", "prod", "--version", "2.1.0", "--force",
                          "--reason", "again")
    assert code == 0 and "already promoted, nothing changed" in out, err
    shown = live.request("GET", "/api/v1/project/prod").json()
    assert shown["version"] == "2.1.0" and shown["release"]["promoted_from"]["reason"] == "INC-42 hotfix"
