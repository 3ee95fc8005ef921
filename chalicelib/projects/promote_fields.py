"""The ``promote_from`` field: its shape, and (at create/update) that its chain is sound.

``promote_from: {project, soak_seconds, auto}`` names the project whose succeeded releases this
project takes (the same artifact, never rebuilt: ``chalicelib.rollout.promotions``).
``validate_promote_from`` checks the shape (a 400 naming each bad path); ``check_chain`` checks,
against the stored projects, that the upstream exists and that following ``promote_from`` from
it never comes back to this project (at most ``MAX_CHAIN`` GetItems; a longer chain is refused).
"""
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.errors import ValidationError
from chalicelib.models import Project
from chalicelib.projects import schema
from chalicelib.projects.checks import Errors, check_int, check_type

#: The longest chain of ``promote_from`` links followed (dev → test → staging → ... → prod).
MAX_CHAIN = 10
#: What ``promote_from`` leaves out means.
DEFAULTS = {"soak_seconds": 0, "auto": False}


def validate_promote_from(errors: Errors, value: Any, own_name: str | None) -> None:
    """``null`` (no promotion) or ``{project, soak_seconds?, auto?}``; never the project itself."""
    if value is None:
        return
    if not check_type(errors, "promote_from", value, dict, "an object {project, soak_seconds, auto}"):
        return
    for key in value:
        if key not in schema.PROMOTE_FROM_FIELDS:
            errors.add(f"promote_from.{key}", "unknown field")
    project = value.get("project")
    if project is None:
        errors.add("promote_from.project", "is required: the project whose releases this one takes")
    elif not isinstance(project, str) or not schema.SLUG_RE.fullmatch(project):
        errors.add("promote_from.project", "must be the name of a project")
    elif project == own_name:
        errors.add("promote_from.project", f"a project cannot promote from itself ({own_name})")
    if "soak_seconds" in value:
        check_int(errors, "promote_from.soak_seconds", value["soak_seconds"],
                  *schema.PROMOTE_SOAK_LIMITS)
    if "auto" in value:
        check_type(errors, "promote_from.auto", value["auto"], bool, "true or false")


def normalise(spec: dict) -> None:
    """Fill in what a ``promote_from`` leaves out (``soak_seconds`` 0, ``auto`` false)."""
    if isinstance(spec.get("promote_from"), dict):
        spec["promote_from"] = dict(DEFAULTS, **spec["promote_from"])


def _upstream_of(project_id: str) -> str | None:
    """The project ``project_id`` promotes from; ``KeyError`` when there is no such project."""
    try:
        spec = Project.get(project_id).spec
    except DoesNotExist:
        raise KeyError(project_id) from None
    return (spec.get("promote_from") or {}).get("project")


def check_chain(name: str, spec: dict) -> None:
    """400 naming ``promote_from.project`` when the upstream does not exist, or following the
    chain from it comes back to ``name`` (a cycle) or goes on past ``MAX_CHAIN`` projects."""
    upstream = (spec.get("promote_from") or {}).get("project")
    if not upstream:
        return
    chain = [name, upstream]
    current = upstream
    while True:
        try:
            current = _upstream_of(current)
        except KeyError:
            if current == upstream:
                raise ValidationError(f"invalid project: promote_from.project: no project named "
                                      f"{upstream!r}", {"promote_from.project":
                                                        f"no project named {upstream!r}"}) from None
            return  # further up, a project was deleted: that link is broken, not a cycle
        if current is None:
            return
        chain.append(current)
        if current == name:
            text = " -> ".join(chain)
            raise ValidationError(f"promotion cycle: {text}",
                                  {"promote_from.project": f"promotion cycle: {text}"})
        if len(chain) > MAX_CHAIN:
            raise ValidationError(
                f"the promotion chain {' -> '.join(chain)} is longer than {MAX_CHAIN} projects",
                {"promote_from.project": f"the chain from here is longer than {MAX_CHAIN} projects"})
