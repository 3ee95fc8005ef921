"""The ELBv2 calls of traffic draining: batched (de)registration, target health, delays, checks.

Everything fabu asks Elastic Load Balancing goes through here, always with the client of
``chalicelib.aws.elbv2`` (short timeouts: it runs in the tick) and always bounded:

* ``DeregisterTargets`` / ``RegisterTargets`` / ``DescribeTargetHealth`` take the hosts of one
  target group at a time, at most ``TARGETS_PER_CALL`` targets a call (never one call per host);
  a batch the ELB refuses as a whole (one bad target makes the whole call fail) is retried
  target by target so that one bad host holds only itself;
* a ``Budget`` caps the calls and the seconds one rollout step spends (``MAX_CALLS``,
  ``CALL_SECONDS``); what is left over is answered "not tried" and waits for the next step.

Host names are the targets' ids (``instance`` target groups: the instance id). A failure is
returned as one stable line per host (``Throttling: Rate exceeded``), never swallowed: the
caller holds the host and says why. ``check_groups`` is the create/update check of
``rollout.load_balancer.target_groups`` (``DescribeTargetGroups``).
"""
import time
from collections.abc import Iterable

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.rollout.alarms import describe_error

#: Targets per ``DeregisterTargets``/``RegisterTargets``/``DescribeTargetHealth`` call.
TARGETS_PER_CALL = 100
#: At most this many ELB calls per rollout step (the rest waits for the next step).
MAX_CALLS = 40
#: A rollout step spends at most this long on ELB calls.
CALL_SECONDS = 10.0
#: What a host is answered when the step's budget ran out before its call.
NOT_TRIED = "not tried this step (the step's ELB call budget is spent)"
#: Target health states of a target that still (or again) takes new connections.
IN_SERVICE = frozenset({"initial", "healthy", "unhealthy", "unhealthy.draining", "unavailable"})
#: The target health state while its connections drain after a deregistration.
DRAINING = "draining"
#: The ELB's own default deregistration delay (used when the attribute cannot be read).
DEFAULT_DELAY = 300


class Budget:
    """The ELB calls one step may still make (``MAX_CALLS`` within ``CALL_SECONDS``)."""

    def __init__(self, calls: int = MAX_CALLS, seconds: float = CALL_SECONDS) -> None:
        self.left = calls
        self.deadline = time.monotonic() + seconds
        self.spent = False  # True once a call was refused for the budget

    def take(self) -> bool:
        """True (and one call fewer) when a call may be made now."""
        if self.left <= 0 or time.monotonic() > self.deadline:
            self.spent = True
            return False
        self.left -= 1
        return True


def _chunks(hosts: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(hosts), TARGETS_PER_CALL):
        yield hosts[start:start + TARGETS_PER_CALL]


def _targets(hosts: list[str]) -> list[dict]:
    return [{"Id": host} for host in hosts]


def _change(operation: str, group: str, hosts: list[str], budget: Budget) -> dict[str, str | None]:
    """``operation`` (``deregister_targets``/``register_targets``) of ``hosts`` in ``group``:
    ``{host: None (done) | why not}``; a refused batch is retried host by host."""
    outcome: dict[str, str | None] = {}
    for chunk in _chunks(list(dict.fromkeys(hosts))):
        if not budget.take():
            outcome.update(dict.fromkeys(chunk, NOT_TRIED))
            continue
        try:
            getattr(aws.elbv2(), operation)(TargetGroupArn=group, Targets=_targets(chunk))
            outcome.update(dict.fromkeys(chunk))
            continue
        except (ClientError, BotoCoreError) as exc:
            why = describe_error(exc)
        if len(chunk) == 1:
            outcome[chunk[0]] = why
            continue
        for host in chunk:  # one bad target refuses the whole call: find it, let the rest go
            outcome.update(_change(operation, group, [host], budget))
    return outcome


def deregister(group: str, hosts: list[str], budget: Budget) -> dict[str, str | None]:
    """Take ``hosts`` out of ``group``: ``{host: None | why not}``. A host the ELB refuses as
    an unknown target but reports as not registered (or already draining) counts as done, so a
    retry after a lost answer completes."""
    outcome = _change("deregister_targets", group, hosts, budget)
    refused = [h for h, why in outcome.items() if why and why.startswith("InvalidTarget")]
    if refused:
        seen = health(group, refused, budget)
        for host in refused:
            if seen.get(host) in ("unused", DRAINING, "absent"):
                outcome[host] = None
    return outcome


def register(group: str, hosts: list[str], budget: Budget) -> dict[str, str | None]:
    """Put ``hosts`` (back) into ``group``: ``{host: None | why not}``."""
    return _change("register_targets", group, hosts, budget)


def health(group: str, hosts: list[str], budget: Budget) -> dict[str, str]:
    """The target health state of each host in ``group`` (``healthy``, ``draining``,
    ``unused``...; ``absent`` when not listed; ``error: <why>`` when it could not be read)."""
    seen: dict[str, str] = {}
    for chunk in _chunks(list(dict.fromkeys(hosts))):
        if not budget.take():
            seen.update(dict.fromkeys(chunk, f"error: {NOT_TRIED}"))
            continue
        try:
            answer = aws.elbv2().describe_target_health(TargetGroupArn=group, Targets=_targets(chunk))
        except (ClientError, BotoCoreError) as exc:
            seen.update(dict.fromkeys(chunk, f"error: {describe_error(exc)}"))
            continue
        found = {}
        for row in answer.get("TargetHealthDescriptions", []):
            target = row.get("Target", {}).get("Id")
            state = row.get("TargetHealth", {}).get("State") or "absent"
            # one row per registered port: the target is in service if any row says so
            if found.get(target) not in IN_SERVICE:
                found[target] = state
        seen.update({host: found.get(host, "absent") for host in chunk})
    return seen


def delay(group: str, budget: Budget) -> tuple[int, str | None]:
    """``group``'s deregistration delay in seconds, and why it could not be read (then
    ``DEFAULT_DELAY``: the wait is capped anyway, and the target's health ends it early)."""
    if not budget.take():
        return DEFAULT_DELAY, NOT_TRIED
    try:
        answer = aws.elbv2().describe_target_group_attributes(TargetGroupArn=group)
    except (ClientError, BotoCoreError) as exc:
        return DEFAULT_DELAY, describe_error(exc)
    for attribute in answer.get("Attributes", []):
        if attribute.get("Key") == "deregistration_delay.timeout_seconds":
            try:
                return int(attribute.get("Value")), None
            except (TypeError, ValueError):
                break
    return DEFAULT_DELAY, "no deregistration_delay.timeout_seconds attribute"


def check_groups(arns: list[str], path: str) -> dict[str, str]:
    """``{"<path>[i]": why}`` for each target group that does not exist or whose target type is
    not ``instance`` (one ``DescribeTargetGroups``; one per ARN to name the missing ones). An
    AWS error other than "not found" propagates (the API answers 503)."""
    found, problems = {}, {}
    try:
        groups = aws.elbv2().describe_target_groups(TargetGroupArns=list(arns))["TargetGroups"]
        found = {g["TargetGroupArn"]: g for g in groups}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TargetGroupNotFound":
            raise
        for arn in dict.fromkeys(arns):
            try:
                for group in aws.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]:
                    found[group["TargetGroupArn"]] = group
            except ClientError as one:
                if one.response.get("Error", {}).get("Code") != "TargetGroupNotFound":
                    raise
    for index, arn in enumerate(arns):
        group = found.get(arn)
        if group is None:
            problems[f"{path}[{index}]"] = f"no ELBv2 target group {arn} (DescribeTargetGroups found none)"
        elif group.get("TargetType", "instance") != "instance":
            problems[f"{path}[{index}]"] = (f"target group {group.get('TargetGroupName', arn)} has target "
                                            f"type {group.get('TargetType')}; only 'instance' target groups "
                                            "can be drained (fabu's host names are instance ids)")
    return problems
