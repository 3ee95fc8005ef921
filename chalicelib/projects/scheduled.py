"""Scheduled updates: an update with a future ``apply_at`` waits in ``pending`` until the tick.

``schedule`` stores the changes on the project (and in the sparse ``due-index``); one update may
wait per project, and a second is refused (409 naming the first) unless it says it replaces it.
``scheduled_of`` shows it, ``cancel`` drops it and ``list_page`` lists the waiting ones across
projects, soonest first (a Query on ``due-index``). The tick calls ``apply_due_updates``, which
applies each due one with the same conditional save as an update, so a project changed meanwhile
is simply looked at again on the next tick.
"""
import datetime
import logging
import time

from chalicelib import events, pagination
from chalicelib.errors import Conflict, NotFound
from chalicelib.models import Project, save_if
from chalicelib.projects.redaction import redact
from chalicelib.projects.store import ensure_release, load, merge, save_or_conflict
from chalicelib.projects.view import etag, list_dicts, to_dict
from chalicelib.rollout import changes as rollout_changes, failures, promotion_links
from chalicelib.times import format_time, parse_time, utcnow

SCHEDULER_ACTOR = "fabu:scheduler"
_DUE_PK = "due"
log = logging.getLogger("fabu.scheduler")


class AlreadyScheduled(Conflict):
    """A second scheduled update without ``replace``: 409 whose body shows the waiting one."""

    def __init__(self, project_id: str, pending: dict) -> None:
        when, who = pending.get("apply_at"), pending.get("by") or "someone"
        fields = ", ".join(sorted(pending.get("changes") or {})) or "nothing"
        super().__init__(
            f"project {project_id!r} already has an update scheduled for {when} (by {who}: "
            f"{fields}); cancel it first (DELETE /api/v1/project/{project_id}/scheduled) or send "
            "\"replace\": true (or ?replace=true) to replace it",
            {"apply_at": f"an update is already scheduled for {when}; send replace: true to "
                         "replace it"})
        self.pending = shown(pending)

    def body(self) -> dict:
        return dict(super().body(), scheduled=self.pending)


def shown(pending: dict | None) -> dict | None:
    """A scheduled update as the API shows it: its webhook secrets redacted like the settings'."""
    if not pending:
        return None
    return dict(pending, changes=redact(pending.get("changes") or {}))


def _summary(pending: dict) -> dict:
    """What an event says about a scheduled update (no values: they may hold secrets)."""
    return {"apply_at": pending.get("apply_at"), "fields": sorted(pending.get("changes") or {}),
            "by": pending.get("by")}


def schedule(project: Project, changes: dict, apply_at: str, actor: str, *,
             replace: bool = False) -> dict:
    """Store ``changes`` to apply at ``apply_at`` (a valid future time); the project's JSON.

    ``AlreadyScheduled`` (409) when one is waiting and ``replace`` is false.
    """
    replaced = project.pending
    if replaced and not replace:
        raise AlreadyScheduled(project.id, replaced)
    when = format_time(parse_time(apply_at))
    project.pending = {"changes": changes, "apply_at": when, "by": actor,
                       "requested_at": format_time(utcnow())}
    project.due_pk = _DUE_PK
    project.due_at = when
    project.updated_by = actor
    save_or_conflict(project)
    detail = {"fields": sorted(changes), "apply_at": when}
    message = f"update scheduled for {when}"
    if replaced:
        detail["replaced"] = _summary(replaced)
        message += f", replacing the one for {replaced.get('apply_at')}"
    events.record(project.id, "project.update_scheduled", actor, detail, message=message)
    return to_dict(project)


def scheduled_of(project_id: str) -> dict:
    """``{"project", "etag", "scheduled": <the waiting update, redacted> | None}``; 404 no project."""
    project = load(project_id)
    return {"project": project.id, "etag": etag(project),
            "scheduled": shown(project.pending)}


def cancel(project_id: str, actor: str, *, if_match: int | None = None) -> dict:
    """Drop the waiting update: ``{"project", "etag", "cancelled"}``; event ``update_cancelled``.

    404 when the project has none, 409 when ``if_match`` is stale or the project changed (or the
    tick applied the update) meanwhile.
    """
    project = load(project_id)
    if if_match is not None and if_match != project.rev:
        raise Conflict(f"project {project_id!r} changed since you read it (your revision "
                       f"{if_match}, now {project.rev}): reload and look again")
    pending = project.pending
    if not pending:
        raise NotFound(f"project {project_id!r} has no scheduled update to cancel")
    project.pending = None
    project.due_pk = None
    project.due_at = None
    project.updated_by = actor
    save_or_conflict(project)
    events.record(project_id, "project.update_cancelled", actor,
                  {**_summary(pending), "requested_by": pending.get("by")},
                  message=f"scheduled update for {pending.get('apply_at')} cancelled")
    return {"project": project_id, "etag": etag(project), "cancelled": shown(pending)}


def list_page(limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """Projects with a waiting update, soonest ``apply_at`` first: one Query on ``due-index``."""
    result = Project.due_index.query(_DUE_PK, limit=limit, page_size=limit,
                                     last_evaluated_key=pagination.decode(cursor))
    ids = [item.id for item in result]
    loaded = {p.id: p for p in Project.batch_get(ids)} if ids else {}
    items = list_dicts([loaded[i] for i in ids if i in loaded and loaded[i].pending])
    return items, pagination.encode(result.last_evaluated_key)


#: At most this many due updates are applied per tick (the others, due later, on the next ones).
MAX_DUE_PER_TICK = 100


def apply_due_updates(now: datetime.datetime | None = None, actor: str = SCHEDULER_ACTOR,
                      deadline: float | None = None) -> list[dict]:
    """Apply every scheduled update whose time has come (one Query on ``due-index``, oldest
    first, at most ``MAX_DUE_PER_TICK``, none begun after ``deadline``, a ``time.monotonic()``
    value). Each project in isolation: one that raises is logged and told once
    (``project.update_failed``) and the others are applied."""
    now = now or utcnow()
    applied = []
    for item in Project.due_index.query(_DUE_PK, Project.due_at <= format_time(now),
                                        limit=MAX_DUE_PER_TICK):
        if deadline is not None and time.monotonic() >= deadline:
            log.warning("scheduled updates: out of time before %s; the next tick goes on", item.id)
            break
        saved = False
        try:
            project = load(item.id)
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
            promotion_links.sync(project.id, project.spec)  # before the save, as an update does
            if not save_if(project):
                continue  # someone else applied or changed it; the next tick looks again
            saved = True
            if previous.get("promote_from") and not project.spec.get("promote_from"):
                promotion_links.forget(project.id)
            events.record(project.id, "project.update_applied", actor,
                          {"fields": sorted(pending["changes"]), "requested_by": pending.get("by")},
                          message="scheduled update applied")
            requester = pending.get("by") or actor
            ensure_release(project, requester, previous)
            rollout_changes.plan_change(project.id, requester, previous)
            applied.append(to_dict(project))
        except NotFound:
            continue
        except Exception as exc:  # noqa: BLE001 - one project's failure never stops the others
            log.exception("scheduled update of %s failed", item.id)
            error = failures.describe(exc)
            what = ("was applied, but planning its rollout failed" if saved
                    else "could not be applied; the tick tries again")
            try:
                failures.tell_once(item.id, "project.update_failed", actor,
                                   f"scheduled update {what}: {error}",
                                   {"error": error, "applied": saved})
            except Exception:  # noqa: BLE001 - the store fails too: the log has both
                log.exception("could not record the failed scheduled update of %s", item.id)
    return applied
