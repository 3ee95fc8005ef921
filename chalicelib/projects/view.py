"""A project as the API shows it: its settings (secrets redacted), revision, release and rollout."""
from chalicelib.build import releases
from chalicelib.models import Project
from chalicelib.projects.redaction import redact
from chalicelib.rollout import hostitems
from chalicelib.rollout import view as rollout_view
from chalicelib.times import format_time


def etag(project: Project) -> str:
    """The project's revision as an HTTP entity tag: ``"3"``."""
    return f'"{int(project.rev)}"'


def _pending(pending: dict | None) -> dict | None:
    """A scheduled update as shown: its changes' webhook secrets redacted like the settings'."""
    if not pending:
        return pending
    return dict(pending, changes=redact(pending.get("changes") or {}))


def to_dict(project: Project, *, detail: bool = False) -> dict:
    """The project's JSON; ``detail`` adds its release history and per-host view."""
    spec = redact(project.spec)
    data = {"id": project.id, **spec, "rev": project.rev, "etag": etag(project),
            "created_at": format_time(project.created_at), "created_by": project.created_by,
            "updated_at": format_time(project.updated_at), "updated_by": project.updated_by,
            "pending": _pending(project.pending)}
    release = releases.get(project.id, spec["version"])
    data["release"] = releases.to_dict(release)
    # ``rollout`` shows the live rollout (state, wave, per-wave counts) and, under ``settings``,
    # the project's rollout settings exactly as a PUT takes them.
    # The detail view reads the project's host items once, for the summary and the hosts.
    items = hostitems.all_items(project.id) if detail else None
    live = rollout_view.summary(project.id, items) or {"state": None, "wave": None, "waves": []}
    data["rollout"] = dict(live, settings=spec.get("rollout", {}))
    if detail:
        data["releases"] = [releases.to_dict(r) for r in releases.history(project.id)]
        data["hosts_view"] = rollout_view.hosts(project.id, spec, items)
    return data
