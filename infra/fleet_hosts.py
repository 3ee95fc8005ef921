"""``make hosts N=3 TAGS=app=hello`` (or ``ASG=hello-asg``): sandbox hosts that are emulator instances.

Instead of ``host-1..N``, the sandbox hosts are EC2 instances of the emulator ``make run``
started (``$AWS_ENDPOINT_URL``, else ``127.0.0.1:$FABU_AWS_PORT``), named by instance id as an
instance profile's session would name them:

* ``TAGS="app=hello tier=web"``: ``scale`` makes N running instances carry the tags (launching
  the missing ones, terminating the newest past N);
* ``ASG=hello-asg``: the Auto Scaling group (created on first use, with its launch template)
  gets desired capacity N.

``make hosts`` then runs one agent per running instance of the selector and follows it every
``FOLLOW_SECONDS``: an instance that appears gets an agent, one that is gone loses its agent. Run
the same command again with another N while it runs to scale out (or in): that second run only
scales and exits. The emulator's EC2 is not saved by ``make run``: after a restart the instances
are gone (their members leave) and the next ``make hosts`` launches new ones (they join).
"""
import os
import threading
from collections.abc import Callable

AMI = "ami-12c6146b"  # one of the emulator's built-in images
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
FOLLOW_SECONDS = 3.0
MAX_INSTANCES = 50
REGION = "us-east-1"


def client(service: str):
    import boto3
    endpoint = (os.environ.get("AWS_ENDPOINT_URL")
                or f"http://127.0.0.1:{os.environ.get('FABU_AWS_PORT') or 4566}")
    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))


def parse_tags(text: str) -> dict[str, str]:
    """``"app=hello tier=web"`` (spaces or commas) → ``{"app": "hello", "tier": "web"}``."""
    tags = {}
    for pair in text.replace(",", " ").split():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"hosts: TAGS takes key=value pairs, not {pair!r}")
        tags[key] = value
    return tags


def running(tags: dict[str, str] | None, group: str | None) -> list[str]:
    """The running (or InService) instance ids of the selector, oldest first."""
    if group:
        found = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        groups = found["AutoScalingGroups"]
        return [i["InstanceId"] for i in (groups[0]["Instances"] if groups else [])
                if i["LifecycleState"] == "InService"]
    filters = [{"Name": f"tag:{k}", "Values": [v]} for k, v in tags.items()]
    filters.append({"Name": "instance-state-name", "Values": ["running"]})
    instances = [i for page in client("ec2").get_paginator("describe_instances").paginate(
        Filters=filters) for r in page["Reservations"] for i in r["Instances"]]
    return [i["InstanceId"] for i in sorted(instances, key=lambda i: (i["LaunchTime"], i["InstanceId"]))]


def scale(count: int, tags: dict[str, str] | None, group: str | None) -> list[str]:
    """Make the selector have ``count`` running instances; their ids."""
    if not 0 <= count <= MAX_INSTANCES:
        raise SystemExit(f"hosts: N={count}: make hosts runs 0 to {MAX_INSTANCES} instances")
    if group:
        _ensure_group(group)
        client("autoscaling").set_desired_capacity(AutoScalingGroupName=group,
                                                   DesiredCapacity=count)
        return running(None, group)
    have = running(tags, None)
    if len(have) < count:
        for i in range(count - len(have)):
            client("ec2").run_instances(
                ImageId=AMI, MinCount=1, MaxCount=1,
                Placement={"AvailabilityZone": ZONES[(len(have) + i) % len(ZONES)]},
                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                    {"Key": k, "Value": v} for k, v in tags.items()]}])
    elif len(have) > count:
        client("ec2").terminate_instances(InstanceIds=have[count:])
    return running(tags, None)


def _ensure_group(name: str) -> None:
    if client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]:
        return
    template = f"{name}-template"
    ec2 = client("ec2")
    if not ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name",
                                                   "Values": [template]}])["LaunchTemplates"]:
        ec2.create_launch_template(LaunchTemplateName=template,
                                   LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"})
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": template}, MinSize=0,
        MaxSize=MAX_INSTANCES, DesiredCapacity=0, AvailabilityZones=list(ZONES))


def follow(tags: dict[str, str] | None, group: str | None, stop: threading.Event,
           on_new: Callable[[str], None], on_gone: Callable[[str], None], known: set[str],
           say: Callable[[str], None]) -> None:
    """Every ``FOLLOW_SECONDS`` until ``stop``: ``on_new(id)`` for each instance that appeared,
    ``on_gone(id)`` for each one that is no longer running (an emulator error is said once)."""
    said = None
    while not stop.wait(FOLLOW_SECONDS):
        try:
            now = set(running(tags, group))
            said = None
        except Exception as exc:  # the emulator restarting: say so once, keep following
            if str(exc) != said:
                say(f"could not list the instances ({exc}); still trying")
                said = str(exc)
            continue
        for instance in sorted(now - known):
            known.add(instance)
            on_new(instance)
        for instance in sorted(known - now):
            known.discard(instance)
            on_gone(instance)
