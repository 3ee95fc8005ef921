"""A project's fleet selector (``spec.fleet``): its rules, its parts, and its canonical keys.

``fleet: {ec2_tags: {Key: Value, ...}, autoscaling_groups: [name, ...]}`` selects the running EC2
instances that carry *all* the tags, plus the ``InService`` instances of the groups. Pure: the
validators (``problems``) and the keys the sweep and the sync group by (``tags_key``: one EC2
sweep per distinct tag set, whichever projects share it; ``fleet_key``: what a project's stored
member set was computed from). Nothing here calls AWS (``chalicelib.fleet.sweep`` does).
"""
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

FIELDS = ("ec2_tags", "autoscaling_groups")
#: At most this many tags a selector (each one an EC2 ``tag:<key>`` filter).
MAX_TAGS = 10
#: At most this many Auto Scaling groups a project.
MAX_GROUPS = 20
#: EC2's bounds of a tag key and value, and Auto Scaling's of a group name.
MAX_TAG_KEY, MAX_TAG_VALUE, MAX_GROUP_NAME = 128, 256, 255
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def tags_of(fleet: Mapping | None) -> dict[str, str]:
    return dict((fleet or {}).get("ec2_tags") or {})


def groups_of(fleet: Mapping | None) -> list[str]:
    return list((fleet or {}).get("autoscaling_groups") or [])


def tags_key(tags: Mapping[str, str]) -> str:
    """The canonical key of a tag set: the same tags in any order are the same sweep."""
    return json.dumps(sorted(tags.items()), separators=(",", ":"))


def fleet_key(fleet: Mapping | None, created: str) -> str:
    """What a stored member set was computed from: the selector (canonical) and the project's
    creation time (a project deleted and created again starts from its items, not a stale set)."""
    canonical = json.dumps([sorted(tags_of(fleet).items()), sorted(groups_of(fleet)), created],
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def describe(fleet: Mapping | None) -> str:
    """``tags app=web, tier=front; groups web-asg`` (for messages)."""
    parts = []
    tags = tags_of(fleet)
    if tags:
        parts.append("tags " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items())))
    groups = groups_of(fleet)
    if groups:
        parts.append("groups " + ", ".join(groups))
    return "; ".join(parts) or "nothing"


def _text_problem(value: Any, low: int, high: int, what: str) -> str | None:
    if not isinstance(value, str):
        return f"must be a string ({what})"
    if not low <= len(value) <= high:
        return f"must be {low}-{high} characters ({what})"
    if _CONTROL_RE.search(value):
        return "must not contain control characters"
    if value != value.strip():
        return "must not start or end with whitespace"
    return None


def problems(fleet: Any) -> dict[str, str]:
    """``{path: message}`` for everything wrong with a ``fleet`` value (``None``: no fleet)."""
    if fleet is None:
        return {}
    if not isinstance(fleet, Mapping):
        return {"fleet": "must be an object: {ec2_tags: {Key: Value}, autoscaling_groups: [name]}"}
    found: dict[str, str] = {}
    for key in fleet:
        if key not in FIELDS:
            found[f"fleet.{key}"] = f"unknown field (a fleet has {', '.join(FIELDS)})"
    tags, groups = fleet.get("ec2_tags"), fleet.get("autoscaling_groups")
    if tags is not None:
        found.update(_tag_problems(tags))
    if groups is not None:
        found.update(_group_problems(groups))
    if not found and not tags and not groups:
        found["fleet"] = ("selects nothing: give ec2_tags (at least one tag) or "
                          "autoscaling_groups (at least one group), or both")
    return found


def _tag_problems(tags: Any) -> dict[str, str]:
    path = "fleet.ec2_tags"
    if not isinstance(tags, Mapping):
        return {path: "must be an object of tag keys and values ({\"app\": \"web\"})"}
    if not tags:
        return {path: "needs at least one tag (an empty set would select every instance)"}
    if len(tags) > MAX_TAGS:
        return {path: f"at most {MAX_TAGS} tags"}
    found = {}
    for key, value in tags.items():
        problem = _text_problem(key, 1, MAX_TAG_KEY, "an EC2 tag key")
        if problem:
            found[f"{path}.{key}"] = f"tag key {problem}"
            continue
        problem = _text_problem(value, 0, MAX_TAG_VALUE, "an EC2 tag value")
        if problem:
            found[f"{path}.{key}"] = f"tag value {problem}"
    return found


def _group_problems(groups: Any) -> dict[str, str]:
    path = "fleet.autoscaling_groups"
    if not isinstance(groups, list):
        return {path: "must be a list of Auto Scaling group names"}
    if len(groups) > MAX_GROUPS:
        return {path: f"at most {MAX_GROUPS} groups"}
    found, seen = {}, {}
    for i, name in enumerate(groups):
        problem = _text_problem(name, 1, MAX_GROUP_NAME, "an Auto Scaling group name")
        if problem:
            found[f"{path}[{i}]"] = problem
        elif name in seen:
            found[f"{path}[{i}]"] = f"lists {name!r} twice (also [{seen[name]}])"
        else:
            seen[name] = i
    return found
