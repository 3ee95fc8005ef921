"""infra/resources.json is the one definition: the emulator gets exactly its resources."""
import json

from tests.conftest import ROOT, boto_client
from infra import stack


def _template():
    return stack.load_template()


def test_every_model_table_is_defined_in_the_template_with_its_indexes(moto_server):
    from chalicelib.models import ALL_MODELS
    tables = {r["Properties"]["TableName"]["Fn::Sub"].replace("${Prefix}-${Stage}-", "fabu-local-"): r
              for r in _template()["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"}
    assert {m.Meta.table_name for m in ALL_MODELS} == set(tables)
    from chalicelib.hosts.beat import Beat
    from chalicelib.models import FleetShard
    models = ALL_MODELS + (FleetShard, Beat)   # the hosts table's other item kinds
    for model in ALL_MODELS:
        defined = {i["IndexName"] for i in tables[model.Meta.table_name]["Properties"].get(
            "GlobalSecondaryIndexes", [])}
        declared = set().union(*(m._indexes for m in models
                                 if m.Meta.table_name == model.Meta.table_name))
        assert declared == defined, model.__name__


def test_the_emulator_has_exactly_the_templates_tables(moto_server):
    names = set(boto_client("dynamodb").list_tables()["TableNames"])
    expected = {v for k, v in moto_server["resources"].items() if k.endswith("Table")}
    assert expected <= names
    assert {n for n in names if n.startswith("fabu-local-")} == expected


def test_settings_moto_cloudformation_would_drop_are_applied(moto_server):
    ddb = boto_client("dynamodb")
    ttl = ddb.describe_time_to_live(TableName="fabu-local-events")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires_at" and ttl["TimeToLiveStatus"] == "ENABLED"
    s3 = boto_client("s3")
    assert s3.get_bucket_versioning(Bucket="fabu-local-releases")["Status"] == "Enabled"
    rules = s3.get_bucket_lifecycle_configuration(Bucket="fabu-local-releases")["Rules"]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") == 1 for r in rules)
    assert s3.get_bucket_website(Bucket="fabu-local-ui")["IndexDocument"]["Suffix"] == "index.html"


def test_locally_the_console_stays_on_the_emulators_s3_website_over_http(moto_server):
    """On AWS the UI bucket is private behind CloudFront; locally its FabuLocal metadata gives it
    the website settings and public read, and no CloudFront resource is made."""
    import requests
    s3 = boto_client("s3")
    website = s3.get_bucket_website(Bucket="fabu-local-ui")
    assert website["IndexDocument"]["Suffix"] == "index.html"
    assert website["ErrorDocument"]["Key"] == "index.html"
    [statement] = json.loads(s3.get_bucket_policy(Bucket="fabu-local-ui")["Policy"])["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Allow", "*", "s3:GetObject")
    assert statement["Resource"] == "arn:aws:s3:::fabu-local-ui/*"
    assert s3.get_bucket_cors(Bucket="fabu-local-ui")["CORSRules"][0]["AllowedMethods"] == ["GET", "HEAD"]
    s3.put_object(Bucket="fabu-local-ui", Key="index.html", Body=b"<!doctype html>console",
                  ContentType="text/html; charset=utf-8")
    page = requests.get(f"{moto_server['endpoint']}/fabu-local-ui/index.html", timeout=10)
    assert page.status_code == 200 and page.text == "<!doctype html>console"  # unsigned, http
    s3.delete_object(Bucket="fabu-local-ui", Key="index.html")
    kinds = {k: v["Type"] for k, v in _template()["Resources"].items()}
    assert {"ConsoleDistribution", "ConsoleOriginAccessControl"} <= set(kinds)
    assert not [k for k in moto_server["resources"] if kinds[k].startswith("AWS::CloudFront::")]


def test_a_resource_left_referring_to_an_aws_only_one_is_named(moto_server):
    template = _template()
    resources = {k: template["Resources"][k] for k in ("UIBucket", "UIBucketPolicy", "ConsoleDistribution")}
    resources = json.loads(json.dumps(resources).replace("${Prefix}-${Stage}-ui", "fabu-orphan-ui"))
    del resources["UIBucketPolicy"]["Metadata"]  # its AWS policy names the distribution
    import pytest
    with pytest.raises(ValueError) as failed:
        stack.create_stack("fabu", "local", template={"Resources": resources})
    assert "UIBucketPolicy" in str(failed.value) and "CloudFront" in str(failed.value)


def test_build_queue_has_its_dead_letter_queue(moto_server):
    sqs = boto_client("sqs")
    url = moto_server["resources"]["BuildQueue"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = json.loads(attrs["RedrivePolicy"])
    assert policy["deadLetterTargetArn"].endswith(":fabu-local-builds-dlq")


def test_creating_the_stack_twice_is_harmless(moto_server):
    again = stack.create_stack("fabu", "local")
    assert again["ProjectsTable"] == "fabu-local-projects"


def test_stack_refuses_to_run_without_an_emulator(monkeypatch, capsys):
    import pytest
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with pytest.raises(SystemExit) as stopped:
        stack.main([])
    assert "AWS_ENDPOINT_URL is not set" in str(stopped.value)


def test_local_stage_config_turns_on_the_apps_own_sigv4_check():
    config = json.load(open(ROOT + "/.chalice/config.json"))
    local = config["stages"]["local"]["environment_variables"]
    assert local["FABU_LOCAL_SIGV4"] == "1"
    for stage in ("dev", "prod"):
        assert config["stages"][stage]["autogen_policy"] is False
        assert "FABU_LOCAL_SIGV4" not in config["stages"][stage]["environment_variables"]
