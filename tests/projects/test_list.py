"""The project list (``GET /api/v1/project``): a constant number of DynamoDB requests a page, the
rollout's per-wave counts and the host total as the detail view shows them, and the detail's one
read of the host items.

Requests are counted with a botocore ``before-call`` hook on every DynamoDB client the app uses
(the AWS boundary). The cost test seeds its projects at the storage boundary (``put_items``: a
running rollout that counted its hosts, as the engine's step leaves it); the others go through
the API, the minute tick and the simulated fleet (``tests/support/fleet.py``).
"""
import contextlib

from tests.conftest import base_project, put_items
from tests.fleet.conftest import cloud, fleet_project, fleet_tag  # noqa: F401 (fixtures)
from tests.support.fleet import Fleet, create, hosts_named, ready_release, tick


@contextlib.contextmanager
def dynamodb_requests():
    """Every DynamoDB request the app sends while inside, by operation name."""
    calls = []

    def count(model, **_):
        calls.append(model.name)
    with _hooked("before-call.dynamodb", count):
        yield calls


def _seed(first, count, hosts):
    """Projects ``p000``.. at the storage boundary: each with ``hosts`` listed hosts, a ready
    release, a running rollout in wave 0 of 2 that counted its host items, and those items."""
    from chalicelib.models import HostState, Project, Release, Rollout, wave_key
    from chalicelib.rollout import summary
    from chalicelib.states import ReleaseState
    names = [f"p{i:03d}" for i in range(first, first + count)]
    rows: dict = {}
    for name in names:
        listed = hosts_named(name, hosts)
        rows.setdefault(Project, []).append(
            Project(name, rev=1, spec=base_project(name=name, hosts=listed)))
        rows.setdefault(Release, []).append(Release(name, "1.0.0", state=ReleaseState.READY))
        rollout = Rollout(name, "20260101T000000.000000Z-aaaaaa", seq=1, version="1.0.0",
                          state="running", wave=0, waves=[1, hosts - 1])
        items = [HostState(host, name, status=status, wave=wave, rollout_id=rollout.rollout_id,
                           wave_key=wave_key(wave, status, host), member="listed")
                 for i, host in enumerate(listed)
                 for status, wave in [("succeeded", 0) if i == 0 else ("waiting", 1)]]
        rollout.counts = summary.count(rollout, items)
        rows.setdefault(HostState, []).extend(items)
        rows.setdefault(Rollout, []).append(rollout)
        rows.setdefault(summary.ProjectStatus, []).append(
            summary.ProjectStatus(*summary.key(name), newest=rollout.rollout_id))
    for model, items in rows.items():
        put_items(model.Meta.table_name, [item.serialize() for item in items])
    return names


def _add_hosts(names, more):
    """``more`` extra listed hosts' items per project (the list must not read them)."""
    from chalicelib.models import HostState, wave_key
    put_items(HostState.Meta.table_name, [
        HostState(host, name, status="waiting", wave=1,
                  wave_key=wave_key(1, "waiting", host)).serialize()
        for name in names for host in hosts_named(f"{name}-x", more)])


def _page(api):
    with dynamodb_requests() as calls:
        response = api.get("/api/v1/project?limit=100")
    assert response.status == 200, response
    return response.json["projects"], calls


def test_a_page_costs_the_same_requests_for_3_or_30_projects_of_2_or_200_hosts(api):
    """3 projects of 2 hosts, the same of 202 hosts, then 30 projects: the same 5 requests."""
    costs = {}
    few = _seed(0, 3, 2)
    costs["3x2"] = _page(api)[1]
    _add_hosts(few, 198)
    costs["3x200"] = _page(api)[1]
    _seed(3, 27, 2)   # (30 projects of 200 hosts each would be 6,000 items: seconds to seed)
    projects, costs["30x2"] = _page(api)
    # one Query on list-index; BatchGets of the projects, their statuses, releases and rollouts
    expected = ["Query", "BatchGetItem", "BatchGetItem", "BatchGetItem", "BatchGetItem"]
    assert costs == {shape: expected for shape in costs}
    assert len(projects) == 30
    p = projects[0]
    assert (p["id"], p["host_total"], p["fleet_members"]) == ("p000", 2, 0)
    assert p["release"]["state"] == "ready"
    rollout = p["rollout"]
    assert (rollout["state"], rollout["wave"], rollout["failures"]) == ("running", 0, 0)
    assert [(w["size"], w["counts"], w["released"]) for w in rollout["waves"]] == [
        (1, {"succeeded": 1}, True), (1, {"waiting": 1}, False)]


def _both(api, name="web"):
    """(the list's rollout and host total, the detail's) for ``name``."""
    listed = next(p for p in api.get("/api/v1/project").json["projects"] if p["id"] == name)
    detail = api.get(f"/api/v1/project/{name}").json
    return listed, detail


def _counts(rollout):
    return [(w["wave"], w["size"], w["counts"], w["released"]) for w in rollout["waves"]]


def _same_as_detail(listed, detail):
    assert _counts(listed["rollout"]) == _counts(detail["rollout"])
    for field in ("id", "state", "wave", "reason", "failures", "version"):
        assert listed["rollout"][field] == detail["rollout"][field], field
    assert listed["host_total"] == detail["host_total"] == detail["hosts_view"]["total"]


def test_the_list_counts_each_wave_as_the_detail_during_and_after_a_rollout(api, signed_client):
    hosts = hosts_named("web", 6)
    fleet = Fleet(signed_client, hosts)
    fleet.fail[hosts[3]] = "post-deploy"
    create(api, hosts, rollout={"canary_hosts": [hosts[0]], "waves": [1, "100%"],
                                "bake_seconds": 0, "max_failures": 1})
    listed, detail = _both(api)
    _same_as_detail(listed, detail)   # waiting for its release: nothing planned yet
    assert (listed["rollout"]["state"], listed["rollout"]["waves"]) == ("waiting_release", [])
    tick()   # the release is ready: wave 0 (the canary) is released
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert _counts(listed["rollout"]) == [(0, 1, {"pending": 1}, True),
                                          (1, 5, {"waiting": 5}, False)]

    fleet.round([hosts[0]])
    tick()   # the step that sees the canary's success releases wave 1
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert _counts(listed["rollout"])[1] == (1, 5, {"pending": 5}, True)

    fleet.round(hosts[1:4])
    tick()   # two more done, one failed (under max_failures)
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert listed["rollout"]["waves"][1]["counts"] == {"failed": 1, "pending": 2, "succeeded": 2}
    assert listed["rollout"]["failures"] == 1

    fleet.round(hosts[4:])
    tick()
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert listed["rollout"]["state"] == "succeeded"
    assert listed["rollout"]["waves"][1]["counts"] == {"failed": 1, "succeeded": 4}
    assert listed["host_total"] == 6


def test_a_fleet_only_project_lists_its_member_count(api, cloud, fleet_tag):  # noqa: F811
    cloud.launch(3, fleet_tag)
    body = fleet_project("web", fleet={"ec2_tags": fleet_tag})
    assert api.post("/api/v1/project", body).status == 201
    ready_release("web", "1.0.0")
    tick()   # the sync finds the three members; the step releases them
    listed, detail = _both(api)
    assert (listed["host_total"], listed["fleet_members"]) == (3, 3)
    _same_as_detail(listed, detail)
    assert _counts(listed["rollout"]) == [(0, 3, {"pending": 3}, True)]


def test_projects_counted_before_the_summary_existed_are_counted_once(api):
    from chalicelib.models import Rollout
    from chalicelib.rollout import summary
    create(api, hosts_named("web", 2))
    listed, detail = _both(api)
    expected = _counts(listed["rollout"])
    rollout = Rollout.get("web", listed["rollout"]["id"])
    rollout.update(actions=[Rollout.counts.remove()])   # as an item written before them
    summary.forget("web")
    first, calls = _page(api)
    assert _counts(first[0]["rollout"]) == expected and first[0]["host_total"] == 2
    assert calls.count("Query") == 3   # list-index, the newest rollout, the host items
    again, calls = _page(api)
    assert _counts(again[0]["rollout"]) == expected
    assert calls.count("Query") == 1   # written once: nothing is counted again


def test_the_detail_reads_the_host_items_the_rollout_and_the_releases_once(api):
    create(api, hosts_named("web", 3))
    queries = []

    def count(params, **_):
        queries.append((params["TableName"].rsplit("-", 1)[-1], params.get("IndexName")))
    with _hooked("provide-client-params.dynamodb.Query", count):
        response = api.get("/api/v1/project/web")
    assert response.status == 200 and response.json["host_total"] == 3
    assert queries.count(("hosts", "project-index")) == 1
    assert queries.count(("rollouts", None)) == 1
    assert queries.count(("releases", "created-index")) == 1


@contextlib.contextmanager
def _hooked(event, handler):
    """``handler`` on ``event`` of every DynamoDB client the app uses."""
    from chalicelib import aws
    from chalicelib.models import ALL_MODELS
    from chalicelib.rollout.summary import ProjectStatus
    clients = {id(c): c for c in [m._get_connection().connection.client
                                  for m in (*ALL_MODELS, ProjectStatus)] + [aws.client("dynamodb")]}
    for client in clients.values():
        client.meta.events.register(event, handler)
    try:
        yield
    finally:
        for client in clients.values():
            client.meta.events.unregister(event, handler)


def test_a_deleted_project_leaves_nothing_the_list_keeps(api):
    from chalicelib.rollout import summary
    create(api, hosts_named("web", 2))
    assert summary.ProjectStatus.count(summary.key("web")[0]) == 1
    assert api.delete("/api/v1/project/web?force=true").status == 200
    assert summary.ProjectStatus.count(summary.key("web")[0]) == 0
    assert api.get("/api/v1/project").json["projects"] == []


def test_fleet_joins_and_leaves_after_a_rollout_move_the_listed_counts(api, signed_client, cloud,  # noqa: F811
                                                                       fleet_tag, monkeypatch):  # noqa: F811
    from chalicelib.rollout import summary_page
    ids = cloud.launch(2, fleet_tag)
    body = fleet_project("web", fleet={"ec2_tags": fleet_tag})
    assert api.post("/api/v1/project", body).status == 201
    ready_release("web", "1.0.0")
    tick()   # two members join; the rollout plans and releases them
    fleet = Fleet(signed_client, ids)
    fleet.round()
    assert tick()["rollouts"]["web"] == "succeeded"
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert _counts(listed["rollout"]) == [(0, 2, {"succeeded": 2}, True)]

    [late] = cloud.launch(1, fleet_tag)
    tick()   # it joins after the rollout: caught up at once (pending in the last wave)
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert _counts(listed["rollout"]) == [(0, 3, {"pending": 1, "succeeded": 2}, True)]
    assert (listed["host_total"], listed["fleet_members"]) == (3, 3)

    Fleet(signed_client, [late]).round()   # it deploys; no step follows a finished rollout
    monkeypatch.setattr(summary_page, "REFRESH_SECONDS", 0)   # the list recounts it at once
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert listed["rollout"]["waves"][0]["counts"] == {"succeeded": 3}

    cloud.terminate(ids[0])
    tick()   # it leaves: counted nowhere
    listed, detail = _both(api)
    _same_as_detail(listed, detail)
    assert listed["rollout"]["waves"][0]["counts"] == {"succeeded": 2}
    assert (listed["host_total"], listed["fleet_members"]) == (2, 2)
