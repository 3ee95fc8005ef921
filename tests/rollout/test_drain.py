"""Traffic draining (``rollout.load_balancer``): hosts leave their target groups before their
deploy, come back after it went well, and a lost or broken host stays out; ``max_parallel``
(a count or a percentage) bounds how many are out at once; an ELB error holds the host.

The target groups and instances live in the suite's moto server (ELBv2 with ``instance``
targets, the host names are the instance ids) and are read back with ``DescribeTargetHealth``
as an operator would. moto completes a deregistration at once (the target is gone from the
group); a real ELB lists it as ``draining`` for the deregistration delay: ``elb_draining``
makes fabu's client see that (a hook at the AWS boundary). Hosts are simulated
(``tests/support/fleet.py``); time moves by passing ``now`` to the tick.
"""
import contextlib
import uuid

from botocore.exceptions import ClientError

from chalicelib.states import Phase, ReportStatus
from tests.conftest import base_project, boto_client
from tests.support.fleet import Fleet, create, events_of, put, rollout_of, tick

IN_SERVICE = {"initial", "healthy", "unhealthy", "unavailable"}


def target_group(delay=0, target_type="instance"):
    """A new target group (unique name) in a new VPC; its ARN."""
    vpc = boto_client("ec2").create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    elb = boto_client("elbv2")
    arn = elb.create_target_group(Name=f"fabu-{uuid.uuid4().hex[:12]}", Protocol="HTTP", Port=80,
                                  VpcId=vpc, TargetType=target_type)["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}])
    return arn


def instances(count, *groups):
    """``count`` running instances, registered in ``groups``; their ids (= fabu host names)."""
    found = boto_client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=count, MaxCount=count)
    ids = sorted(i["InstanceId"] for i in found["Instances"])
    for arn in groups:
        boto_client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])
    return ids


def in_service(arn):
    """The targets ``arn`` sends traffic to, as DescribeTargetHealth says (draining: not)."""
    rows = boto_client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {r["Target"]["Id"] for r in rows if r["TargetHealth"]["State"] in IN_SERVICE}


def statuses(name):
    from chalicelib.rollout import hostitems
    return {i.host: i.status for i in hostitems.all_items(name)}


def _hook(event, handler):
    from chalicelib import aws
    events = aws.elbv2().meta.events
    events.register(event, handler)
    return lambda: events.unregister(event, handler)


@contextlib.contextmanager
def elb_draining():
    """fabu's ELB client sees deregistered targets as ``draining`` (a real ELB during the
    deregistration delay) instead of moto's immediate ``unused``."""
    def draining(parsed, **_):
        for row in parsed.get("TargetHealthDescriptions", []):
            if row["TargetHealth"]["State"] == "unused":
                row["TargetHealth"] = {"State": "draining", "Reason": "Target.DeregistrationInProgress"}
    undo = _hook("after-call.elastic-load-balancing-v2.DescribeTargetHealth", draining)
    try:
        yield
    finally:
        undo()


@contextlib.contextmanager
def elb_failing(operation, only_group=None, code="Throttling", message="Rate exceeded"):
    """Every ``operation`` call of fabu's ELB client fails (for ``only_group``: only its calls)."""
    refused = []

    def refuse(params, **_):
        if only_group is None or params.get("TargetGroupArn") == only_group:
            refused.append(params.get("TargetGroupArn"))
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)
    undo = _hook(f"before-parameter-build.elastic-load-balancing-v2.{operation}", refuse)
    try:
        yield refused
    finally:
        undo()


def lb(*groups, **more):
    return dict({"target_groups": list(groups)}, **more)


def test_a_host_is_out_of_service_while_it_deploys_and_back_after(api, signed_client):
    arn = target_group(delay=30)
    hosts = instances(2, arn)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"max_parallel": 1, "load_balancer": lb(arn)})
    with elb_draining():
        tick()
        first = next(h for h, s in statuses("shop").items() if s == "draining")
        assert in_service(arn) == set(hosts) - {first}       # deregistered before any deploy
        [told] = events_of("shop", "host.draining")
        assert told["host"] == first and told["detail"]["target_groups"] == [arn]
        assert told["detail"]["until"]                        # the group's 30 s delay
        assert fleet.round() == []                            # the poll hands out no deploy
        tick(10)                                              # the ELB still drains it
        assert statuses("shop")[first] == "draining" and fleet.round() == []
        tick(31)                                              # the delay is over
    assert [h for h, _ in fleet.round()] == [first]           # its deploy, and only its
    assert first not in in_service(arn)                       # still out while it deploys
    tick(32)
    assert in_service(arn) == set(hosts) - {second_of(hosts, first)}
    [back] = events_of("shop", "host.registered")
    assert back["host"] == first and back["detail"]["status"] == "succeeded"
    tick(33)
    fleet.round()
    assert tick(34)["rollouts"]["shop"] == "succeeded"
    assert in_service(arn) == set(hosts)
    assert fleet.at("1.0.0", "shop") == hosts


def second_of(hosts, first):
    return next(h for h in hosts if h != first)


def test_the_wait_is_capped_by_drain_seconds(api, signed_client, monkeypatch):
    arn = target_group(delay=3000)
    hosts = instances(1, arn)
    fleet = Fleet(signed_client, hosts)
    monkeypatch.setenv("FABU_DRAIN_MAX_SECONDS", "120")
    too_long = api.post("/api/v1/project", base_project(name="shop", hosts=hosts, rollout={
        "load_balancer": lb(arn, drain_seconds=121)}))
    assert too_long.status == 400
    assert "between 0 and 120 (this stage's FABU_DRAIN_MAX_SECONDS)" in too_long.json["fields"][
        "rollout.load_balancer.drain_seconds"]
    create(api, hosts, name="shop", rollout={"load_balancer": lb(arn, drain_seconds=20)})
    with elb_draining():
        tick()
        tick(15)
        assert fleet.round() == []                            # 3000 s delay, capped at 20
        tick(21)
    assert [h for h, _ in fleet.round()] == hosts


def test_never_more_than_max_parallel_hosts_out_at_once_a_percentage_of_the_hosts(api, signed_client):
    arn = target_group()
    hosts = instances(4, arn)
    fleet = Fleet(signed_client, hosts)
    at_once = 2                                               # 30% of 4 hosts, rounded up
    create(api, hosts, name="shop", rollout={"max_parallel": "30%", "load_balancer": lb(arn)})
    most = 0
    for second in range(0, 10):
        outcome = tick(second)
        most = max(most, len(set(hosts) - in_service(arn)))
        assert len(set(hosts) - in_service(arn)) <= at_once
        if outcome["rollouts"]["shop"] == "succeeded":
            break
        fleet.round()
        most = max(most, len(set(hosts) - in_service(arn)))
    assert rollout_of(api, "shop")["state"] == "succeeded"
    assert most == at_once                                   # used, never exceeded
    assert in_service(arn) == set(hosts) and fleet.at("1.0.0", "shop") == hosts


def test_a_failed_deploy_that_rolled_itself_back_rejoins_a_lost_host_stays_out(api, signed_client):
    arn = target_group()
    hosts = instances(3, arn)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"max_failures": 2, "load_balancer": lb(arn)})
    fleet.fail[hosts[0]] = Phase.DO_DEPLOY                    # fails, rolls itself back
    fleet.hung.add(hosts[1])                                  # takes its script, never reports
    tick()
    tick(1)
    assert set(hosts) & in_service(arn) == set()
    fleet.round()
    tick(2)
    assert in_service(arn) == {hosts[0], hosts[2]}            # self-rolled back: back in
    assert statuses("shop")[hosts[0]] == "failed"
    tick(1801)                                                # hosts[1]'s lease expires: lost
    assert statuses("shop")[hosts[1]] == "lost"
    [kept] = events_of("shop", "host.kept_out")
    assert kept["host"] == hosts[1] and kept["detail"]["target_groups"] == [arn]
    assert kept["detail"]["status"] == "lost"
    assert hosts[1] not in in_service(arn)
    tick(1802)
    assert len(events_of("shop", "host.kept_out")) == 1       # said once
    assert rollout_of(api, "shop")["state"] == "succeeded"    # within max_failures
    assert hosts[1] not in in_service(arn)


def test_a_broken_host_stays_out_until_a_later_deploy_on_it_succeeds(api, signed_client):
    arn = target_group()
    hosts = instances(1, arn)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"max_failures": 1, "load_balancer": lb(arn)})
    tick()
    tick(1)
    fleet.hung.add(hosts[0])
    [(_, item)] = fleet.round()
    fleet._report(hosts[0], item, Phase.DO_DEPLOY, ReportStatus.FAILED, None, exit_code=1)
    tick(2)                                                   # its self-rollback report is due
    assert hosts[0] not in in_service(arn) and not events_of("shop", "host.kept_out")
    assert rollout_of(api, "shop")["state"] == "running"      # not over while undecided
    tick(1805)                                                # none came: it is broken
    [kept] = events_of("shop", "host.kept_out")
    assert kept["detail"]["status"] == "failed" and "did not roll itself back" in kept["message"]
    assert hosts[0] not in in_service(arn)
    fleet.hung.clear()
    put(api, name="shop", version="2.0.0")                    # the next version fixes it
    tick(1806)
    tick(1807)
    fleet.round()
    tick(1808)
    assert in_service(arn) == set(hosts) and fleet.at("2.0.0", "shop") == hosts


def test_an_elb_error_holds_the_host_and_a_retry_completes_a_half_done_drain(api, signed_client):
    first, second = target_group(), target_group()
    hosts = instances(1, first, second)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"load_balancer": lb(first, second)})
    with elb_failing("DeregisterTargets", only_group=second) as refused:
        tick()
        tick(1)
    assert refused == [second, second]
    assert in_service(first) == set() and in_service(second) == set(hosts)
    assert statuses("shop") == {hosts[0]: "draining"}         # held: still in service
    assert fleet.round() == []
    held = rollout_of(api, "shop")
    assert "Throttling: Rate exceeded" in held["reason"] and hosts[0] in held["reason"]
    told = [e for e in events_of("shop", "rollout.waiting") if "Throttling" in e["message"]]
    assert len(told) == 1                                     # said once over two ticks
    tick(2)                                                   # the ELB works again
    assert in_service(second) == set()
    tick(3)
    assert [h for h, _ in fleet.round()] == hosts
    assert "Throttling" not in (rollout_of(api, "shop")["reason"] or "")
    with elb_failing("RegisterTargets"):
        tick(4)
    assert in_service(first) == set() and rollout_of(api, "shop")["state"] == "running"
    tick(5)
    assert in_service(first) == in_service(second) == set(hosts)
    assert rollout_of(api, "shop")["state"] == "succeeded"


def test_a_paused_rollout_puts_its_draining_hosts_back(api, signed_client):
    arn = target_group(delay=300)
    hosts = instances(2, arn)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"load_balancer": lb(arn)})
    with elb_draining():
        tick()
        assert in_service(arn) == set()
        assert api.post("/api/v1/project/shop/pause").status == 200
        tick(1)
    assert in_service(arn) == set(hosts) and set(statuses("shop").values()) == {"waiting"}
    assert fleet.round() == []
    assert api.post("/api/v1/project/shop/resume").status == 200
    assert in_service(arn) == set()                            # out again before any deploy
    tick(2)
    fleet.round()
    tick(3)
    assert in_service(arn) == set(hosts) and rollout_of(api, "shop")["state"] == "succeeded"


def test_load_balancer_and_max_parallel_are_checked_when_saved(api):
    arn = target_group()
    ip_group = target_group(target_type="ip")
    missing = arn.rsplit("/", 1)[0].replace("targetgroup/fabu-", "targetgroup/gone-") + "/0123456789abcdef"
    hosts = ["i-0123456789abcdef0", "i-0123456789abcdef1"]
    named = api.post("/api/v1/project", base_project(name="shop", rollout={"load_balancer": lb(arn)}))
    assert named.status == 400 and "instance id" in named.json["fields"]["rollout.load_balancer"]
    response = api.post("/api/v1/project", base_project(name="shop", hosts=hosts, rollout={
        "load_balancer": lb(arn, missing, ip_group)}))
    assert response.status == 400
    fields = response.json["fields"]
    assert set(fields) == {"rollout.load_balancer.target_groups[1]",
                           "rollout.load_balancer.target_groups[2]"}
    assert "no ELBv2 target group" in fields["rollout.load_balancer.target_groups[1]"]
    assert "target type ip" in fields["rollout.load_balancer.target_groups[2]"]
    bad = api.post("/api/v1/project", base_project(name="shop", hosts=hosts, rollout={
        "max_parallel": "0%", "load_balancer": {"target_groups": [
            "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef",
            "not-an-arn", arn, arn], "drain": 5}}))
    assert bad.status == 400
    assert set(bad.json["fields"]) == {"rollout.max_parallel", "rollout.load_balancer.drain",
                                       "rollout.load_balancer.target_groups",
                                       "rollout.load_balancer.target_groups[0]",
                                       "rollout.load_balancer.target_groups[1]"}
    assert "us-east-1" in bad.json["fields"]["rollout.load_balancer.target_groups[0]"]
    for value in ("101%", "abc", -1, True, 2.5):
        answer = api.post("/api/v1/project", base_project(name="shop", rollout={"max_parallel": value}))
        assert answer.status == 400 and set(answer.json["fields"]) == {"rollout.max_parallel"}, value
    many = api.post("/api/v1/project", base_project(name="shop", hosts=hosts, rollout={
        "load_balancer": lb(*[arn] * 6)}))
    assert "1-5" in many.json["fields"]["rollout.load_balancer.target_groups"]
    assert api.post("/api/v1/project", base_project(name="shop", hosts=hosts, rollout={
        "max_parallel": "50%", "load_balancer": lb(arn)})).status == 201
    renamed = api.put("/api/v1/project/shop", {"hosts": hosts + ["web-3.example.com"]})
    assert renamed.status == 400 and "'web-3.example.com'" in renamed.json["fields"]["rollout.load_balancer"]
    gone = api.put("/api/v1/project/shop", {"rollout": {"load_balancer": lb(missing)}})
    assert gone.status == 400 and set(gone.json["fields"]) == {"rollout.load_balancer.target_groups[0]"}
    settings = api.get("/api/v1/project/shop").json["rollout"]["settings"]
    assert settings["load_balancer"] == lb(arn) and settings["max_parallel"] == "50%"
    assert api.put("/api/v1/project/shop", {"rollout": {"load_balancer": None}}).status == 200


def test_a_resumed_host_leaves_its_target_group_again_before_its_retry(api, signed_client):
    arn = target_group()
    hosts = instances(1, arn)
    fleet = Fleet(signed_client, hosts)
    create(api, hosts, name="shop", rollout={"load_balancer": lb(arn)})
    fleet.fail[hosts[0]] = Phase.POST_DEPLOY
    tick()
    tick(1)
    fleet.round()
    assert tick(2)["rollouts"]["shop"] == "halted"            # nothing to roll back to
    tick(3)
    assert in_service(arn) == set(hosts)                      # it rolled itself back: in service
    fleet.fail.clear()
    assert api.post("/api/v1/project/shop/resume").status == 200
    tick(4)
    # out of service before any poll could fetch the retry (the emulator drains at once, so the
    # deploy may already be released)
    assert in_service(arn) == set() and statuses("shop")[hosts[0]] in ("draining", "pending")
    tick(5)
    assert [h for h, _ in fleet.round()] == hosts
    assert tick(6)["rollouts"]["shop"] == "succeeded" and in_service(arn) == set(hosts)
