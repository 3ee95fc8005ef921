"""Validators of a project's ``rollout`` settings: waves, limits, failures, canaries.

``validate_rollout`` runs on a body and again on the merged settings after an update, because
canaries must stay among the hosts and waves must keep growing for the project's host count
(sized with ``chalicelib.rollout.plan.wave_size``, the function the engine plans with).
"""
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.projects import lb_fields, schema
from chalicelib.projects.checks import Errors, check_int, check_type
from chalicelib.rollout import alarms, analysis, windows
from chalicelib.rollout.plan import wave_size


def _check_wave_specs(errors: Errors, path: str, waves: list) -> bool:
    """Each wave a count or a percentage, counts and percentages each strictly growing."""
    last_count = last_percent = 0
    ok = True
    for i, spec in enumerate(waves):
        item = f"{path}[{i}]"
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            errors.add(item, "must be a host count (1) or a percentage ('10%')")
            ok = False
        elif isinstance(spec, int):
            if spec < 1:
                errors.add(item, "a host count must be at least 1")
                ok = False
            elif spec <= last_count:
                errors.add(item, f"must be greater than the previous count ({last_count})")
                ok = False
            last_count = max(last_count, spec)
        else:
            match = schema.PERCENT_RE.fullmatch(spec)
            if not match or not 1 <= int(match.group(1)) <= 100:
                errors.add(item, "a percentage must look like '10%' (1-100)")
                ok = False
            elif int(match.group(1)) <= last_percent:
                errors.add(item, f"must be greater than the previous percentage ({last_percent}%)")
                ok = False
            else:
                last_percent = int(match.group(1))
    return ok


def _validate_waves(errors: Errors, waves: Any, host_count: int) -> None:
    path = "rollout.waves"
    if not check_type(errors, path, waves, list, "a list of counts and percentages"):
        return
    if not waves:
        errors.add(path, "needs at least one wave, ending at '100%'")
        return
    if len(waves) > schema.MAX_WAVES:
        errors.add(path, f"at most {schema.MAX_WAVES} waves")
        return
    if not _check_wave_specs(errors, path, waves):
        return
    if waves[-1] != schema.LAST_WAVE:
        errors.add(f"{path}[{len(waves) - 1}]", "the last wave must be '100%'")
    if host_count:
        sizes = [wave_size(spec, host_count) for spec in waves]
        for i in range(1, len(sizes)):
            if sizes[i] < sizes[i - 1]:
                errors.add(f"{path}[{i}]", f"reaches fewer hosts ({sizes[i]}) than the wave "
                                           f"before it ({sizes[i - 1]})")


def _validate_max_failures(errors: Errors, value: Any) -> None:
    if isinstance(value, str):
        match = schema.PERCENT_RE.fullmatch(value)
        if not match or int(match.group(1)) > 100:
            errors.add("rollout.max_failures", "must be a count (0) or a percentage ('5%')")
    else:
        check_int(errors, "rollout.max_failures", value, 0, schema.MAX_HOSTS)


def _validate_canaries(errors: Errors, canaries: Any, host_list: list) -> None:
    if check_type(errors, "rollout.canary_hosts", canaries, list, "a list of host names"):
        for i, host in enumerate(canaries):
            if host not in host_list:
                errors.add(f"rollout.canary_hosts[{i}]", "is not one of the project's hosts")
        if len(set(map(str, canaries))) != len(canaries):
            errors.add("rollout.canary_hosts", "lists a host twice")


def validate_rollout(errors: Errors, rollout: Any, hosts: Any, *, check_alarms: bool = False) -> None:
    """The ``rollout`` object against the project's ``hosts`` (a list, or anything when invalid).

    ``check_alarms``: the body's ``alarms`` are also looked up in CloudWatch and its
    ``load_balancer`` target groups in ELBv2 (a missing one is named; AWS failing propagates,
    a 503).
    """
    if not check_type(errors, "rollout", rollout, dict, "an object"):
        return
    for key in rollout:
        if key not in schema.ROLLOUT_DEFAULTS:
            errors.add(f"rollout.{key}", "unknown field")
    host_list = hosts if isinstance(hosts, list) else []
    if "waves" in rollout:
        _validate_waves(errors, rollout["waves"], len(host_list))
    for key, (low, high) in schema.ROLLOUT_LIMITS.items():
        if key in rollout and key != "max_parallel":
            check_int(errors, f"rollout.{key}", rollout[key], low, high)
    if "max_parallel" in rollout:
        lb_fields.validate_max_parallel(errors, rollout["max_parallel"])
    if "load_balancer" in rollout:
        lb_fields.validate_load_balancer(errors, rollout["load_balancer"], check_alarms)
        lb_fields.validate_hosts(errors, rollout["load_balancer"], host_list)
    if "max_failures" in rollout:
        _validate_max_failures(errors, rollout["max_failures"])
    for key in schema.ROLLOUT_FLAGS:
        if key in rollout and not isinstance(rollout[key], bool):
            errors.add(f"rollout.{key}", "must be true or false")
    if "rollback_mode" in rollout and rollout["rollback_mode"] not in schema.ROLLBACK_MODES:
        errors.add("rollout.rollback_mode", "must be 'all' (every host at once) or 'waves'")
    if rollout.get("zones") is not None and rollout["zones"] not in schema.ZONE_MODES:
        errors.add("rollout.zones", "must be 'spread' (each wave across the zones), "
                                    "'one_at_a_time' (zone after zone) or null")
    _validate_canaries(errors, rollout.get("canary_hosts", []), host_list)
    if "alarms" in rollout:
        _validate_alarms(errors, rollout["alarms"], check_alarms)
    alarms.validate_watch(errors, rollout.get("alarm_watch_seconds"))
    for path, message in {**analysis.problems(rollout.get("analysis")),
                          **windows.problems(rollout.get("windows", []))}.items():
        errors.add(path, message)


def _validate_alarms(errors: Errors, names: Any, check_alarms: bool) -> None:
    """``rollout.alarms``: names by CloudWatch's rules, then (``check_alarms``) existing ones."""
    before = len(errors.fields)
    alarms.validate_names(errors, names)
    if check_alarms and len(errors.fields) == before and names:
        try:
            alarms.check_exist(names)
        except ValidationError as exc:
            for path, message in exc.fields.items():
                errors.add(path, message)
