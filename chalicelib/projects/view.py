"""A project as the API shows it: its settings (secrets redacted), revision, release and rollout.

``to_dict`` is one project (its detail with ``detail``; a create's or update's answer without):
one Query of the project's host items, one of its newest rollout and, for the detail, one of its
releases (the current one found among them, else one GetItem) and, with ``promote_from``, its
``promotion`` chain (``rollout.promotion_view``: one Query of the upstream's newest rollout).
``list_dicts`` is a page of the list: what ``rollout.summary_page`` kept, in a constant number
of requests for the whole page. Both carry ``host_total`` (listed hosts plus fleet members,
leavers left out) and ``fleet_members``.
"""
from chalicelib.build import releases
from chalicelib.hosts import beat
from chalicelib.models import Project, Release
from chalicelib.projects.redaction import redact
from chalicelib.rollout import hostitems, promotion_view, store, summary, summary_page
from chalicelib.rollout import view as rollout_view
from chalicelib.states import ROLLOUT_ACTIVE
from chalicelib.times import format_time, utcnow


def etag(project: Project) -> str:
    """The project's revision as an HTTP entity tag: ``"3"``."""
    return f'"{int(project.rev)}"'


def _pending(pending: dict | None) -> dict | None:
    """A scheduled update as shown: its changes' webhook secrets redacted like the settings'."""
    if not pending:
        return pending
    return dict(pending, changes=redact(pending.get("changes") or {}))


def _settings(project: Project) -> dict:
    """The project's own fields: its settings (redacted), revision and who changed it when."""
    spec = redact(project.spec)
    return {"id": project.id, **spec, "rev": project.rev, "etag": etag(project),
            "created_at": format_time(project.created_at), "created_by": project.created_by,
            "updated_at": format_time(project.updated_at), "updated_by": project.updated_by,
            "pending": _pending(project.pending)}


def _current_release(project: Project, history: list[Release]) -> Release | None:
    version = project.spec["version"]
    for release in history:
        if release.version == version:
            return release
    return releases.get(project.id, version)


def to_dict(project: Project, *, detail: bool = False) -> dict:
    """The project's JSON; ``detail`` adds its release history and per-host view.

    ``rollout`` shows the live rollout (state, wave, per-wave counts) and, under ``settings``,
    the project's rollout settings exactly as a PUT takes them. The host items are read once,
    for the summary, the hosts and the totals; a finished rollout's counts the list keeps are
    corrected here when they differ (``summary.heal``).
    """
    data = _settings(project)
    items = hostitems.all_items(project.id)
    history = releases.history(project.id) if detail else []
    data["release"] = releases.to_dict(_current_release(project, history))
    newest = store.newest(project.id)
    silence = beat.silence(utcnow())
    live = None
    if newest is not None:
        live = rollout_view.summary(project.id, items, silence, newest=newest)
        if newest.waves and (newest.state not in ROLLOUT_ACTIVE or newest.counts is None):
            summary.heal(newest, summary.count(newest, items))
    data["rollout"] = dict(live or {"state": None, "wave": None, "waves": []},
                           settings=data.get("rollout", {}))
    members = summary_page.fleet_members(project.spec, items)
    data["fleet_members"] = members
    data["host_total"] = summary_page.host_total(project.spec, members)
    if detail:
        data["releases"] = [releases.to_dict(r) for r in history]
        data["hosts_view"] = rollout_view.hosts(project.id, project.spec, items, silence)
        data["promotion"] = promotion_view.chain(project.id, project.spec, newest)
    return data


def list_dicts(projects: list[Project]) -> list[dict]:
    """The list's JSON of a page of projects (at most ``summary_page.MAX_PAGE``): settings,
    current release, the newest rollout as ``summary.shown`` (counts as last counted), the
    host total; a constant number of requests for the page (``summary_page.page``)."""
    rows = summary_page.page(projects)
    shown = []
    for project in projects:
        row = rows[project.id]
        data = _settings(project)
        data["release"] = releases.to_dict(row["release"])
        data["rollout"] = dict(summary.shown(row["rollout"], row["counts"]),
                               settings=data.get("rollout", {}))
        data["fleet_members"] = row["fleet_members"]
        data["host_total"] = summary_page.host_total(project.spec, row["fleet_members"])
        shown.append(data)
    return shown
