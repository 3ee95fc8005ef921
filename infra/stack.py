"""Create the resources of ``infra/resources.json`` on an emulator (moto server or LocalStack).

The CloudFormation template is the single definition of fabu's tables, buckets, queues and
topic. On AWS it is merged into ``chalice package`` output; here each resource is created with
the matching boto3 call, read from the same template (moto's CloudFormation silently drops TTL,
versioning, lifecycle, website and CORS settings, so we apply every property ourselves).
What exists only on AWS is left out here: the CloudFront resources in front of the console
(``NOT_EMULATED``). A resource's ``Metadata.FabuLocal.Properties`` is merged over its
``Properties`` here only: the UI bucket gets its website settings and a public-read policy, so the
console stays on the emulator's S3 over http while on AWS the bucket is private behind CloudFront.
Clients come from ``localstack-client``, which honours ``AWS_ENDPOINT_URL``: the same command
works against moto's server and a real LocalStack. Creating is idempotent.

    python -m infra.stack --stage local     # create everything on $AWS_ENDPOINT_URL
"""
import argparse
import json
import os
import sys

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources.json")

#: Resource types that exist only on AWS (the HTTPS front of the console): not created here.
NOT_EMULATED = ("AWS::CloudFront::Distribution", "AWS::CloudFront::OriginAccessControl",
                "AWS::CloudFront::ResponseHeadersPolicy")

#: ``Metadata`` key of a resource's local-only properties, merged over ``Properties`` here.
LOCAL_METADATA = "FabuLocal"


def load_template(path: str = TEMPLATE) -> dict:
    with open(path) as fh:
        return json.load(fh)


def local_properties(resource: dict) -> dict:
    """The resource's ``Properties`` as the emulator gets them: ``Metadata.FabuLocal.Properties``
    replace the top-level properties of the same name."""
    local = resource.get("Metadata", {}).get(LOCAL_METADATA, {}).get("Properties", {})
    return dict(resource.get("Properties", {}), **local)


def emulator_session():
    """A boto3-like session on ``$AWS_ENDPOINT_URL`` (localstack-client), for the local tooling."""
    from localstack_client.session import Session
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return Session(region_name=region,
                   aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                   aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


class _Resolver:
    """Evaluates the few intrinsic functions the template uses: Ref, Fn::Sub, Fn::GetAtt."""

    def __init__(self, params, region, account):
        self.values = dict(params, **{"AWS::Region": region, "AWS::AccountId": account,
                                      "AWS::Partition": "aws"})
        self.attrs = {}

    def __call__(self, node):
        if isinstance(node, dict):
            if "Ref" in node:
                return self.values[node["Ref"]]
            if "Fn::Sub" in node:
                text = node["Fn::Sub"]
                for key, value in self.values.items():
                    text = text.replace("${%s}" % key, str(value))
                if "${" in text:
                    raise KeyError(text)
                return text
            if "Fn::GetAtt" in node:
                return self.attrs[tuple(node["Fn::GetAtt"])]
            return {k: self(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self(v) for v in node]
        return node


def _create_table(session, props):
    ddb = session.client("dynamodb")
    args = {k: props[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode")}
    if props.get("GlobalSecondaryIndexes"):
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    try:
        ddb.create_table(**args)
    except ddb.exceptions.ResourceInUseException:
        return props["TableName"]
    ddb.get_waiter("table_exists").wait(TableName=props["TableName"])
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
    return props["TableName"]


def _create_bucket(session, props):
    s3 = session.client("s3")
    name = props["BucketName"]
    region = s3.meta.region_name
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    if "LifecycleConfiguration" in props:
        rules = []
        for rule in props["LifecycleConfiguration"]["Rules"]:
            out = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
            if "AbortIncompleteMultipartUpload" in rule:
                out["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
            if "NoncurrentVersionExpiration" in rule:
                out["NoncurrentVersionExpiration"] = {
                    "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]}
            rules.append(out)
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    if "WebsiteConfiguration" in props:
        web = props["WebsiteConfiguration"]
        s3.put_bucket_website(Bucket=name, WebsiteConfiguration={
            "IndexDocument": {"Suffix": web["IndexDocument"]},
            "ErrorDocument": {"Key": web["ErrorDocument"]}})
    if "CorsConfiguration" in props:
        rules = [{("MaxAgeSeconds" if k == "MaxAge" else k): v for k, v in rule.items()}
                 for rule in props["CorsConfiguration"]["CorsRules"]]
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    return name


def _create_bucket_policy(session, props):
    s3 = session.client("s3")
    s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
    return props["Bucket"]


#: Queue properties whose CloudFormation name is also the SQS attribute name.
_QUEUE_ATTRIBUTES = ("FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
                     "FifoThroughputLimit", "DelaySeconds", "MaximumMessageSize",
                     "ReceiveMessageWaitTimeSeconds")


def _create_queue(session, props, resolver, logical):
    sqs = session.client("sqs")
    attributes = {"VisibilityTimeout": str(props.get("VisibilityTimeout", 30)),
                  "MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600))}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    for name in _QUEUE_ATTRIBUTES:
        if name in props:  # SQS wants every attribute as a string ("true", not True)
            value = props[name]
            attributes[name] = str(value).lower() if isinstance(value, bool) else str(value)
    url = sqs.create_queue(QueueName=props["QueueName"], Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    resolver.attrs[(logical, "Arn")] = arn
    return url


def _create_topic(session, props):
    return session.client("sns").create_topic(Name=props["TopicName"])["TopicArn"]


def create_stack(prefix="fabu", stage="local", session=None, template=None):
    """Create every resource of the template; return ``{logical id: physical name or URL}``."""
    session = session or emulator_session()
    template = template or load_template()
    account = session.client("sts").get_caller_identity()["Account"]
    resolver = _Resolver({"Prefix": prefix, "Stage": stage}, session.region_name, account)
    pending = {k: v for k, v in template["Resources"].items() if v["Type"] not in NOT_EMULATED}
    created = {}
    while pending:
        progressed = False
        for logical, resource in list(pending.items()):
            try:
                props = resolver(local_properties(resource))
            except KeyError:
                continue  # refers to a resource not created yet
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                created[logical] = _create_table(session, props)
            elif kind == "AWS::S3::Bucket":
                created[logical] = _create_bucket(session, props)
            elif kind == "AWS::S3::BucketPolicy":
                created[logical] = _create_bucket_policy(session, props)
            elif kind == "AWS::SQS::Queue":
                created[logical] = _create_queue(session, props, resolver, logical)
            elif kind == "AWS::SNS::Topic":
                created[logical] = _create_topic(session, props)
            else:
                raise ValueError("infra/stack.py does not know how to create %s (%s)" % (kind, logical))
            resolver.values[logical] = created[logical]  # what Ref returns for each kind
            del pending[logical]
            progressed = True
        if not progressed:
            raise ValueError(f"unresolvable references in {', '.join(sorted(pending))}: they refer to "
                             "a parameter or resource the emulator lacks (the CloudFront ones are "
                             f"not created locally; give such a resource {LOCAL_METADATA} properties)")
    return created


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=os.environ.get("FABU_PREFIX", "fabu"))
    parser.add_argument("--stage", default=os.environ.get("FABU_STAGE", "local"))
    args = parser.parse_args(argv)
    if not os.environ.get("AWS_ENDPOINT_URL"):
        sys.exit("AWS_ENDPOINT_URL is not set: refusing to create local resources on real AWS "
                 "(use `make package` and CloudFormation there)")
    for logical, name in create_stack(args.prefix, args.stage).items():
        print("%-24s %s" % (logical, name))


if __name__ == "__main__":
    main()
