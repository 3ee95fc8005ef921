"""`make package`: the stage's SAM template passes cfn-lint and holds every resource fabu needs.

Runs the real target once (``chalice package --merge-template infra/resources.json`` + cfn-lint)
and reads the template a deploy would send to CloudFormation. The console's part: a private UI
bucket read only by its CloudFront distribution (HTTPS), and ``infra.publish_ui`` publishing to
that stack (its outputs read from CloudFormation, on the suite's emulator). The host front: a
Function URL, and the REST API's four host routes sent to it.
"""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, boto_client

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
    assert {"UIBucket", "UIBucketPolicy", "ReleaseBucket", "ConsoleDistribution"} <= set(package["Resources"])


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


def _actions(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_functions_get_the_least_privilege_policy_of_their_stage(package):
    roles = _of_type(package, "AWS::IAM::Role")
    assert roles
    for role in roles.values():
        statements = [s for p in role["Properties"]["Policies"]
                      for s in p["PolicyDocument"]["Statement"]]
        actions = {a for s in statements for a in (
            s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        # CloudWatch reads are the exceptions, each alone in its statement: the alarms a
        # rollout watches are the operator's own (any name), and GetMetricData has no
        # resource-level permissions at all.
        cloudwatch = {s["Action"]: s["Resource"] for s in statements
                      if str(s["Action"]).startswith("cloudwatch:")}
        assert cloudwatch == {"cloudwatch:DescribeAlarms": "arn:aws:cloudwatch:*:*:alarm:*",
                              "cloudwatch:GetMetricData": "*"}, cloudwatch
        # So are the fleet's Describe calls and the ELB's: an operator's instances, groups
        # and target groups (any name); the Describe calls have no resource-level permissions.
        fleet = {a: s["Resource"] for s in statements for a in _actions(s)
                 if a.startswith(("ec2:", "autoscaling:"))}
        assert fleet == {"ec2:DescribeInstances": "*",
                         "autoscaling:DescribeAutoScalingGroups": "*"}, fleet
        elb = {a: s["Resource"] for s in statements for a in _actions(s)
               if a.startswith("elasticloadbalancing:")}
        groups = "arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
        assert elb == {"elasticloadbalancing:DeregisterTargets": groups,
                       "elasticloadbalancing:RegisterTargets": groups,
                       "elasticloadbalancing:DescribeTargetGroups": "*",
                       "elasticloadbalancing:DescribeTargetGroupAttributes": "*",
                       "elasticloadbalancing:DescribeTargetHealth": "*"}, elb
        statements = [s for s in statements if not _actions(s)[0].startswith(
            ("cloudwatch:", "ec2:", "autoscaling:", "elasticloadbalancing:"))]
        resources = [r for s in statements for r in (
            s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
        assert "*" not in resources
        assert all("fabu-dev" in r or "fabu/dev" in r for r in resources), resources
        assert not any(a.endswith(":*") or a == "*" for a in actions)
        assert "dynamodb:Scan" not in actions  # no request path or job scans a table


# --- the console over HTTPS: CloudFront in front of a private bucket ----------------------------

def _sub(node):
    """The text of an ``Fn::Sub`` (or a plain string)."""
    return node["Fn::Sub"] if isinstance(node, dict) else node


def test_console_bucket_is_private(package):
    ui = package["Resources"]["UIBucket"]["Properties"]
    assert ui["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert "WebsiteConfiguration" not in ui and "AccessControl" not in ui
    assert ui["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    policies = [p["Properties"] for p in _of_type(package, "AWS::S3::BucketPolicy").values()
                if p["Properties"]["Bucket"] == {"Ref": "UIBucket"}]
    assert len(policies) == 1, "exactly one policy on the UI bucket"
    statements = policies[0]["PolicyDocument"]["Statement"]
    assert statements, "the distribution must be allowed to read"
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}, statement
        assert statement["Action"] in ("s3:GetObject", ["s3:GetObject"])
        assert _sub(statement["Resource"]) == "arn:${AWS::Partition}:s3:::${UIBucket}/*"
        source = statement["Condition"]["StringEquals"]["AWS:SourceArn"]
        assert _sub(source) == ("arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:"
                                "distribution/${ConsoleDistribution}")


def test_distribution_reads_the_bucket_through_its_origin_access_control(package):
    resources = package["Resources"]
    config = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    [origin] = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": ["UIBucket", "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # OAC, not the legacy OAI
    oac_ref = origin["OriginAccessControlId"]["Fn::GetAtt"]
    assert oac_ref[1] == "Id"
    oac = resources[oac_ref[0]]
    assert oac["Type"] == "AWS::CloudFront::OriginAccessControl"
    settings = oac["Properties"]["OriginAccessControlConfig"]
    assert (settings["SigningBehavior"], settings["SigningProtocol"],
            settings["OriginAccessControlOriginType"]) == ("always", "sigv4", "s3")
    behavior = config["DefaultCacheBehavior"]
    assert behavior["TargetOriginId"] == origin["Id"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert set(behavior["AllowedMethods"]) == {"GET", "HEAD"}  # a static site: nothing is written
    assert behavior["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
    assert config["Enabled"] is True and config["DefaultRootObject"] == "index.html"
    assert config["HttpVersion"].startswith("http2") and config["PriceClass"] == "PriceClass_100"


def test_console_answers_carry_the_security_headers(package):
    resources = package["Resources"]
    behavior = resources["ConsoleDistribution"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"]
    policy = resources[behavior["ResponseHeadersPolicyId"]["Ref"]]
    assert policy["Type"] == "AWS::CloudFront::ResponseHeadersPolicy"
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] in ("no-referrer", "same-origin",
                                                           "strict-origin-when-cross-origin")
    assert "frame-ancestors 'none'" in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert all(h["Override"] for h in headers.values())


def test_console_url_is_https_on_the_distribution_or_the_operators_domain(package):
    outputs = package["Outputs"]
    assert "UIWebsiteURL" not in outputs, "the plain-http website endpoint is gone on AWS"
    condition, own, default = outputs["ConsoleURL"]["Value"]["Fn::If"]
    assert _sub(default) == "https://${ConsoleDistribution.DomainName}"
    assert _sub(own) == "https://${ConsoleDomainName}"
    assert outputs["ConsoleDistributionId"]["Value"] == {"Ref": "ConsoleDistribution"}
    config = package["Resources"]["ConsoleDistribution"]["Properties"]["DistributionConfig"]
    cert_if = config["ViewerCertificate"]["Fn::If"]
    assert cert_if[0] == condition
    assert cert_if[1]["AcmCertificateArn"] == {"Ref": "ConsoleCertificateArn"}
    assert cert_if[1]["SslSupportMethod"] == "sni-only"
    assert cert_if[2] == {"CloudFrontDefaultCertificate": True}
    assert config["Aliases"]["Fn::If"][0] == condition
    assert package["Parameters"]["ConsoleDomainName"]["Default"] == ""  # optional


# --- infra.publish_ui on AWS (the suite's emulator stands in for the account) ------------------

def _deployed_stack(name, bucket, console_url):
    """A stack with the outputs the packaged template gives, and its distribution and bucket."""
    cloudfront, s3 = boto_client("cloudfront"), boto_client("s3")
    s3.create_bucket(Bucket=bucket)
    distribution = cloudfront.create_distribution(DistributionConfig={
        "CallerReference": name, "Comment": name, "Enabled": True, "DefaultRootObject": "index.html",
        "Origins": {"Quantity": 1, "Items": [{"Id": "ui-bucket",
                                              "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "ui-bucket",
                                 "ViewerProtocolPolicy": "redirect-to-https",
                                 "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6"}})
    distribution_id = distribution["Distribution"]["Id"]
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                        "Properties": {"TopicName": f"{name}-placeholder"}}},
                "Outputs": {"ConsoleURL": {"Value": console_url},
                            "ConsoleDistributionId": {"Value": distribution_id},
                            "UIBucketName": {"Value": bucket}}}
    boto_client("cloudformation").create_stack(StackName=name, TemplateBody=json.dumps(template))
    return distribution_id


def _site(tmp_path):
    site = tmp_path / "dist"
    (site / "js").mkdir(parents=True)
    (site / "index.html").write_text(
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'connect-src \'none\'; base-uri \'none\'">')
    (site / "js" / "main.js").write_text("export {};\n")
    return site


def _publish(site, *args):
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")  # AWS_ENDPOINT_URL: the emulator
    return subprocess.run([sys.executable, "-m", "infra.publish_ui", "--dist", str(site),
                           "--endpoint", "", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_publishing_on_aws_fills_the_stacks_private_bucket_and_prints_its_https_url(
        moto_server, tmp_path):
    site = _site(tmp_path)
    distribution_id = _deployed_stack("acme-fabu-prod", "acme-fabu-prod-ui",
                                      "https://d1example.cloudfront.net")
    api_url = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/api"
    done = _publish(site, "--api-url", api_url, "--stack", "acme-fabu-prod")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "https://d1example.cloudfront.net"
    s3 = boto_client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="acme-fabu-prod-ui")["Contents"]}
    assert keys == {"index.html", "js/main.js", "config.js"}
    config_js = s3.get_object(Bucket="acme-fabu-prod-ui", Key="config.js")["Body"].read().decode()
    assert f'"apiUrl": "{api_url}"' in config_js and '"region": "eu-west-1"' in config_js
    index = s3.get_object(Bucket="acme-fabu-prod-ui", Key="index.html")
    assert index["ContentType"].startswith("text/html")
    assert ("connect-src https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com;"
            in index["Body"].read().decode())
    invalidations = boto_client("cloudfront").list_invalidations(DistributionId=distribution_id)
    assert invalidations["InvalidationList"]["Quantity"] == 1, "viewers must get the new files"


def test_publishing_on_aws_to_a_missing_or_old_stack_says_which_and_uploads_nothing(
        moto_server, tmp_path):
    site = _site(tmp_path)
    api_url = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/api"
    done = _publish(site, "--api-url", api_url, "--stack", "acme-fabu-nowhere")
    assert done.returncode != 0
    assert "stack 'acme-fabu-nowhere' does not exist" in done.stderr
    boto_client("s3").create_bucket(Bucket="acme-fabu-old-ui")
    old = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                                   "Properties": {"TopicName": "acme-fabu-old-placeholder"}}},
           "Outputs": {"UIBucketName": {"Value": "acme-fabu-old-ui"}}}
    boto_client("cloudformation").create_stack(StackName="acme-fabu-old", TemplateBody=json.dumps(old))
    done = _publish(site, "--api-url", api_url, "--stack", "acme-fabu-old")
    assert done.returncode != 0
    assert "has no output ConsoleURL, ConsoleDistributionId" in done.stderr
    assert "Contents" not in boto_client("s3").list_objects_v2(Bucket="acme-fabu-old-ui")


# --- the host protocol's second front: a Lambda Function URL -----------------------------------

def test_the_host_front_is_a_function_url_with_iam_auth_on_the_api_handlers_code(package):
    resources = package["Resources"]
    urls = _of_type(package, "AWS::Lambda::Url")
    assert list(urls) == ["HostFrontUrl"]
    url = urls["HostFrontUrl"]["Properties"]
    assert url["AuthType"] == "AWS_IAM" and url["TargetFunctionArn"] == {
        "Fn::GetAtt": ["HostFront", "Arn"]}
    front, api = resources["HostFront"]["Properties"], resources["APIHandler"]["Properties"]
    assert resources["HostFront"]["Type"] == "AWS::Serverless::Function"
    assert front["Handler"] == "host_front.handler"
    assert front["MemorySize"] <= 256 and front["Timeout"] <= 10
    for same in ("CodeUri", "Runtime", "Environment", "Role"):
        assert front[same] == api[same], same  # one code zip, the stage's settings and policy
    assert "Events" not in front  # its URL and the REST API's host routes (below) call it
    assert package["Outputs"]["HostFrontURL"]["Value"] == {
        "Fn::GetAtt": ["HostFrontUrl", "FunctionUrl"]}


_COLD_IMPORT = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import host_front
assert host_front.__file__.startswith(sys.argv[1]), host_front.__file__
print(json.dumps(sorted(sys.modules)))
"""


def test_the_zips_handler_module_imports_no_chalice(package, tmp_path):
    import zipfile
    with zipfile.ZipFile(os.path.join(ROOT, "build", "package", "deployment.zip")) as code:
        names = code.namelist()
        assert "host_front.py" in names and "app.py" in names
        code.extractall(tmp_path, [n for n in names if n == "host_front.py"
                                   or n.startswith("chalicelib/")])
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run([sys.executable, "-c", _COLD_IMPORT, str(tmp_path)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert not [m for m in loaded if m == "chalice" or m.startswith(("chalice.", "chalicelib.api"))]
    assert "jinja2" not in loaded


def test_every_function_logs_warnings_without_the_platforms_per_invocation_lines(package):
    functions = _of_type(package, "AWS::Serverless::Function")
    assert {"APIHandler", "HostFront", "Tick", "RolloutDriver"} <= set(functions), sorted(functions)
    for name, function in functions.items():
        assert function["Properties"]["LoggingConfig"] == {
            "LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}, name


#: The host protocol's routes: on AWS the REST API sends them to the host front too.
_HOST_ROUTES = {("/api/v1/{host}", "get"), ("/api/v1/{host}/deploy", "get"),
                ("/api/v1/{host}/report", "post"), ("/api/v1/{host}/config", "get")}


def test_the_rest_apis_host_routes_invoke_the_host_front_and_every_other_path_the_api(package):
    from fnmatch import fnmatchcase
    paths = package["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    to_front, to_api = set(), set()
    for path, operations in paths.items():
        for method, operation in operations.items():
            integration = operation.get("x-amazon-apigateway-integration", {})
            if integration.get("type") != "aws_proxy":
                continue  # the CORS preflights: API Gateway answers them itself
            uri = _sub(integration["uri"])
            assert uri.startswith("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/"
                                  "2015-03-31/functions/") and uri.endswith("/invocations"), uri
            if "${HostFront.Arn}" in uri:
                to_front.add((path, method))
            else:
                assert "${APIHandler.Arn}" in uri, (path, method, uri)
                to_api.add((path, method))
    assert to_front == _HOST_ROUTES
    assert ("/api/v1/project", "post") in to_api and len(to_api) > 20
    # API Gateway may invoke the host front from this REST API only, for those routes only
    front = {"Fn::GetAtt": ["HostFront", "Arn"]}
    permissions = [p["Properties"] for p in _of_type(package, "AWS::Lambda::Permission").values()
                   if p["Properties"]["FunctionName"] in (front, {"Ref": "HostFront"})]
    assert permissions
    api_arn = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${RestAPI}/"
    for permission in permissions:
        assert permission["Action"] == "lambda:InvokeFunction"
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert _sub(permission["SourceArn"]).startswith(api_arn), permission
    for path, method in _HOST_ROUTES:  # the ARN of a real request of stage api
        called = f"{api_arn}api/{method.upper()}{path.replace('{host}', 'web-1.example.com')}"
        assert any(fnmatchcase(called, _sub(p["SourceArn"])) for p in permissions), called
    for called in (f"{api_arn}api/PUT/api/v1/web-1.example.com",
                   f"{api_arn}api/POST/api/v1/project", f"{api_arn}api/DELETE/api/v1/freeze"):
        assert not any(fnmatchcase(called, _sub(p["SourceArn"])) for p in permissions), called
