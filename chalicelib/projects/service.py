"""The project service: create, read, list, update and delete projects.

Callers get plain dicts. Every write is conditional: a create must not overwrite
(``attribute_not_exists``), an update or delete must hold the revision it read (``rev``, the
``ETag``), so two updates from the same base give one success and one ``Conflict`` (409) and
no write is lost. Every change records an event naming the caller's ARN.
"""
import copy

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from chalicelib import config, events, pagination
from chalicelib.build import releases
from chalicelib.rollout import dependencies, engine
from chalicelib.rollout import view as rollout_view
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.models import HostState, Project, condition_failed, utcnow
from chalicelib.projects.validation import format_time, parse_time, validate_merged, validate_project

_BATCH = 25



def etag(project):
    return f'"{int(project.rev)}"'


def parse_if_match(value):
    """``"3"`` / ``W/"3"`` / ``3`` → 3; None when absent; 400 when not one of ours."""
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise ValidationError("If-Match must be the ETag of the project (a number in quotes)",
                              {"If-Match": "is not an ETag this API issued"})
    return int(text)


REDACTED = "********"


def _hooks(spec):
    """Every webhook object of a spec (notify webhooks and gates), for redaction and merging."""
    for hook in (spec.get("notify") or {}).get("webhooks", []):
        yield hook
    for hook in (spec.get("gates") or {}).values():
        yield hook


def _redacted(spec):
    """The spec with plain webhook secrets hidden (references such as ssm:/... stay visible)."""
    redacted = copy.deepcopy(spec)
    for hook in _hooks(redacted):
        if isinstance(hook, dict) and hook.get("secret") and not hook["secret"].startswith(
                ("ssm:", "secretsmanager:")):
            hook["secret"] = REDACTED
    return redacted


def _keep_secrets(changes, stored):
    """A webhook sent back with the redacted secret keeps the stored secret of the same URL."""
    known = {hook.get("url"): hook.get("secret") for hook in _hooks(stored) if isinstance(hook, dict)}
    for hook in _hooks(changes):
        if isinstance(hook, dict) and hook.get("secret") == REDACTED:
            if known.get(hook.get("url")):
                hook["secret"] = known[hook["url"]]
            else:
                raise ValidationError("a redacted webhook secret was sent for a new URL",
                                      {"secret": f"send the real secret for {hook.get('url')}"})


def to_dict(project, *, detail=False):
    spec = _redacted(project.spec)
    data = {"id": project.id, **spec, "rev": project.rev, "etag": etag(project),
            "created_at": format_time(project.created_at), "created_by": project.created_by,
            "updated_at": format_time(project.updated_at), "updated_by": project.updated_by,
            "pending": project.pending}
    release = releases.get(project.id, spec["version"])
    data["release"] = releases.to_dict(release)
    # ``rollout`` shows the live rollout (state, wave, per-wave counts) and, under ``settings``,
    # the project's rollout settings exactly as a PUT takes them.
    live = rollout_view.summary(project.id) or {"state": None, "wave": None, "waves": []}
    data["rollout"] = dict(live, settings=spec.get("rollout", {}))
    if detail:
        data["releases"] = [releases.to_dict(r) for r in releases.history(project.id)]
        data["hosts_view"] = rollout_view.hosts(project.id, spec)
    return data


def _load(project_id):
    try:
        return Project.get(project_id, consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no project named {project_id!r}") from None


def _spec_depends_on(project_id):
    try:
        return Project.get(project_id).spec.get("depends_on", [])
    except DoesNotExist:
        return None


def _check_dependencies(name, spec):
    """Every dependency exists, and the graph stays acyclic (400 naming the cycle)."""
    fields = {}
    for i, dep in enumerate(spec.get("depends_on", [])):
        if dep["project"] != name and _spec_depends_on(dep["project"]) is None:
            fields[f"depends_on[{i}].project"] = f"no project named {dep['project']!r}"
    if fields:
        raise ValidationError("invalid project: depends on unknown projects", fields)
    cycle = dependencies.find_cycle(name, spec.get("depends_on", []), _spec_depends_on)
    if cycle:
        text = " -> ".join(cycle)
        raise ValidationError(f"dependency cycle: {text}", {"depends_on": f"dependency cycle: {text}"})


def _after_change(project, actor, previous_spec):
    spec = project.spec
    if previous_spec is None or previous_spec.get("version") != spec["version"] \
            or previous_spec.get("source") != spec.get("source"):
        releases.ensure_release(project.id, spec["version"], spec.get("source"),
                                spec.get("ci_server"), actor)
    engine.plan_change(project.id, actor, previous_spec)
    return to_dict(project)


def create(body, actor):
    spec = validate_project(body, local=config.is_local())
    if "apply_at" in body:
        raise ValidationError("invalid project: apply_at is only for updates",
                              {"apply_at": "only an update can be scheduled; use deploy_at"})
    name = spec["name"]
    _check_dependencies(name, spec)
    now = utcnow()
    project = Project(name, spec=spec, created_at=now, updated_at=now, created_by=actor,
                      updated_by=actor)
    try:
        project.save(Project.id.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            raise Conflict(f"project {name!r} already exists: update it with PUT") from None
        raise
    events.record(name, "project.created", actor, {"version": spec["version"],
                                                    "hosts": len(spec["hosts"])},
                  message=f"project created at version {spec['version']}")
    return _after_change(project, actor, None)


def get(project_id):
    return to_dict(_load(project_id), detail=True)


def list_page(limit=50, cursor=None):
    """One page of projects sorted by id: ``(items, next_cursor)``. Query on ``list-index``."""
    start = pagination.decode(cursor)
    result = Project.list_index.query("project", limit=limit, page_size=limit,
                                      last_evaluated_key=start)
    ids = [item.id for item in result]
    nxt = result.last_evaluated_key
    loaded = {p.id: p for p in Project.batch_get(ids)} if ids else {}
    items = [to_dict(loaded[i]) for i in ids if i in loaded]
    return items, pagination.encode(nxt)


def _merge(spec, changes):
    merged = dict(spec)
    for key, value in changes.items():
        if key == "rollout" and isinstance(value, dict):
            merged["rollout"] = dict(spec.get("rollout", {}), **value)
        else:
            merged[key] = value
    return merged


def update(project_id, body, actor, *, if_match=None):
    """Apply (or schedule, with ``apply_at``) a partial update; 409 when ``if_match`` is stale."""
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    if body.get("id") not in (None, project_id):
        raise ValidationError("the id in the body does not match the URL",
                              {"id": f"must be {project_id!r} (or left out)"})
    if body.get("name") not in (None, project_id):
        raise ValidationError("a project cannot be renamed", {"name": f"must stay {project_id!r}"})
    changes = validate_project(dict(body, name=project_id), partial=True, local=config.is_local())
    changes.pop("name", None)
    project = _load(project_id)
    _keep_secrets(changes, project.spec)
    if if_match is not None and if_match != project.rev:
        raise Conflict("project %r changed since you read it (your revision %d, now %d): reload "
                       "and apply your change again" % (project_id, if_match, project.rev))
    merged = _merge(project.spec, changes)
    validate_merged(merged)
    _check_dependencies(project_id, merged)
    apply_at = body.get("apply_at")
    if apply_at and parse_time(apply_at) > utcnow():
        return _schedule(project, changes, apply_at, actor)
    previous = project.spec
    project.spec = merged
    project.updated_at = utcnow()
    project.updated_by = actor
    _save_or_conflict(project)
    events.record(project_id, "project.updated", actor,
                  {"fields": sorted(changes), "version": merged["version"]},
                  message=f"updated {', '.join(sorted(changes))}" if changes else "touched")
    return _after_change(project, actor, previous)


def _schedule(project, changes, apply_at, actor):
    when = parse_time(apply_at)
    project.pending = {"changes": changes, "apply_at": format_time(when), "by": actor,
                       "requested_at": format_time(utcnow())}
    project.due_pk = "due"
    project.due_at = format_time(when)
    project.updated_by = actor
    _save_or_conflict(project)
    events.record(project.id, "project.update_scheduled", actor,
                  {"fields": sorted(changes), "apply_at": format_time(when)},
                  message=f"update scheduled for {format_time(when)}")
    return to_dict(project)


def apply_due_updates(now=None, actor="fabu:scheduler"):
    """Apply every scheduled update whose time has come (one Query on ``due-index``)."""
    now = now or utcnow()
    applied = []
    for item in Project.due_index.query("due", Project.due_at <= format_time(now)):
        try:
            project = _load(item.id)
        except NotFound:
            continue
        pending = project.pending
        if not pending or parse_time(pending["apply_at"]) > now:
            continue
        previous = project.spec
        project.spec = _merge(previous, pending["changes"])
        project.pending = None
        project.due_pk = None
        project.due_at = None
        project.updated_at = now
        project.updated_by = pending.get("by")
        try:
            project.save()
        except PutError as exc:
            if condition_failed(exc):
                continue  # someone else applied or changed it; the next tick looks again
            raise
        events.record(project.id, "project.update_applied", actor,
                      {"fields": sorted(pending["changes"]), "requested_by": pending.get("by")},
                      message="scheduled update applied")
        applied.append(_after_change(project, pending.get("by") or actor, previous))
    return applied


def _save_or_conflict(project):
    try:
        project.save()
    except PutError as exc:
        if condition_failed(exc):
            raise Conflict("project %r changed while you were updating it: reload and retry"
                           % project.id) from None
        raise


def delete(project_id, actor, *, force=False, if_match=None):
    project = _load(project_id)
    if if_match is not None and if_match != project.rev:
        raise Conflict(f"project {project_id!r} changed since you read it: reload before deleting")
    active = rollout_view.active_state(project_id)
    if active in rollout_view.IN_PROGRESS_STATES and not force:
        raise Conflict("project %r has a rollout in progress (%s): pause or roll it back first, "
                       "or delete with ?force=true" % (project_id, active))
    try:
        project.delete()
    except DeleteError as exc:
        if condition_failed(exc):
            raise Conflict(f"project {project_id!r} changed while deleting it: reload and retry") from None
        raise
    removed = _delete_host_states(project_id)
    rollout_view.deactivate(project_id, actor)
    events.record(project_id, "project.deleted", actor, {"hosts_removed": removed, "forced": force},
                  message="project deleted")
    return {"deleted": project_id, "hosts_removed": removed}


def _delete_host_states(project_id):
    """Remove the project's host-state items in batches of 25 (Query on ``project-index``)."""
    removed = 0
    batch = []
    for item in HostState.project_index.query(project_id):
        batch.append(item)
        if len(batch) == _BATCH:
            removed += _flush(batch)
    return removed + _flush(batch)


def _flush(batch):
    if not batch:
        return 0
    with HostState.batch_write() as writer:
        for item in batch:
            writer.delete(HostState(item.host, item.project))
    count = len(batch)
    batch.clear()
    return count

