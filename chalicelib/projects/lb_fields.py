"""Validators of a project's traffic settings: ``rollout.load_balancer`` and ``max_parallel``.

``load_balancer`` is null (no traffic draining) or ``{target_groups: [ARN, ...], drain_seconds}``:
1..``MAX_TARGET_GROUPS`` ELBv2 target group ARNs of the stage's region, each once, and an
optional cap on a drain's wait within the stage's ``FABU_DRAIN_MAX_SECONDS``. With
``check_aws`` (a create or an update that sends them) each group must exist and have the
``instance`` target type (``chalicelib.rollout.elb.check_groups``; an AWS error propagates: 503).
With a load balancer the listed hosts must be instance ids (``validate_hosts``).
``max_parallel`` is a host count or a percentage of the rollout's hosts (the engine's rule:
``chalicelib.rollout.drain.parallel_limit``).
"""
import re
from typing import Any

from chalicelib import config
from chalicelib.projects import schema
from chalicelib.projects.checks import Errors, check_int
from chalicelib.rollout import drain, elb

PATH = "rollout.load_balancer"
#: An EC2 instance id: what an ``instance`` target group's targets, hence the hosts, are named.
INSTANCE_ID_RE = re.compile(r"i-(?:[0-9a-f]{8}|[0-9a-f]{17})")
#: An ELBv2 target group ARN: region, account, name (1-32), id.
TARGET_GROUP_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:elasticloadbalancing:([a-z0-9-]+):\d{12}:targetgroup/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}")


def validate_load_balancer(errors: Errors, value: Any, check_aws: bool) -> None:
    """``rollout.load_balancer``: null, or an object of ``schema.LOAD_BALANCER_FIELDS``."""
    if value is None:
        return
    if not isinstance(value, dict):
        errors.add(PATH, "must be an object {target_groups: [ARN, ...]} or null (no draining)")
        return
    for key in value:
        if key not in schema.LOAD_BALANCER_FIELDS:
            errors.add(f"{PATH}.{key}", "unknown field")
    before = len(errors.fields)
    groups = value.get("target_groups")
    _validate_groups(errors, groups)
    seconds, cap = value.get("drain_seconds"), drain.max_seconds()
    if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > cap:
        errors.add(f"{PATH}.drain_seconds", f"must be between 0 and {cap} (this stage's "
                                            "FABU_DRAIN_MAX_SECONDS)")
    elif seconds is not None:
        check_int(errors, f"{PATH}.drain_seconds", seconds, 0, cap)
    if check_aws and len(errors.fields) == before:
        for path, message in elb.check_groups(groups, f"{PATH}.target_groups").items():
            errors.add(path, message)


def validate_hosts(errors: Errors, value: Any, hosts: list) -> None:
    """With a load balancer every listed host must be an instance id (the target's id)."""
    if not isinstance(value, dict) or not value.get("target_groups"):
        return
    named = [h for h in hosts if not (isinstance(h, str) and INSTANCE_ID_RE.fullmatch(h))]
    if named:
        more = f" (and {len(named) - 1} more)" if len(named) > 1 else ""
        errors.add(PATH, f"needs hosts named by their EC2 instance id (i-0123456789abcdef0): "
                         f"{str(named[0])[:80]!r}{more} is not one")


def _validate_groups(errors: Errors, groups: Any) -> None:
    path = f"{PATH}.target_groups"
    if not isinstance(groups, list) or not 1 <= len(groups) <= schema.MAX_TARGET_GROUPS:
        errors.add(path, f"must be a list of 1-{schema.MAX_TARGET_GROUPS} ELBv2 target group ARNs")
        return
    region = config.region()
    for index, arn in enumerate(groups):
        match = TARGET_GROUP_ARN_RE.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            errors.add(f"{path}[{index}]", "must be an ELBv2 target group ARN (arn:aws:"
                                           "elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>)")
        elif match.group(1) != region:
            errors.add(f"{path}[{index}]", f"must be a target group of this stage's region "
                                           f"({region}), not {match.group(1)}")
    if all(isinstance(g, str) for g in groups) and len(set(groups)) != len(groups):
        errors.add(path, "lists a target group twice")


def validate_max_parallel(errors: Errors, value: Any) -> None:
    """``rollout.max_parallel``: a count (0: no limit) or a percentage ``'1%'``-``'100%'``."""
    path = "rollout.max_parallel"
    low, high = schema.ROLLOUT_LIMITS["max_parallel"]
    if isinstance(value, str):
        match = schema.PERCENT_RE.fullmatch(value)
        p_low, p_high = schema.MAX_PARALLEL_PERCENT_LIMITS
        if not match or not p_low <= int(match.group(1)) <= p_high:
            errors.add(path, f"a percentage must look like '25%' ({p_low}-{p_high}) "
                             "of the rollout's hosts")
    elif isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a host count (0: the whole wave) or a percentage ('25%')")
    else:
        check_int(errors, path, value, low, high)
