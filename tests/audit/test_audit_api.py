"""GET /api/v1/audit: every admin action across projects, by actor, project and time, paged.

Two admins act on three projects through the signed API; the log answers who did what, when,
newest first, across projects; days before today are seeded at the storage boundary.
"""
import datetime
import time
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import ADMIN_ARN, base_project, boto_client

ALICE = "arn:aws:iam::000000000000:user/fabu-admins/alice"
HOST_ARN = "arn:aws:iam::000000000000:user/fabu-hosts/web-1.example.com"
UTC = datetime.timezone.utc


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now():
    time.sleep(0.002)  # entries keep microseconds: a boundary between two actions is strict
    moment = datetime.datetime.now(UTC)
    time.sleep(0.002)
    return moment


def audit(api, **params):
    response = api.get("/api/v1/audit?" + urlencode({k: v for k, v in params.items() if v is not None}))
    assert response.status == 200, response
    return response.json


def actions(body):
    return [(e["actor"], e["action"], e["project"]) for e in body["entries"]]


@pytest.fixture
def two_admins_three_projects(api, signed_client):
    """alice and the admin create web, shop and blog; then update, pause and delete."""
    alice = signed_client(ALICE)
    t0 = _now()
    assert alice.post("/api/v1/project", base_project(name="web")).status == 201
    assert api.post("/api/v1/project", base_project(name="shop")).status == 201
    assert alice.post("/api/v1/project", base_project(name="blog")).status == 201
    t1 = _now()
    assert api.put("/api/v1/project/web", {"description": "the front"}).status == 200
    assert alice.post("/api/v1/project/shop/pause").status == 200
    assert api.delete("/api/v1/project/blog").status == 200
    t2 = _now()
    return alice, t0, t1, t2


def test_audit_by_actor_and_by_time_across_three_projects(api, two_admins_three_projects):
    alice, t0, t1, t2 = two_admins_three_projects
    assert actions(audit(api, actor=ALICE)) == [
        (ALICE, "rollout.paused", "shop"), (ALICE, "project.created", "blog"),
        (ALICE, "project.created", "web")]
    assert actions(audit(alice, actor=ADMIN_ARN)) == [
        (ADMIN_ARN, "project.deleted", "blog"), (ADMIN_ARN, "project.updated", "web"),
        (ADMIN_ARN, "project.created", "shop")]

    assert actions(audit(api, since=_iso(t0), until=_iso(t1))) == [
        (ALICE, "project.created", "blog"), (ADMIN_ARN, "project.created", "shop"),
        (ALICE, "project.created", "web")]
    later = audit(api, since=_iso(t1), until=_iso(t2))
    assert actions(later) == [(ADMIN_ARN, "project.deleted", "blog"),
                              (ALICE, "rollout.paused", "shop"), (ADMIN_ARN, "project.updated", "web")]
    assert actions(audit(api, actor=ALICE, since=_iso(t1))) == [(ALICE, "rollout.paused", "shop")]
    assert audit(api, since=_iso(t2))["entries"] == []

    everything = audit(api)                                 # default: the last 7 days
    assert len(everything["entries"]) == 6 and everything["next_cursor"] is None
    assert everything["retention_days"] == 400 and everything["truncated"] is False
    newest = everything["entries"][0]
    assert newest["detail"] == {"hosts_removed": 0, "forced": False}
    assert newest["message"] == "project deleted"
    assert newest["request_id"] and newest["at"] >= _iso(t1) and newest["id"].startswith(newest["at"])
    ids = [e["id"] for e in everything["entries"]]
    assert ids == sorted(ids, reverse=True)


def test_project_filter_alone_and_with_an_actor(api, two_admins_three_projects):
    assert actions(audit(api, project="shop")) == [(ALICE, "rollout.paused", "shop"),
                                                   (ADMIN_ARN, "project.created", "shop")]
    assert actions(audit(api, project="web", actor=ADMIN_ARN)) == [
        (ADMIN_ARN, "project.updated", "web")]
    assert actions(audit(api, project="blog", actor=ALICE)) == [(ALICE, "project.created", "blog")]
    assert audit(api, project="nothing-here")["entries"] == []
    assert api.post("/api/v1/freeze", {"reason": "audit week"}).status == 201
    assert actions(audit(api, project="-")) == [(ADMIN_ARN, "stage.frozen", "-")]


def _seed(days_ago, count, actor=ADMIN_ARN, project="old", now=None):
    """Storage-boundary setup: ``count`` entries a minute apart, ``days_ago`` days back."""
    from chalicelib.audit import log
    from chalicelib.audit.model import AuditEntry
    start = (now or datetime.datetime.now(UTC)).replace(hour=10, minute=0, second=0, microsecond=0) \
        - datetime.timedelta(days=days_ago)
    entries = []
    with AuditEntry.batch_write() as batch:
        for n in range(count):
            at = start + datetime.timedelta(minutes=n)
            entry = log.new_entry(f"{_iso(at)}#{n:08x}", at, actor, "project.updated", project,
                                  {"n": n, "day": days_ago})
            batch.save(entry)
            entries.append(entry.sk)
    return entries


def _pages(api, **params):
    ids, cursor, pages = [], None, 0
    while True:
        body = audit(api, cursor=cursor, **params)
        ids += [e["id"] for e in body["entries"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return ids, pages


def test_cursor_pages_walk_the_days_newest_first_without_repeats(api):
    seeded = _seed(1, 7) + _seed(3, 5) + _seed(5, 4, actor=ALICE, project="shop")
    since = _iso(datetime.datetime.now(UTC) - datetime.timedelta(days=6))
    ids, pages = _pages(api, since=since, limit=3)
    assert ids == sorted(seeded, reverse=True) and pages >= 6
    by_actor, _ = _pages(api, actor=ADMIN_ARN, since=since, limit=4)
    assert by_actor == sorted(seeded[:12], reverse=True)
    both, _ = _pages(api, actor=ALICE, project="shop", since=since, limit=2)
    assert both == sorted(seeded[12:], reverse=True)
    too_old = _seed(9, 2)
    assert [e["id"] for e in audit(api)["entries"]] == sorted(seeded, reverse=True)  # 7 days
    assert _pages(api, since=_iso(datetime.datetime.now(UTC) - datetime.timedelta(days=10)),
                  limit=500)[0] == sorted(seeded + too_old, reverse=True)


def test_a_page_out_of_time_is_truncated_and_its_cursor_goes_on(api, monkeypatch):
    seeded = _seed(1, 2) + _seed(4, 2)
    monkeypatch.setenv("FABU_AUDIT_API_SECONDS", "0")          # every page stops after one day
    since = _iso(datetime.datetime.now(UTC) - datetime.timedelta(days=6))
    first = audit(api, since=since)
    assert first["entries"] == [] and first["truncated"] is True and first["next_cursor"]
    ids, pages = _pages(api, since=since)
    assert ids == sorted(seeded, reverse=True) and pages >= 5


def test_retention_bounds_the_walk_and_sets_expires_at(api, monkeypatch):
    monkeypatch.setenv("FABU_AUDIT_RETENTION_DAYS", "30")
    old = _seed(45, 2)
    assert api.post("/api/v1/project", base_project()).status == 201
    body = audit(api, since="2000-01-01T00:00:00Z")
    assert body["retention_days"] == 30 and [e["action"] for e in body["entries"]] == ["project.created"]
    assert not set(old) & {e["id"] for e in body["entries"]}
    [item] = boto_client("dynamodb").query(
        TableName="fabu-local-audit", IndexName="project-index",
        KeyConditionExpression="project = :p", ExpressionAttributeValues={":p": {"S": "web"}})["Items"]
    at = datetime.datetime.strptime(item["sk"]["S"][:27], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert int(item["expires_at"]["N"]) == int((at + datetime.timedelta(days=30)).timestamp())
    monkeypatch.setenv("FABU_AUDIT_RETENTION_DAYS", "forever")    # not a number: the default
    assert audit(api)["retention_days"] == 400


@pytest.mark.parametrize("query, field", [
    ({"since": "yesterday"}, "since"), ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-11-05T00:00:00Z", "until": "2026-11-04T00:00:00Z"}, "since"),
    ({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"), ({"limit": "ten"}, "limit"),
    ({"project": "Not A Name"}, "project"), ({"actor": " "}, "actor"),
    ({"cursor": "not-a-cursor"}, "cursor")])
def test_bad_input_is_a_400_naming_the_field(api, query, field):
    response = api.get(f"/api/v1/audit?{urlencode(query, quote_via=quote)}")
    assert response.status == 400, response
    assert field in response.json["fields"], response.json


def test_a_cursor_is_for_its_own_query_only(api):
    _seed(1, 3)
    since = _iso(datetime.datetime.now(UTC) - datetime.timedelta(days=2))
    cursor = audit(api, since=since, limit=1)["next_cursor"]
    assert cursor and audit(api, since=since, limit=1, cursor=cursor)["entries"]
    other = api.get(f"/api/v1/audit?{urlencode({'since': since, 'actor': ALICE, 'cursor': cursor})}")
    assert other.status == 400 and "cursor" in other.json["fields"]
    edited = api.get(f"/api/v1/audit?{urlencode({'since': since, 'cursor': cursor[:-2] + 'AA'})}")
    assert edited.status == 400 and "cursor" in edited.json["fields"]


def test_only_admins_read_the_audit_log(api, signed_client):
    host = signed_client(HOST_ARN)
    assert host.get("/api/v1/audit").status == 403
    assert host.post("/api/v1/audit", {"action": "key.minted"}).status == 403
    stranger = signed_client("arn:aws:iam::000000000000:user/someone-else")
    assert stranger.get("/api/v1/audit").status == 403


def test_what_fabu_does_itself_is_not_an_admin_action_and_secrets_stay_out(api):
    from chalicelib import events
    from chalicelib.audit import log
    events.record("web", "rollout.paused", "fabu:gate", {"why": "gate said wait"})
    events.record("fabu:stage", "stage.thawed", "fabu:tick", {"expired": True})
    events.record("web", "build.ready", "fabu-builder", {"version": "1.0.0"})
    log.record("key.minted", ALICE, detail={"host": "web-1", "secret_access_key": "s3cr3t-value",
                                            "token": "ssm:/fabu/token", "nested": {"password": "pw"}})
    body = audit(api)
    [entry] = body["entries"]
    assert entry["detail"] == {"host": "web-1", "secret_access_key": "********",
                               "token": "ssm:/fabu/token", "nested": {"password": "********"}}
    big = {"output": "x" * 5000, "items": list(range(1000)), "version": "1.0.0"}
    events.record("web", "project.updated", ALICE, big)
    detail = audit(api, project="web")["entries"][0]["detail"]
    assert detail["truncated"] is True and detail["version"] == "1.0.0"
    assert detail["items"] == "<1000 items>" and len(detail["output"]) == 200
