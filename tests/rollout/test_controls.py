"""The rollout controls through the API: promote, pause, resume, rollback, and their refusals."""
from tests.support.fleet import FLEET_HOSTS as HOSTS, create, events_of, later, put, rollout_of, tick


def test_manual_promote_releases_the_next_wave_or_all_of_them(api, fleet):
    create(api, HOSTS, rollout={"waves": [1, 2, 3, "100%"], "auto_promote": False,
                                "canary_hosts": HOSTS[:6]})
    tick()
    assert len(fleet.round(HOSTS[:10])) == 1
    tick(600)
    rollout = rollout_of(api)
    assert rollout["wave"] == 0 and "promote" in rollout["reason"]
    assert len(fleet.round(HOSTS[:10])) == 0
    response = api.post("/api/v1/project/web/promote")
    assert response.status == 200, response
    assert response.json["wave"] == 1
    assert len(fleet.round(HOSTS[:10])) == 1
    response = api.post("/api/v1/project/web/promote?full=true")
    assert response.json["wave"] == 3
    promoted = events_of("web", "rollout.promoted")
    assert [e["actor"] for e in promoted] == ["arn:aws:iam::000000000000:user/fabu-admin"] * 2
    assert api.post("/api/v1/project/web/promote").status == 409  # already at its last wave


def test_pause_holds_the_waves_and_resume_retries_failed_hosts(api, fleet):
    create(api, HOSTS, rollout={"waves": [2, 4, "100%"], "canary_hosts": HOSTS[:4],
                                "max_failures": 0, "auto_rollback": False})
    tick()
    fleet.round(HOSTS[:4])
    assert api.post("/api/v1/project/web/pause").json["state"] == "paused"
    tick(60)
    assert rollout_of(api)["wave"] == 0
    assert fleet.round(HOSTS[:4]) == []
    assert api.post("/api/v1/project/web/pause").status == 409
    assert api.post("/api/v1/project/web/resume").json["state"] == "running"
    tick(120)
    fleet.fail[HOSTS[3]] = "do-deploy"
    fleet.round(HOSTS[:4])
    tick(180)
    rollout = rollout_of(api)
    assert rollout["state"] == "halted" and rollout["failures"] == 1
    del fleet.fail[HOSTS[3]]
    assert api.post("/api/v1/project/web/resume").json["failures"] == 0
    retried = fleet.round([HOSTS[3]])
    assert len(retried) == 1 and retried[0][1]["deploy_id"] != fleet.handed[-2][4]
    tick(240)
    assert rollout_of(api)["wave"] == 2
    assert events_of("web", "rollout.resumed")[0]["detail"]["retried"] == [HOSTS[3]]


def test_controls_refuse_what_the_state_forbids(api, fleet):
    create(api, HOSTS[:2])
    tick()
    response = api.post("/api/v1/project/web/rollback?to=0.9.0")
    assert response.status == 400 and "no ready release" in response.json["error"]
    assert api.post("/api/v1/project/web/rollback").status == 409  # no previous good version
    fleet.round(HOSTS[:2])
    tick()
    assert api.post("/api/v1/project/web/promote").status == 409
    assert api.post("/api/v1/project/web/resume").status == 409
    assert api.post("/api/v1/project/nope/pause").status == 404


def test_pause_takes_back_deploys_not_yet_fetched_and_resume_hands_them_out(api, fleet):
    hosts = HOSTS[:4]
    create(api, hosts, rollout={"waves": ["100%"]})
    tick()
    assert len(fleet.round(hosts[:1])) == 1          # one host took its deploy before the pause
    assert api.post("/api/v1/project/web/pause").status == 200
    assert fleet.round(hosts[1:]) == []               # the others are not handed a deploy now
    assert tick()["rollouts"]["web"] == "paused"
    assert api.post("/api/v1/project/web/resume").status == 200
    assert len(fleet.round(hosts[1:])) == 3           # handed out again at once, no tick needed
    assert tick()["rollouts"]["web"] == "succeeded"


def test_a_promote_starts_a_scheduled_rollout_and_a_rollback_cancels_one(api, fleet):
    hosts = HOSTS[:2]
    create(api, hosts)
    tick()
    fleet.round(hosts)
    assert tick()["rollouts"]["web"] == "succeeded"
    soon = later(3600).strftime("%Y-%m-%dT%H:%M:%SZ")
    put(api, version="2.0.0", deploy_at=soon)
    assert rollout_of(api)["state"] == "scheduled"
    response = api.post("/api/v1/project/web/rollback?to=not%20a%20version")
    assert response.status == 400 and "not a version" in response.json["error"]
    response = api.post("/api/v1/project/web/rollback")
    assert response.status == 200 and response.json["state"] == "cancelled"
    assert events_of("web", "rollout.cancelled")[0]["message"] == \
        "rollout of 2.0.0 cancelled before it started"
    assert fleet.round(hosts) == []
    put(api, version="3.0.0", deploy_at=soon)
    response = api.post("/api/v1/project/web/promote")
    assert response.status == 200 and response.json["state"] == "running"
    assert events_of("web", "rollout.promoted")[0]["message"] == "rollout of 3.0.0 promoted: start now"
    assert {item["version"] for _, item in fleet.round(hosts)} == {"3.0.0"}
