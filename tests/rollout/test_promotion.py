"""Promotion of the same artifact through the API: ``promote_from``, ``POST .../promote-release``,
the tick's automatic promotion and the ``promotion`` chain of ``GET /api/v1/project/{id}``.

Two projects on simulated hosts (``tests/support/fleet.py``): ``staging`` (two hosts) and
``prod`` (two others) promoting from it. Releases are set up at the storage boundary (what the
build worker leaves); everything else goes through the API and the tick.
"""
import pytest

from chalicelib.models import Release
from tests.support.fleet import (Fleet, create, events_of, hosts_named, ready_release, rollout_of,
                                 tick)

STAGING, PROD = hosts_named("stg", 2), hosts_named("prd", 2)
ADMIN = "arn:aws:iam::000000000000:user/fabu-admin"
PATH = "/api/v1/project/prod/promote-release"


@pytest.fixture
def fleet(signed_client):
    return Fleet(signed_client, STAGING + PROD)


def _staging(api, fleet, version="2.1.0", **rollout):
    """``staging`` at ``version``, rolled out: succeeded (or as far as ``rollout`` lets it go)."""
    create(api, STAGING, name="staging", version=version,
           rollout=dict({"waves": ["100%"]}, **rollout))
    tick()
    fleet.round(STAGING)
    tick()
    return rollout_of(api, "staging")


def _prod(api, fleet, version="2.0.0", **promote_from):
    """``prod`` promoting from staging, its own first rollout (``version``) succeeded."""
    create(api, PROD, name="prod", version=version,
           promote_from=dict({"project": "staging"}, **promote_from))
    tick()
    fleet.round(PROD)
    tick()
    assert rollout_of(api, "prod")["state"] == "succeeded"


def _version(api, name="prod"):
    return api.get(f"/api/v1/project/{name}").json["version"]


def test_promote_release_gives_prod_the_same_release_and_its_rollout_starts(api, fleet):
    assert _staging(api, fleet)["state"] == "succeeded"
    _prod(api, fleet)
    response = api.post(PATH, {})
    assert response.status == 200, response
    done = response.json
    staging = Release.get("staging", "2.1.0")
    assert (done["version"], done["promoted"], done["forced"]) == ("2.1.0", True, False)
    assert done["release"]["sha256"] == staging.sha256
    assert done["release"]["s3_key"] == staging.s3_key == "releases/staging/2.1.0.tgz"
    assert done["release"]["state"] == "ready"
    assert done["release"]["promoted_from"]["project"] == "staging"
    assert done["release"]["promoted_from"]["rollout_id"] == rollout_of(api, "staging")["id"]
    assert done["rollout"]["version"] == "2.1.0" and done["rollout"]["state"] == "running"
    view = api.get("/api/v1/project/prod").json
    assert view["version"] == "2.1.0" and view["release"]["sha256"] == staging.sha256
    assert events_of("prod", "build.queued") == []          # nothing was rebuilt
    fleet.round(PROD)
    assert fleet.at("2.1.0", "prod") == PROD
    promoted = events_of("prod", "release.promoted")
    assert [e["actor"] for e in promoted] == [ADMIN]
    assert promoted[0]["detail"] == {"from": "staging", "version": "2.1.0", "forced": False,
                                     "reason": None, "sha256": staging.sha256, "auto": False,
                                     "rollout_id": done["release"]["promoted_from"]["rollout_id"]}
    # a retry (or a second click) answers 200 with what is there: no new release, no new event
    again = api.post(PATH, {"version": "2.1.0"})
    assert again.status == 200 and again.json["promoted"] is False
    assert again.json["release"]["created_at"] == done["release"]["created_at"]
    assert len(events_of("prod", "release.promoted")) == 1


def test_a_version_not_done_upstream_is_refused_naming_its_state_unless_forced(api, fleet):
    fleet.hung.add(STAGING[0])                              # takes the canary's deploy, never reports
    rollout = _staging(api, fleet, waves=[1, "100%"], canary_hosts=STAGING[:1])
    assert rollout["state"] == "running"
    _prod(api, fleet)
    response = api.post(PATH, {"version": "2.1.0"})
    assert response.status == 409
    assert "staging's rollout of 2.1.0 is running (wave 1 of 2)" in response.json["error"]
    assert api.post(PATH, {}).status == 409                  # no succeeded rollout to default to
    no_reason = api.post(PATH, {"version": "2.1.0", "force": True})
    assert no_reason.status == 400 and "reason" in no_reason.json["fields"]
    assert api.post(PATH, {"version": "2.1.0", "force": True, "reason": " "}).status == 400
    forced = api.post(PATH, {"version": "2.1.0", "force": True, "reason": "hotfix for INC-42"})
    assert forced.status == 200, forced
    assert forced.json["release"]["promoted_from"]["forced"] is True
    assert "is running" in forced.json["release"]["promoted_from"]["overrode"]
    event = events_of("prod", "release.promoted")[0]
    assert (event["detail"]["forced"], event["detail"]["reason"]) == (True, "hotfix for INC-42")
    assert "forced (hotfix for INC-42)" in event["message"]
    assert _version(api) == "2.1.0"


def test_a_halted_upstream_is_refused_and_a_version_never_built_cannot_be_forced(api, fleet):
    fleet.fail[STAGING[1]] = "do-deploy"
    rollout = _staging(api, fleet, max_failures=0, auto_rollback=False)
    assert rollout["state"] == "halted"
    _prod(api, fleet)
    response = api.post(PATH, {"version": "2.1.0"})
    assert response.status == 409 and "staging's rollout of 2.1.0 is halted" in response.json["error"]
    never = api.post(PATH, {"version": "9.9.9", "force": True, "reason": "try"})
    assert never.status == 409
    assert "staging's release 9.9.9 does not exist" in never.json["error"]
    assert "no artifact" in never.json["error"]
    assert _version(api) == "2.0.0"


def test_soak_holds_manual_and_automatic_promotion_until_it_is_over(api, fleet):
    assert _staging(api, fleet)["state"] == "succeeded"
    _prod(api, fleet, soak_seconds=3600, auto=True)
    response = api.post(PATH, {})
    assert response.status == 409
    assert "staging's rollout of 2.1.0 succeeded" in response.json["error"]
    assert "soaking until" in response.json["error"]
    chain = api.get("/api/v1/project/prod").json["promotion"]
    assert chain["from"]["version"] == "2.1.0" and chain["from"]["state"] == "succeeded"
    assert chain["from"]["soaking"] is True and chain["candidate"] == "2.1.0"
    assert "soaking until" in chain["blocked"] and chain["auto"] is True
    assert tick(60)["promotions"]["promoted"] == {}
    assert _version(api) == "2.0.0"
    assert tick(3700)["promotions"]["promoted"] == {"prod": "2.1.0"}
    assert _version(api) == "2.1.0"
    event = events_of("prod", "release.promoted")[0]
    assert event["actor"] == "fabu:tick" and event["detail"]["auto"] is True
    assert rollout_of(api, "prod")["version"] == "2.1.0"
    assert tick(3760)["promotions"]["promoted"] == {}        # already there: nothing twice
    assert len(events_of("prod", "release.promoted")) == 1


def test_auto_promotion_waits_for_a_thaw_and_never_goes_back(api, fleet):
    assert _staging(api, fleet)["state"] == "succeeded"
    create(api, [], name="lts", version="3.0.0", promote_from={"project": "staging", "auto": True})
    _prod(api, fleet, auto=True)                             # (lts, without hosts, succeeds too)
    assert api.post("/api/v1/freeze", {"reason": "quarter end"}).status == 201
    outcome = tick()["promotions"]
    assert outcome["promoted"] == {} and outcome["frozen"] == "quarter end"
    chain = api.get("/api/v1/project/prod").json["promotion"]
    assert chain["candidate"] == "2.1.0" and "frozen: quarter end" in chain["blocked"]
    assert api.delete("/api/v1/freeze").status == 200
    assert tick()["promotions"]["promoted"] == {"prod": "2.1.0"}    # lts (3.0.0) is newer: kept
    assert _version(api, "lts") == "3.0.0"
    lts = api.get("/api/v1/project/lts").json["promotion"]
    assert lts["candidate"] is None and "never goes back" in lts["blocked"]


def test_auto_promotion_leaves_a_project_whose_own_rollout_is_running_alone(api, fleet):
    assert _staging(api, fleet)["state"] == "succeeded"
    create(api, PROD, name="prod", version="2.0.0",
           promote_from={"project": "staging", "auto": True})
    # prod's own first rollout (2.0.0) is under way: the tick does not promote into it
    assert tick()["promotions"]["promoted"] == {}
    assert rollout_of(api, "prod")["state"] == "running"
    chain = api.get("/api/v1/project/prod").json["promotion"]
    assert "prod's rollout of 2.0.0 is running" in chain["blocked"]
    fleet.round(PROD)
    tick()                                                   # prod's 2.0.0 succeeds in this tick
    assert tick()["promotions"]["promoted"] == {"prod": "2.1.0"}


def test_a_retry_after_a_half_failed_promotion_completes_it(api, fleet):
    assert _staging(api, fleet)["state"] == "succeeded"
    _prod(api, fleet)
    staging = Release.get("staging", "2.1.0")
    # the first attempt wrote the release and failed before the project changed
    Release("prod", "2.1.0", state="ready", s3_key=staging.s3_key, sha256=staging.sha256,
            size=staging.size, promoted_from={"project": "staging", "version": "2.1.0"}).save()
    response = api.post(PATH, {})
    assert response.status == 200 and response.json["promoted"] is True
    assert _version(api) == "2.1.0" and rollout_of(api, "prod")["version"] == "2.1.0"
    # a release of other bytes under that version is never overwritten
    ready_release("prod", "2.2.0", body=b"other bytes")
    ready_release("staging", "2.2.0")
    refused = api.post(PATH, {"version": "2.2.0", "force": True, "reason": "x"})
    assert refused.status == 409 and "versions are immutable" in refused.json["error"]


def test_promote_from_is_checked_at_create_and_update(api):
    create(api, STAGING, name="staging", version="2.1.0")
    bad = api.post("/api/v1/project", {"name": "prod", "version": "1.0.0", "hosts": PROD,
                                       "promote_from": {"project": "nope", "soak_seconds": -1,
                                                        "auto": "yes", "extra": 1}})
    assert bad.status == 400
    assert set(bad.json["fields"]) == {"promote_from.soak_seconds", "promote_from.auto",
                                       "promote_from.extra"}
    unknown = api.post("/api/v1/project", {"name": "prod", "version": "1.0.0", "hosts": PROD,
                                           "promote_from": {"project": "nope"}})
    assert unknown.status == 400
    assert unknown.json["fields"] == {"promote_from.project": "no project named 'nope'"}
    itself = api.put("/api/v1/project/staging", {"promote_from": {"project": "staging"}})
    assert itself.status == 400 and "promote_from.project" in itself.json["fields"]
    create(api, PROD, name="prod", version="2.0.0", promote_from={"project": "staging"})
    cycle = api.put("/api/v1/project/staging", {"promote_from": {"project": "prod"}})
    assert cycle.status == 400
    assert cycle.json["fields"]["promote_from.project"] == "promotion cycle: staging -> prod -> staging"
    shown = api.get("/api/v1/project/prod").json
    assert shown["promote_from"] == {"project": "staging", "soak_seconds": 0, "auto": False}
    assert api.put("/api/v1/project/prod", {"promote_from": None}).status == 200
    assert api.get("/api/v1/project/prod").json["promotion"] is None
    none = api.post(PATH, {})
    assert none.status == 409 and "promote_from" in none.json["error"]
    assert api.post("/api/v1/project/ghost/promote-release", {}).status == 404
    bad_body = api.post(PATH, {"version": "not a version!", "force": "yes"})
    assert bad_body.status == 400 and set(bad_body.json["fields"]) == {"version", "force"}
