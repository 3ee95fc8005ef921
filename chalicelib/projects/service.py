"""The project service: create, read, list, update and delete projects.

Callers get plain dicts. Every write is conditional: a create must not overwrite
(``attribute_not_exists``), an update or delete must hold the revision it read (``rev``, the
``ETag``), so two updates from the same base give one success and one ``Conflict`` (409) and
no write is lost. Every change records an event naming the caller's ARN. An update with a future
``apply_at`` is scheduled instead (``chalicelib.projects.scheduled``).
"""
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import config, events, pagination
from chalicelib.errors import Conflict, ValidationError
from chalicelib.models import HostState, Project, delete_if, save_if
from chalicelib.projects import hostlist, promote_fields, scheduled
from chalicelib.projects.redaction import keep_secrets
from chalicelib.projects.store import ensure_release, load, merge, save_or_conflict
from chalicelib.projects.validation import validate_merged, validate_project
from chalicelib.projects.view import list_dicts, to_dict
from chalicelib.rollout import changes as rollout_changes
from chalicelib.rollout import dependencies, promotion_links, summary, summary_page
from chalicelib.rollout import view as rollout_view
from chalicelib.states import ROLLOUT_IN_PROGRESS
from chalicelib.times import parse_time, utcnow

_BATCH = 25


def _spec_depends_on(project_id: str) -> list | None:
    try:
        return Project.get(project_id).spec.get("depends_on", [])
    except DoesNotExist:
        return None


def _check_dependencies(name: str, spec: dict) -> None:
    """Every dependency exists, and the graph stays acyclic (400 naming the cycle)."""
    problems = {}
    for i, dep in enumerate(spec.get("depends_on", [])):
        if dep["project"] != name and _spec_depends_on(dep["project"]) is None:
            problems[f"depends_on[{i}].project"] = f"no project named {dep['project']!r}"
    if problems:
        raise ValidationError("invalid project: depends on unknown projects", problems)
    cycle = dependencies.find_cycle(name, spec.get("depends_on", []), _spec_depends_on)
    if cycle:
        text = " -> ".join(cycle)
        raise ValidationError(f"dependency cycle: {text}", {"depends_on": f"dependency cycle: {text}"})


def create(body: dict, actor: str) -> dict:
    """Create a project from a full body (201 in the API); ``Conflict`` when the name is taken."""
    spec = validate_project(body, local=config.is_local())
    if "apply_at" in body:
        raise ValidationError("invalid project: apply_at is only for updates",
                              {"apply_at": "only an update can be scheduled; use deploy_at"})
    name = spec["name"]
    _check_dependencies(name, spec)
    promote_fields.check_chain(name, spec)
    promotion_links.sync(name, spec)  # before the save: the tick finds it (``promotion_links``)
    now = utcnow()
    project = Project(name, spec=spec, created_at=now, updated_at=now, created_by=actor,
                      updated_by=actor)
    if not save_if(project, Project.id.does_not_exist()):
        raise Conflict(f"project {name!r} already exists: update it with PUT")
    events.record(name, "project.created", actor, {"version": spec["version"],
                                                    "hosts": len(hostlist.names(spec))},
                  message=f"project created at version {spec['version']}")
    ensure_release(project, actor, None)
    rollout_changes.plan_change(name, actor, None)  # the first rollout starts (or is scheduled)
    return to_dict(project)


def get(project_id: str) -> dict:
    """The project with its release history and per-host view; ``NotFound`` (404)."""
    return to_dict(load(project_id), detail=True)


def list_page(limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """One page of projects sorted by id: ``(items, next_cursor)``; ``limit`` at most
    ``summary_page.MAX_PAGE`` (100). A constant number of DynamoDB requests whatever the page's
    size or its projects' hosts: one Query on ``list-index``, one BatchGetItem of the projects,
    then ``view.list_dicts`` (three more BatchGetItems; see ``rollout.summary_page``)."""
    if not 1 <= limit <= summary_page.MAX_PAGE:
        raise ValidationError(f"limit must be 1..{summary_page.MAX_PAGE}",
                              {"limit": f"must be between 1 and {summary_page.MAX_PAGE}"})
    start = pagination.decode(cursor)
    result = Project.list_index.query("project", limit=limit, page_size=limit,
                                      last_evaluated_key=start)
    ids = [item.id for item in result]
    nxt = result.last_evaluated_key
    found = summary_page.batch(Project, [(i,) for i in ids]) if ids else {}
    projects = [found[(i,)] for i in ids if (i,) in found]
    return list_dicts(projects), pagination.encode(nxt)


def update(project_id: str, body: Any, actor: str, *, if_match: int | None = None,
           replace: bool = False) -> dict:
    """Apply (or schedule, with ``apply_at``) a partial update; 409 when ``if_match`` is stale.

    A future ``apply_at`` while an update is already scheduled is a 409 naming it unless
    ``replace`` (the query's ``?replace=true``, or ``"replace": true`` in the body) is set.
    """
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    body = dict(body)
    replace = _replace_flag(body.pop("replace", None)) or replace
    if body.get("id") not in (None, project_id):
        raise ValidationError("the id in the body does not match the URL",
                              {"id": f"must be {project_id!r} (or left out)"})
    if body.get("name") not in (None, project_id):
        raise ValidationError("a project cannot be renamed", {"name": f"must stay {project_id!r}"})
    changes = validate_project(dict(body, name=project_id), partial=True, local=config.is_local())
    changes.pop("name", None)
    project = load(project_id)
    keep_secrets(changes, project.spec)
    if if_match is not None and if_match != project.rev:
        raise Conflict(f"project {project_id!r} changed since you read it (your revision "
                       f"{if_match}, now {project.rev}): reload and apply your change again")
    merged = merge(project.spec, changes)
    validate_merged(merged)
    _check_dependencies(project_id, merged)
    if "promote_from" in changes:
        promote_fields.check_chain(project_id, merged)
    apply_at = body.get("apply_at")
    if apply_at and parse_time(apply_at) > utcnow():
        if not changes:
            raise ValidationError("apply_at schedules nothing: the body changes no field",
                                  {"apply_at": "needs at least one field to change"})
        return scheduled.schedule(project, changes, apply_at, actor, replace=replace)
    previous = project.spec
    project.spec = merged
    project.updated_at = utcnow()
    project.updated_by = actor
    promotion_links.sync(project_id, merged)
    save_or_conflict(project)
    if previous.get("promote_from") and not merged.get("promote_from"):
        promotion_links.forget(project_id)
    events.record(project_id, "project.updated", actor,
                  {"fields": sorted(changes), "version": merged["version"]},
                  message=f"updated {', '.join(sorted(changes))}" if changes else "touched")
    ensure_release(project, actor, previous)
    rollout_changes.plan_change(project_id, actor, previous)  # a new version starts a rollout
    return to_dict(project)


def _replace_flag(value: Any) -> bool:
    """The body's ``replace``: absent, true or false (anything else is a 400 naming it)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError("replace must be true or false", {"replace": "must be true or false"})
    return value


def list_scheduled(limit: int = 50, cursor: str | None = None) -> tuple[list[dict], str | None]:
    """One page of the projects with a scheduled update, soonest first (``due-index``)."""
    return scheduled.list_page(limit, cursor)


def scheduled_update(project_id: str) -> dict:
    """The project's scheduled update, redacted (``scheduled`` None when there is none); 404."""
    return scheduled.scheduled_of(project_id)


def cancel_scheduled(project_id: str, actor: str, *, if_match: int | None = None) -> dict:
    """Cancel the project's scheduled update (event ``project.update_cancelled``); 404 if none."""
    return scheduled.cancel(project_id, actor, if_match=if_match)


def delete(project_id: str, actor: str, *, force: bool = False, if_match: int | None = None) -> dict:
    """Delete the project and its host items; a rollout in progress needs ``force``."""
    project = load(project_id)
    if if_match is not None and if_match != project.rev:
        raise Conflict(f"project {project_id!r} changed since you read it: reload before deleting")
    active = rollout_view.active_state(project_id)
    if active in ROLLOUT_IN_PROGRESS and not force:
        raise Conflict(f"project {project_id!r} has a rollout in progress ({active}): pause or "
                       "roll it back first, or delete with ?force=true")
    if not delete_if(project):
        raise Conflict(f"project {project_id!r} changed while deleting it: reload and retry")
    removed = _delete_host_states(project_id)
    rollout_changes.deactivate(project_id, actor)
    promotion_links.forget(project_id)
    summary.forget(project_id)  # what the list kept of it (a new project of that name starts over)
    events.record(project_id, "project.deleted", actor, {"hosts_removed": removed, "forced": force},
                  message="project deleted")
    return {"deleted": project_id, "hosts_removed": removed}


def _delete_host_states(project_id: str) -> int:
    """Remove the project's host-state items in batches of 25 (Query on ``project-index``)."""
    removed = 0
    batch = []
    for item in HostState.project_index.query(project_id):
        batch.append(item)
        if len(batch) == _BATCH:
            removed += _flush(batch)
    return removed + _flush(batch)


def _flush(batch: list) -> int:
    if not batch:
        return 0
    with HostState.batch_write() as writer:
        for item in batch:
            writer.delete(HostState(item.host, item.project))
    count = len(batch)
    batch.clear()
    return count

