"""Project items read and written: load, merge, the conditional save, the release a save needs.

A save holds the revision it read (``rev``), so a racing writer gets ``Conflict`` (409) instead
of losing a write.
"""
from pynamodb.exceptions import DoesNotExist

from chalicelib.build import releases
from chalicelib.errors import Conflict, NotFound
from chalicelib.models import Project, save_if


def load(project_id: str) -> Project:
    """The project item (strongly consistent); ``NotFound`` (404) when there is none."""
    try:
        return Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None


def merge(spec: dict, changes: dict) -> dict:
    """The settings after a partial update: fields replaced, ``rollout`` merged key by key."""
    merged = dict(spec)
    for key, value in changes.items():
        if key == "rollout" and isinstance(value, dict):
            merged["rollout"] = dict(spec.get("rollout", {}), **value)
        else:
            merged[key] = value
    return merged


def save_or_conflict(project: Project) -> None:
    """Save at the revision read; ``Conflict`` when someone saved the project meanwhile."""
    if not save_if(project):
        raise Conflict(f"project {project.id!r} changed while you were updating it: reload and retry")


def ensure_release(project: Project, actor: str, previous_spec: dict | None) -> None:
    """A saved project with a new version or source gets its release (a build is queued)."""
    spec = project.spec
    if previous_spec is None or previous_spec.get("version") != spec["version"] \
            or previous_spec.get("source") != spec.get("source"):
        releases.ensure_release(project.id, spec["version"], spec.get("source"),
                                spec.get("ci_server"), actor)
