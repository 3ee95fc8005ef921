"""Scheduled updates: an update with a future ``apply_at`` waits in ``pending`` until the tick.

``schedule`` stores the changes on the project (and in the sparse ``due-index``); the tick calls
``apply_due_updates``, which applies each due one with the same conditional save as an update,
so a project changed meanwhile is simply looked at again on the next tick.
"""
import datetime

from chalicelib import events
from chalicelib.errors import NotFound
from chalicelib.models import Project, save_if
from chalicelib.projects.store import ensure_release, load, merge, save_or_conflict
from chalicelib.projects.view import to_dict
from chalicelib.rollout import changes as rollout_changes
from chalicelib.times import format_time, parse_time, utcnow

SCHEDULER_ACTOR = "fabu:scheduler"
_DUE_PK = "due"


def schedule(project: Project, changes: dict, apply_at: str, actor: str) -> dict:
    """Store ``changes`` to apply at ``apply_at`` (a valid future time); the project's JSON."""
    when = format_time(parse_time(apply_at))
    project.pending = {"changes": changes, "apply_at": when, "by": actor,
                       "requested_at": format_time(utcnow())}
    project.due_pk = _DUE_PK
    project.due_at = when
    project.updated_by = actor
    save_or_conflict(project)
    events.record(project.id, "project.update_scheduled", actor,
                  {"fields": sorted(changes), "apply_at": when},
                  message=f"update scheduled for {when}")
    return to_dict(project)


def apply_due_updates(now: datetime.datetime | None = None,
                      actor: str = SCHEDULER_ACTOR) -> list[dict]:
    """Apply every scheduled update whose time has come (one Query on ``due-index``)."""
    now = now or utcnow()
    applied = []
    for item in Project.due_index.query(_DUE_PK, Project.due_at <= format_time(now)):
        try:
            project = load(item.id)
        except NotFound:
            continue
        pending = project.pending
        if not pending or parse_time(pending["apply_at"]) > now:
            continue
        previous = project.spec
        project.spec = merge(previous, pending["changes"])
        project.pending = None
        project.due_pk = None
        project.due_at = None
        project.updated_at = now
        project.updated_by = pending.get("by")
        if not save_if(project):
            continue  # someone else applied or changed it; the next tick looks again
        events.record(project.id, "project.update_applied", actor,
                      {"fields": sorted(pending["changes"]), "requested_by": pending.get("by")},
                      message="scheduled update applied")
        requester = pending.get("by") or actor
        ensure_release(project, requester, previous)
        rollout_changes.plan_change(project.id, requester, previous)
        applied.append(to_dict(project))
    return applied
