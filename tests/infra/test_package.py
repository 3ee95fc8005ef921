"""`make package`: the stage's SAM template passes cfn-lint and holds every resource fabu needs.

Runs the real target once (``chalice package --merge-template infra/resources.json`` + cfn-lint)
and reads the template a deploy would send to CloudFormation.
"""
import json
import os
import subprocess

import pytest

from tests.conftest import ROOT

TEMPLATE = os.path.join(ROOT, "build", "package", "sam.json")


@pytest.fixture(scope="module")
def package():
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run(["make", "--no-print-directory", "package"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with open(TEMPLATE) as fh:
        return json.load(fh)


def _of_type(template, kind):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def test_template_passes_cfn_lint(package):
    done = subprocess.run([os.path.join(ROOT, ".venv", "bin", "cfn-lint"), TEMPLATE],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_holds_every_table_queue_topic_and_bucket(package):
    tables = {v["Properties"]["TableName"]["Fn::Sub"].split("}-")[-1]
              for v in _of_type(package, "AWS::DynamoDB::Table").values()}
    assert {"projects", "releases", "rollouts", "hosts", "events", "reports"} <= tables
    queues = {v["Properties"]["QueueName"]["Fn::Sub"].split("}-")[-1]
              for v in _of_type(package, "AWS::SQS::Queue").values()}
    assert {"builds", "builds-dlq"} <= queues
    assert any(q.startswith("notify") and "dlq" not in q for q in queues), queues
    assert _of_type(package, "AWS::SNS::Topic")
    ui = package["Resources"]["UIBucket"]["Properties"]
    assert ui["WebsiteConfiguration"]["IndexDocument"] == "index.html"
    assert "UIBucketPolicy" in package["Resources"] and "ReleaseBucket" in package["Resources"]


def test_every_scheduled_job_and_queue_handler_is_wired(package):
    from app import app
    functions = _of_type(package, "AWS::Serverless::Function")
    events = [e for f in functions.values() for e in f["Properties"].get("Events", {}).values()]
    schedules = [e for e in events if e["Type"] == "Schedule"]
    sqs = [e["Properties"]["Queue"]["Fn::Sub"].rsplit(":", 1)[-1] for e in events if e["Type"] == "SQS"]
    kinds = [type(s).__name__ for s in app.event_sources]
    assert len(schedules) == kinds.count("ScheduledEventConfig") >= 1
    assert len(sqs) == kinds.count("SQSEventConfig") >= 1
    assert "fabu-dev-builds" in sqs
    queue_names = {v["Properties"]["QueueName"]["Fn::Sub"].replace("${Prefix}-${Stage}", "fabu-dev")
                   for v in _of_type(package, "AWS::SQS::Queue").values()}
    assert set(sqs) <= queue_names, "an SQS handler listens to a queue the template does not create"
    for function in functions.values():
        if any(e["Type"] == "SQS" for e in function["Properties"].get("Events", {}).values()):
            assert "BuildQueue" in function.get("DependsOn", []), "queue must exist before its mapping"


def test_functions_get_the_least_privilege_policy_of_their_stage(package):
    roles = _of_type(package, "AWS::IAM::Role")
    assert roles
    for role in roles.values():
        statements = [s for p in role["Properties"]["Policies"]
                      for s in p["PolicyDocument"]["Statement"]]
        resources = [r for s in statements for r in (
            s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
        assert "*" not in resources
        assert all("fabu-dev" in r or "fabu/dev" in r for r in resources), resources
        actions = {a for s in statements for a in (
            s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        assert not any(a.endswith(":*") or a == "*" for a in actions)
        assert "dynamodb:Scan" not in actions  # no request path or job scans a table
