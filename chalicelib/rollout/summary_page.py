"""One page of the project list read in a constant number of requests, whatever its size.

``page(projects)`` takes the page's project items (one Query on ``list-index``, one BatchGetItem:
``projects.service.list_page``) and reads, with one BatchGetItem each, their ``ProjectStatus``
items, their current releases and the newest rollouts those point to (only the attributes the
list shows; ``rollout.summary``). A page holds at most ``MAX_PAGE`` projects, DynamoDB's
BatchGetItem limit, so each is one request; keys DynamoDB leaves unprocessed (throttling) are
asked again at most ``RETRIES`` times with backoff, then the request fails naming the table (503).
No host item is read and no Query is made per project.

Projects the kept summaries do not cover are **refreshed**, at most ``MAX_REFRESH`` a page
(the others show what is kept: ``counted_at`` None, or ``fleet_members``/``host_total`` None, is
"not counted yet"): a project with no ``ProjectStatus`` yet or pointing at a rollout that is gone
(one Query for its newest rollout), a started rollout without counts (written before they
existed), a finished rollout whose counts still hold hosts in flight (fleet members catching up
after it ended) counted more than ``REFRESH_SECONDS`` ago, and a fleet whose member count was
never recorded. A refresh reads at most ``REFRESH_MAX_ITEMS`` host items of the project (one
Query); a bigger project is left to its next rollout step or fleet change. Each refresh writes
what it found (``summary.heal``, ``point_to``, ``set_members``), so it happens once.
"""
import datetime
import time

from botocore.exceptions import ClientError
from pynamodb.models import Model

from chalicelib.fleet.memberset import FLEET
from chalicelib.models import HostState, Project, Release, Rollout
from chalicelib.projects import hostlist
from chalicelib.rollout import store, summary
from chalicelib.states import HOST_GONE, ROLLOUT_ACTIVE
from chalicelib.times import parse_time, utcnow

#: Projects a page holds at most: one BatchGetItem's keys.
MAX_PAGE = 100
#: Times unprocessed keys of one BatchGetItem are asked again (50, 100, 200 ms apart).
RETRIES = 3
#: Projects a page refreshes at most (see the module docstring).
MAX_REFRESH = 5
#: A finished rollout's counts with hosts in flight are refreshed at most this often.
REFRESH_SECONDS = 60
#: Host items one refresh reads at most.
REFRESH_MAX_ITEMS = 2000
#: The rollout attributes the list reads.
ROLLOUT_FIELDS = ("project", "rollout_id", "seq", "version", "previous_version", "state", "reason",
                  "wave", "waves", "rollback_to", "start_at", "finished_at", "created_by",
                  "counts")


def batch(model: type[Model], keys: list[tuple],
          fields: tuple[str, ...] = ()) -> dict[tuple, Model]:
    """``{key: item}`` of the ``keys`` found (at most ``MAX_PAGE``): one BatchGetItem, and at
    most ``RETRIES`` more for keys left unprocessed; then a ``ClientError`` naming the table."""
    if len(keys) > MAX_PAGE:
        raise ValueError(f"at most {MAX_PAGE} keys a batch, not {len(keys)}")
    table = model.Meta.table_name
    names = [model._hash_key_attribute().attr_name]
    if model._range_key_attribute() is not None:
        names.append(model._range_key_attribute().attr_name)
    todo = [{name: {"S": str(value)} for name, value in zip(names, k)} for k in dict.fromkeys(keys)]
    request: dict = {}
    if fields:
        request["ProjectionExpression"] = ", ".join(f"#f{i}" for i in range(len(fields)))
        request["ExpressionAttributeNames"] = {f"#f{i}": name for i, name in enumerate(fields)}
    client = model._get_connection().connection.client
    found = {}
    for attempt in range(RETRIES + 1):
        if not todo:
            break
        if attempt:
            time.sleep(0.05 * 2 ** (attempt - 1))
        answer = client.batch_get_item(RequestItems={table: dict(request, Keys=todo)})
        for raw in answer.get("Responses", {}).get(table, []):
            item = model.from_raw_data(raw)
            found[tuple(str(getattr(item, name)) for name in names)] = item
        todo = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    if todo:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": f"{len(todo)} keys of {table} still unprocessed "
                                                f"after {RETRIES} retries"}}, "BatchGetItem")
    return found


def page(projects: list[Project]) -> dict[str, dict]:
    """``{project id: {"release", "rollout", "counts", "fleet_members"}}`` for the page (see the
    module): ``release`` the current version's ``Release`` (or None), ``rollout`` the newest
    ``Rollout`` (partial attributes; None: no rollout), ``counts`` its counts (None: not counted
    yet), ``fleet_members`` None when a fleet's member count is not known yet."""
    statuses = {k[0][len(summary.PREFIX):]: s for k, s in
                batch(summary.ProjectStatus, [summary.key(p.id) for p in projects]).items()}
    releases = {k[0]: r for k, r in
                batch(Release, [(p.id, p.spec["version"]) for p in projects]).items()}
    pointed = [(p.id, statuses[p.id].newest) for p in projects
               if p.id in statuses and statuses[p.id].newest]
    rollouts = {k[0]: r for k, r in batch(Rollout, pointed, ROLLOUT_FIELDS).items()}
    budget = MAX_REFRESH
    rows = {}
    for project in projects:
        status, rollout = statuses.get(project.id), rollouts.get(project.id)
        fleet = bool(project.spec.get("fleet"))
        members = (status.members if status is not None else None) if fleet else 0
        counts = rollout.counts if rollout is not None else None
        if budget and _stale(project, status, rollout, members):
            budget -= 1
            rollout, counts, members = _refresh(project, status, rollout, members)
        rows[project.id] = {"release": releases.get(project.id), "rollout": rollout,
                            "counts": counts,
                            "fleet_members": None if members is None else int(members)}
    return rows


def _stale(project: Project, status: summary.ProjectStatus | None, rollout: Rollout | None,
           members: int | None) -> bool:
    if status is None or (status.newest and rollout is None) or members is None:
        return True
    if rollout is None:
        return False  # no rollout yet
    if not rollout.waves:
        return False
    if rollout.counts is None:
        return True
    if rollout.state in ROLLOUT_ACTIVE or not summary.in_flight(rollout.counts):
        return False
    at = rollout.counts.get("at")
    return at is None or utcnow() - parse_time(at) > datetime.timedelta(seconds=REFRESH_SECONDS)


def _refresh(project: Project, status: summary.ProjectStatus | None, rollout: Rollout | None,
             members: int | None) -> tuple[Rollout | None, dict | None, int | None]:
    """Count one project from its items (see the module) and write what was found."""
    if rollout is None:
        rollout = store.newest(project.id)
        if rollout is not None:
            summary.point_to(rollout)
        elif status is None:
            summary.touch(project.id)  # known to have no rollout yet
    counts = rollout.counts if rollout is not None else None
    items = list(HostState.project_index.query(project.id, limit=REFRESH_MAX_ITEMS + 1))
    if len(items) > REFRESH_MAX_ITEMS:
        return rollout, counts, members  # too big to count here: its step or sync will
    if rollout is not None and rollout.waves:
        counts = summary.count(rollout, items)
        summary.heal(rollout, counts, force=True)
    if project.spec.get("fleet"):
        members = fleet_members(project.spec, items)
        if status is None or status.members != members:
            summary.set_members(project.id, members)
    return rollout, counts, members


def fleet_members(spec: dict, items: list[HostState]) -> int:
    """Fleet members of the project's items: not listed, not left (``rollout.view.hosts``)."""
    listed = set(hostlist.names(spec))
    return sum(1 for i in items if i.member == FLEET and i.host not in listed
               and i.status not in HOST_GONE)


def host_total(spec: dict, members: int | None) -> int | None:
    """Listed hosts plus fleet members (None while a fleet's member count is not known)."""
    if members is None:
        return None
    return len(dict.fromkeys(hostlist.names(spec))) + int(members)
