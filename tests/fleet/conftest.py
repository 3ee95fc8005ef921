"""The fleet tests' AWS side: instances and Auto Scaling groups in the suite's emulator.

Instances outlive a test (the suite wipes tables, buckets and queues, not EC2), so every test
selects its own: ``fleet_tag`` is a tag no other test uses, ``group_name`` an Auto Scaling group
name likewise. ``Cloud`` launches, stops and terminates instances and scales groups with plain
boto3 calls against moto's server, as an operator's tooling would on AWS.
"""
import contextlib
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.conftest import boto_client

AMI = "ami-12c6146b"  # one of moto's built-in images
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


class Cloud:
    """EC2 and Auto Scaling of the emulator, for one test."""

    def __init__(self):
        self.ec2, self.asg = boto_client("ec2"), boto_client("autoscaling")
        self.launched = []

    def launch(self, count, tags, zone=None):
        """``count`` running instances with ``tags`` (in ``zone``, else spread over ``ZONES``);
        their ids in launch order."""
        ids = []
        for i in range(count):
            placement = {"AvailabilityZone": zone or ZONES[(len(self.launched) + i) % len(ZONES)]}
            done = self.ec2.run_instances(
                ImageId=AMI, MinCount=1, MaxCount=1, Placement=placement,
                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                    {"Key": k, "Value": v} for k, v in tags.items()]}])
            ids += [i["InstanceId"] for i in done["Instances"]]
        self.launched += ids
        return ids

    def terminate(self, *ids):
        self.ec2.terminate_instances(InstanceIds=list(ids))

    def stop(self, *ids):
        self.ec2.stop_instances(InstanceIds=list(ids))

    def start(self, *ids):
        self.ec2.start_instances(InstanceIds=list(ids))

    def zone_of(self, instance_id):
        found = self.ec2.describe_instances(InstanceIds=[instance_id])
        return found["Reservations"][0]["Instances"][0]["Placement"]["AvailabilityZone"]

    def group(self, name, size):
        """An Auto Scaling group of ``size`` instances (a launch template of its own)."""
        template = f"lt-{name}"
        self.ec2.create_launch_template(LaunchTemplateName=template, LaunchTemplateData={
            "ImageId": AMI, "InstanceType": "t3.micro"})
        self.asg.create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": template},
            MinSize=0, MaxSize=50, DesiredCapacity=size, AvailabilityZones=list(ZONES))
        return self.group_instances(name)

    def scale(self, name, size):
        self.asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=size)
        return self.group_instances(name)

    def group_instances(self, name, state="InService"):
        groups = self.asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        return sorted(i["InstanceId"] for i in groups["AutoScalingGroups"][0]["Instances"]
                      if state is None or i["LifecycleState"] == state)

    def delete_group(self, name):
        with contextlib.suppress(ClientError):
            self.asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


@pytest.fixture
def cloud(aws):
    made = Cloud()
    yield made
    if made.launched:  # leave nothing running for another test's selector (tags differ anyway)
        with contextlib.suppress(ClientError):
            made.terminate(*made.launched)


@pytest.fixture
def fleet_tag():
    """A tag set only this test's instances carry."""
    return {"fleet-test": uuid.uuid4().hex[:12]}


@pytest.fixture
def group_name(cloud):
    name = f"asg-{uuid.uuid4().hex[:10]}"
    yield name
    cloud.delete_group(name)


@contextlib.contextmanager
def sweep_failing(operation="DescribeInstances", code="Throttling", message="Rate exceeded"):
    """Every ``operation`` of fabu's EC2 or Auto Scaling client fails (a botocore hook at the
    AWS boundary, after the client's own retries would have given up); yields the refusals."""
    from chalicelib.fleet import sweep
    service = "ec2" if operation == "DescribeInstances" else "autoscaling"
    refused = []

    def refuse(**_):
        refused.append(code)
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)
    events = sweep.client(service).meta.events
    events.register(f"before-call.{service}.{operation}", refuse)
    try:
        yield refused
    finally:
        events.unregister(f"before-call.{service}.{operation}", refuse)


@contextlib.contextmanager
def describe_calls():
    """Every Describe call of fabu's sweep clients: ``[(operation, params)]``."""
    from chalicelib.fleet import sweep
    calls = []

    def count(params, model, **_):
        calls.append((model.name, dict(params)))
    hooks = [(sweep.client("ec2").meta.events, "provide-client-params.ec2.DescribeInstances"),
             (sweep.client("autoscaling").meta.events,
              "provide-client-params.autoscaling.DescribeAutoScalingGroups")]
    for events, name in hooks:
        events.register(name, count)
    try:
        yield calls
    finally:
        for events, name in hooks:
            events.unregister(name, count)


def fleet_project(name, version="1.0.0", fleet=None, **overrides):
    """A project body whose hosts are a fleet (no listed hosts unless given)."""
    body = {"name": name, "version": version, "fleet": fleet,
            "scripts": {"start": "echo start", "stop": "echo stop"},
            "rollout": {"waves": ["100%"], "bake_seconds": 0, "max_failures": 0}}
    for key, value in overrides.items():
        if key == "rollout":
            body["rollout"] = dict(body["rollout"], **value)
        else:
            body[key] = value
    return body


def items_of(project):
    """``{host: item}`` of a project's hosts (storage-boundary read)."""
    from chalicelib.models import HostState
    return {i.host: i for i in HostState.project_index.query(project)}
