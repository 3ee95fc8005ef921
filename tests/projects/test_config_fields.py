"""The ``config`` field through the API: names, values, references and the stage's prefixes,
and a config-only change rolling out as a new revision of the same version."""
import uuid

import pytest

from tests.conftest import base_project, boto_client


def _ssm(value="s3cr3t-value", kind="SecureString"):
    """A parameter under the local stage's allowed prefix (``/fabu/local/``), unique per test
    (the emulator keeps parameters across tests)."""
    path = f"/fabu/local/{uuid.uuid4().hex[:10]}/db-password"
    boto_client("ssm").put_parameter(Name=path, Value=value, Type=kind)
    return path


def _secret(value="api-token-value"):
    name = f"fabu/local/{uuid.uuid4().hex[:10]}/token"
    boto_client("secretsmanager").create_secret(Name=name, SecretString=value)
    return name


def test_plain_values_and_existing_references_are_stored_and_shown_as_references(api):
    path, secret = _ssm(), _secret()
    config = {"GREETING": "hello 'world' $(id)\nline 2", "DB_PASSWORD": {"ssm": path},
              "API_TOKEN": {"secret": secret}, "EMPTY": ""}
    created = api.post("/api/v1/project", base_project(config=config))
    assert created.status == 201, created.json
    shown = api.get("/api/v1/project/web").json
    assert shown["config"] == config
    assert "s3cr3t-value" not in str(shown) and "api-token-value" not in str(shown)


def test_a_missing_parameter_or_secret_is_a_400_naming_its_entry(api):
    missing = f"/fabu/local/{uuid.uuid4().hex}/nothing"
    response = api.post("/api/v1/project", base_project(config={
        "DB_PASSWORD": {"ssm": missing}, "TOKEN": {"secret": "fabu/local/no-such-secret-x"}}))
    assert response.status == 400
    fields = response.json["fields"]
    assert fields["config.DB_PASSWORD"] == f"SSM parameter {missing} does not exist"
    assert "does not exist" in fields["config.TOKEN"]
    assert api.get("/api/v1/project/web").status == 404


def test_references_outside_the_stages_prefixes_are_refused(api, monkeypatch):
    boto_client("ssm").put_parameter(Name="/other/team/password", Value="x", Type="SecureString",
                                     Overwrite=True)
    response = api.post("/api/v1/project", base_project(config={
        "A": {"ssm": "/other/team/password"}, "B": {"secret": "prod/db"},
        "C": {"secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:other/x-AbCdEf"}}))
    assert response.status == 400
    fields = response.json["fields"]
    assert "outside this stage's allowed prefixes (/fabu/local/" in fields["config.A"]
    assert "FABU_CONFIG_SSM_PREFIXES" in fields["config.A"]
    assert "(fabu/local/" in fields["config.B"] and "(fabu/local/" in fields["config.C"]
    # the stage setting widens (or empties) what is allowed
    monkeypatch.setenv("FABU_CONFIG_SSM_PREFIXES", "/other/, /fabu/local/")
    assert api.post("/api/v1/project", base_project(config={
        "A": {"ssm": "/other/team/password"}})).status == 201
    monkeypatch.setenv("FABU_CONFIG_SECRET_PREFIXES", "")
    refused = api.put("/api/v1/project/web", {"config": {"B": {"secret": "fabu/local/x"}}})
    assert refused.status == 400
    assert "allows no secret references" in refused.json["fields"]["config.B"]


@pytest.mark.parametrize("config, path, words", [
    ({"PATH": "/tmp"}, "config.PATH", "reserved"),
    ({"FABU_VERSION": "9"}, "config.FABU_VERSION", "reserved"),
    ({"LD_PRELOAD": "/x.so"}, "config.LD_PRELOAD", "reserved"),
    ({"BASH_ENV": "/x"}, "config.BASH_ENV", "reserved"),
    ({"IFS": ","}, "config.IFS", "reserved"),
    ({"lower": "x"}, "config.lower", "environment variable name"),
    ({"1ST": "x"}, "config.1ST", "environment variable name"),
    ({"A": "x" * 4097}, "config.A", "at most 4096"),
    ({"A": "nul\u0000"}, "config.A", "NUL"),
    ({"A": 5}, "config.A", "must be a string"),
    ({"A": {"ssm": "/fabu/local/x", "secret": "y"}}, "config.A", "must be a string"),
    ({"A": {"ssm": "relative/path"}}, "config.A", "SSM parameter path"),
    ({f"V{i}": "x" for i in range(101)}, "config", "the limit is 100"),
    ({f"V{i}": "x" * 4000 for i in range(9)}, "config", "the limit is 32768"),
    (["A=1"], "config", "must be an object"),
])
def test_bad_configs_are_400s_naming_the_entry(api, config, path, words):
    response = api.post("/api/v1/project", base_project(config=config))
    assert response.status == 400
    assert words in response.json["fields"][path], response.json


def test_aws_failing_while_checking_a_reference_is_a_503_not_a_400(api):
    """SSM throttling the existence check is no verdict on the config: retry later."""
    import botocore.exceptions

    from chalicelib import aws

    def throttled(**kwargs):
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetParameters")
    aws.client("ssm").meta.events.register("before-call.ssm.GetParameters",
                                           lambda **kw: throttled())
    try:
        response = api.post("/api/v1/project", base_project(config={"A": {"ssm": "/fabu/local/a"}}))
    finally:
        aws.reset()
    assert response.status == 503
    assert "retry" in response.json["error"]


def _rollouts(project="web"):
    from chalicelib.models import Rollout
    return list(Rollout.query(project, scan_index_forward=True))


def test_a_config_change_is_a_new_revision_of_the_same_version_and_others_are_not(api):
    assert api.post("/api/v1/project", base_project(config={"MODE": "a"})).status == 201
    assert api.put("/api/v1/project/web", {"config": {"MODE": "b"}}).status == 200
    first, second = _rollouts()
    assert (first.version, first.revision, second.version, second.revision) == (
        "1.0.0", None, "1.0.0", 1)
    assert second.state == "waiting_release" and first.state == "superseded"
    view = api.get("/api/v1/project/web").json["rollout"]
    assert view["version"] == "1.0.0" and view["revision"] == 1
    events = api.get("/api/v1/project/web/events?limit=50").json["events"]
    messages = [e["message"] for e in events]
    assert any("rollout of config revision 1 of 1.0.0 scheduled" in m for m in messages)
    assert any("superseded by config revision 1 of 1.0.0" in m for m in messages)
    # the same config again, or another field: no new rollout; a new version: revision 0 again
    assert api.put("/api/v1/project/web", {"config": {"MODE": "b"}, "description": "x"}).status == 200
    assert len(_rollouts()) == 2
    assert api.put("/api/v1/project/web", {"config": {"MODE": "c"}}).status == 200
    assert [r.revision for r in _rollouts()] == [None, 1, 2]
    assert api.put("/api/v1/project/web", {"version": "1.1.0", "config": {"MODE": "d"}}).status == 200
    newest = _rollouts()[-1]
    assert (newest.version, newest.revision) == ("1.1.0", None)
