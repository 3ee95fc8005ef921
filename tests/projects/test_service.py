"""The project API through chalice.test.Client, signed like a real admin, on the moto server."""
import threading

import pytest

from tests.conftest import base_project


def test_create_get_update_delete_round_trip(api):
    created = api.post("/api/v1/project", base_project())
    assert created.status == 201, created
    assert created.json["id"] == "web"
    assert created.headers["etag"] == '"1"'
    assert created.json["created_by"].endswith(":user/fabu-admin")

    got = api.get("/api/v1/project/web")
    assert got.status == 200
    assert got.json["version"] == "1.0.0"
    assert got.json["hosts"] == ["web-1.example.com", "web-2.example.com"]
    assert got.json["rollout"] is None or isinstance(got.json["rollout"], dict)
    assert got.json["release"]["state"] == "awaiting_artifact"

    updated = api.put("/api/v1/project/web", {"version": "1.1.0"}, headers={"If-Match": '"1"'})
    assert updated.status == 200, updated
    assert updated.json["version"] == "1.1.0"
    assert updated.headers["etag"] == '"2"'

    listed = api.get("/api/v1/project")
    assert [p["id"] for p in listed.json["projects"]] == ["web"]

    deleted = api.delete("/api/v1/project/web")
    assert deleted.status == 200
    assert api.get("/api/v1/project/web").status == 404


def test_put_with_id_in_body_updates_that_project(api):
    api.post("/api/v1/project", base_project())
    response = api.put("/api/v1/project", {"id": "web", "hosts": ["web-9.example.com"]})
    assert response.status == 200, response
    assert response.json["hosts"] == ["web-9.example.com"]


def test_put_without_id_in_body_names_the_field(api):
    response = api.put("/api/v1/project", {"version": "2.0"})
    assert response.status == 400
    assert "id" in response.json["fields"]


def test_duplicate_create_is_a_conflict_and_keeps_the_first(api):
    assert api.post("/api/v1/project", base_project()).status == 201
    again = api.post("/api/v1/project", base_project(version="9.9.9"))
    assert again.status == 409
    assert api.get("/api/v1/project/web").json["version"] == "1.0.0"


def test_unknown_project_is_404_everywhere(api):
    assert api.get("/api/v1/project/nope").status == 404
    assert api.put("/api/v1/project/nope", {"version": "2.0"}).status == 404
    assert api.delete("/api/v1/project/nope").status == 404


def test_stale_if_match_is_409_and_nothing_changes(api):
    api.post("/api/v1/project", base_project())
    api.put("/api/v1/project/web", {"version": "1.1.0"})
    stale = api.put("/api/v1/project/web", {"version": "1.2.0"}, headers={"If-Match": '"1"'})
    assert stale.status == 409
    assert "changed since you read it" in stale.json["error"]
    assert api.get("/api/v1/project/web").json["version"] == "1.1.0"


def test_two_concurrent_updates_from_the_same_base_give_exactly_one_409(api):
    # The two requests race in the service itself (chalice.test's in-process client keeps one
    # current request per app, so it cannot carry two requests at once; Lambda never does).
    from chalicelib.errors import Conflict
    from chalicelib.projects import service
    api.post("/api/v1/project", base_project())
    results = {}
    barrier = threading.Barrier(2)

    def update(name, version):
        barrier.wait()
        try:
            results[name] = service.update("web", {"version": version}, "arn:test", if_match=1)
        except Conflict as exc:
            results[name] = exc

    threads = [threading.Thread(target=update, args=(n, v)) for n, v in (("a", "2.0.0"), ("b", "3.0.0"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conflicts = [r for r in results.values() if isinstance(r, Conflict)]
    assert len(results) == 2 and len(conflicts) == 1 and conflicts[0].status == 409
    winner = next(r for r in results.values() if not isinstance(r, Conflict))
    assert api.get("/api/v1/project/web").json["version"] == winner["version"]


def test_body_over_256_kb_is_413(api):
    body = base_project(description="x" * (300 * 1024))
    response = api.post("/api/v1/project", body)
    assert response.status == 413


def test_list_is_paginated_with_a_cursor(api):
    for i in range(5):
        assert api.post("/api/v1/project", base_project(name="p%d" % i)).status == 201
    first = api.get("/api/v1/project?limit=2")
    assert [p["id"] for p in first.json["projects"]] == ["p0", "p1"]
    second = api.get("/api/v1/project?limit=2&cursor=" + first.json["next_cursor"])
    assert [p["id"] for p in second.json["projects"]] == ["p2", "p3"]
    bad = api.get("/api/v1/project?cursor=garbage")
    assert bad.status == 400 and "cursor" in bad.json["fields"]


def test_every_change_is_an_event_with_the_callers_arn(api):
    from chalicelib import events
    api.post("/api/v1/project", base_project())
    api.put("/api/v1/project/web", {"version": "1.1.0"})
    api.delete("/api/v1/project/web")
    items, _ = events.page("web", limit=20, newest_first=False)
    kinds = [e["kind"] for e in items]
    assert kinds[0] == "project.created" and "project.updated" in kinds and kinds[-1] == "project.deleted"
    assert all(e["actor"].endswith(":user/fabu-admin") for e in items if e["kind"].startswith("project."))


def test_dependency_on_unknown_project_and_cycles_are_refused(api):
    assert api.post("/api/v1/project", base_project(name="a")).status == 201
    unknown = api.post("/api/v1/project", base_project(name="b", depends_on=[{"project": "zz", "version": ">=1"}]))
    assert unknown.status == 400 and "depends_on[0].project" in unknown.json["fields"]
    assert api.post("/api/v1/project", base_project(name="b", depends_on=[{"project": "a", "version": ">=1"}])).status == 201
    cycle = api.put("/api/v1/project/a", {"depends_on": [{"project": "b", "version": ">=1"}]})
    assert cycle.status == 400
    assert cycle.json["fields"]["depends_on"] == "dependency cycle: a -> b -> a"


def test_delete_during_a_rollout_needs_force_and_removes_the_host_states(api):
    from chalicelib.rollout import tick
    from chalicelib.models import HostState, Release
    hosts = ["h%02d.example.com" % i for i in range(30)]  # more than one batch of 25
    api.post("/api/v1/project", base_project(hosts=hosts))
    Release("web", "1.0.0", state="ready", s3_key="releases/web/1.0.0.tgz", sha256="0" * 64,
            size=1).save()
    tick.run()
    assert len(list(HostState.project_index.query("web"))) == 30
    refused = api.delete("/api/v1/project/web")
    assert refused.status == 409 and "force=true" in refused.json["error"]
    deleted = api.delete("/api/v1/project/web?force=true")
    assert deleted.status == 200 and deleted.json["hosts_removed"] == 30
    assert list(HostState.project_index.query("web")) == []
    assert api.get("/api/v1/project/web").status == 404


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', "1", "*", ""])
def test_if_match_takes_our_etag_in_every_spelling(api, header):
    api.post("/api/v1/project", base_project())
    response = api.put("/api/v1/project/web", {"version": "1.1.0"}, headers={"If-Match": header})
    assert response.status == 200, response
    assert response.headers["etag"] == '"2"'


def test_an_if_match_that_is_not_our_etag_is_400_naming_the_header(api):
    api.post("/api/v1/project", base_project())
    response = api.delete("/api/v1/project/web", headers={"If-Match": '"abc"'})
    assert response.status == 400
    assert response.json["fields"] == {"If-Match": "is not an ETag this API issued"}
    stale = api.delete("/api/v1/project/web", headers={"If-Match": '"7"'})
    assert stale.status == 409 and "reload before deleting" in stale.json["error"]
    assert api.get("/api/v1/project/web").status == 200
