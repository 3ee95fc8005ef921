"""Validation of a project's ``fleet`` (EC2 tags, Auto Scaling groups) and of its membership.

A project has listed ``hosts``, a ``fleet``, or both; a create without either is a 400 naming
``hosts``. The selector's rules are ``chalicelib.fleet.selectors``'; the groups a body names
are also looked up in Auto Scaling when it is saved (a missing one is a 400 naming
``fleet.autoscaling_groups[i]``; Auto Scaling failing propagates: a 503).
"""
from typing import Any

from chalicelib import config
from chalicelib.fleet import selectors, sweep
from chalicelib.projects.checks import Errors


def validate_fleet(errors: Errors, fleet: Any, *, check_groups: bool = False) -> None:
    """``fleet``: null (no fleet) or a selector; ``check_groups``: its groups must exist."""
    problems = selectors.problems(fleet)
    for path, message in problems.items():
        errors.add(path, message)
    groups = selectors.groups_of(fleet) if not problems else []
    if check_groups and groups:
        missing = set(sweep.missing_groups(groups))
        for i, name in enumerate(groups):
            if name in missing:
                errors.add(f"fleet.autoscaling_groups[{i}]",
                           f"no Auto Scaling group named {name!r} in {config.region()}")


def validate_membership(errors: Errors, body: dict, partial: bool) -> None:
    """A create names its hosts: listed ``hosts``, a ``fleet``, or both."""
    if not partial and "hosts" not in body and not body.get("fleet"):
        errors.add("hosts", "is required unless the project has a fleet (give hosts, fleet, "
                            "or both)")
