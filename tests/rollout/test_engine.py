"""The rollout engine: wave planning, and a 200-host simulated fleet driven through the API.

The fleet (``tests/_fleet.py``) polls, fetches scripts and reports like the agent would; the
tests move time by passing ``now`` to ``rollout.tick.run``. To keep the file fast, the scenarios
use ``canary_hosts`` to decide which hosts make up the early waves and let only the hosts that
matter run their cron; the first test polls the whole fleet every round.
"""
import threading

import pytest

from tests.support.fleet import Fleet, hosts_named, later, ready_release
from tests.conftest import base_project

HOSTS = hosts_named("web", 200)


@pytest.fixture
def fleet(signed_client):
    return Fleet(signed_client, HOSTS)


def _create(api, name="web", version="1.0.0", hosts=HOSTS, ready=True, **overrides):
    response = api.post("/api/v1/project", base_project(name=name, version=version, hosts=hosts,
                                                        **overrides))
    assert response.status == 201, response
    if ready:
        ready_release(name, version)
    return response.json


def _put(api, name="web", ready=True, **changes):
    response = api.put("/api/v1/project/" + name, changes)
    assert response.status == 200, response
    if ready and "version" in changes and "apply_at" not in changes:
        ready_release(name, changes["version"])
    return response.json


def _tick(seconds=0):
    from chalicelib.rollout import tick
    return tick.run(now=later(seconds))


def _rollout(api, name="web"):
    return api.get("/api/v1/project/" + name).json["rollout"]


def _events(name, kind):
    from chalicelib import events
    items, _ = events.page(name, limit=1000)
    return [e for e in items if e["kind"] == kind]


def _counts(rollout):
    return [w["counts"] for w in rollout["waves"]]


def _at(fleet, version, project="web"):
    return sorted(h for h, v in fleet.versions(project).items() if v == version)


# ----------------------------------------------------------------------------- planning

@pytest.mark.parametrize("waves, count, sizes", [
    ([1, "10%", "50%", "100%"], 200, [1, 19, 80, 100]),
    ([2, "10%", "50%", "100%"], 200, [2, 18, 80, 100]),
    (["1%", "2%", "100%"], 10, [1, 9]),          # 1% and 2% of 10 both round up to 1 host
    ([5, "100%"], 3, [3]),                        # a count larger than the fleet
    (["100%"], 0, []),
])
def test_wave_sizes_are_cumulative_and_skip_empty_waves(waves, count, sizes):
    from chalicelib.rollout import engine as rollouts
    plan = rollouts.plan_waves("web", hosts_named("h", count), [], waves)
    assert [len(w) for w in plan] == sizes
    assert sorted(h for w in plan for h in w) == sorted(hosts_named("h", count))


def test_canaries_go_first_then_a_stable_hash_order():
    from chalicelib.rollout import engine as rollouts
    canaries = [HOSTS[150], HOSTS[7]]
    first = rollouts.plan_waves("web", HOSTS, canaries, [2, "10%", "100%"])
    again = rollouts.plan_waves("web", list(reversed(HOSTS)), canaries, [2, "10%", "100%"])
    assert first[0] == canaries
    assert first == again
    assert first[1] != sorted(first[1])  # hashed, not alphabetical


@pytest.mark.parametrize("spec, total, allowed", [(0, 200, 0), (3, 200, 3), ("5%", 200, 10),
                                                  ("5%", 10, 0), ("50%", 3, 1)])
def test_max_failures_is_a_count_or_a_share_of_the_hosts(spec, total, allowed):
    from chalicelib.rollout import engine as rollouts
    assert rollouts.allowed_failures(spec, total) == allowed


# ----------------------------------------------------------------------------- the fleet

def test_four_wave_rollout_reaches_every_host_wave_by_wave(api, fleet):
    _create(api, rollout={"waves": [2, "10%", "50%", "100%"], "canary_hosts": [HOSTS[42]]})
    assert _rollout(api)["state"] == "waiting_release"  # the release was not ready at create
    assert _tick()["rollouts"]["web"] == "running"
    sizes = []
    for wave in range(4):
        handed = fleet.round([h for h in HOSTS if h not in _at(fleet, "1.0.0")])
        sizes.append(len(handed))
        if wave == 0:
            assert HOSTS[42] in [h for h, _ in handed]
        _tick()
    assert sizes == [2, 18, 80, 100]
    rollout = _rollout(api)
    assert rollout["state"] == "succeeded"
    assert _counts(rollout) == [{"succeeded": 2}, {"succeeded": 18}, {"succeeded": 80},
                                {"succeeded": 100}]
    assert len(_at(fleet, "1.0.0")) == 200
    assert len(_events("web", "rollout.wave_started")) == 4
    assert len(_events("web", "rollout.succeeded")) == 1


def _two_versions(api, fleet, v2_rollout, canaries=10):
    """v1 rolled out on the first ``canaries`` hosts; then v2 on all 200, canaries first."""
    early = HOSTS[:canaries]
    _create(api, hosts=early)
    _tick()
    fleet.round(early)
    assert _tick()["rollouts"]["web"] == "succeeded"
    _put(api, version="2.0.0", hosts=HOSTS, rollout=dict({"canary_hosts": early}, **v2_rollout))
    _tick()
    return early


def test_a_failure_in_wave_1_halts_and_rolls_back_all_at_once(api, fleet):
    early = _two_versions(api, fleet, {"waves": [2, "5%", "50%", "100%"], "max_failures": 0,
                                       "bake_seconds": 0})
    fleet.round(early)                      # wave 0: the two canaries succeed
    _tick()
    fleet.fail[early[5]] = "post-deploy"    # one host of wave 1 fails its check
    fleet.round(early)
    assert _tick()["rollouts"]["web"] == "rolling_back"
    rollout = _rollout(api)
    assert rollout["rollback_to"] == "1.0.0"
    assert "max_failures" in rollout["reason"]
    handed = fleet.round(HOSTS[:20])        # one round: every deployed host rolls back at once
    kinds = {kind for _, item in handed for kind in [item["kind"]]}
    assert kinds == {"rollback"}
    assert len(handed) == 9                 # 2 canaries + 7 good hosts of wave 1, not the failed
    assert _tick()["rollouts"]["web"] == "rolled_back"
    assert _at(fleet, "1.0.0") == early
    assert not [h for h, p, v, k, _ in fleet.handed if v == "2.0.0" and h not in early]
    assert len(_events("web", "rollout.rolled_back")) == 1
    assert len(_events("web", "rollout.wave_started")) == 3  # v1's wave, v2's waves 0 and 1
    rows = api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
    assert not [r for r in rows if r["status"] == "waiting"]  # the unreleased waves stand down
    assert {r["target_version"] for r in rows if r["host"] not in early[:2] + [early[5]]} == {"1.0.0"}


def test_manual_promote_releases_the_next_wave_or_all_of_them(api, fleet):
    _create(api, rollout={"waves": [1, 2, 3, "100%"], "auto_promote": False,
                          "canary_hosts": HOSTS[:6]})
    _tick()
    assert len(fleet.round(HOSTS[:10])) == 1
    _tick(600)
    rollout = _rollout(api)
    assert rollout["wave"] == 0 and "promote" in rollout["reason"]
    assert len(fleet.round(HOSTS[:10])) == 0
    response = api.post("/api/v1/project/web/promote")
    assert response.status == 200, response
    assert response.json["wave"] == 1
    assert len(fleet.round(HOSTS[:10])) == 1
    response = api.post("/api/v1/project/web/promote?full=true")
    assert response.json["wave"] == 3
    promoted = _events("web", "rollout.promoted")
    assert [e["actor"] for e in promoted] == ["arn:aws:iam::000000000000:user/fabu-admin"] * 2
    assert api.post("/api/v1/project/web/promote").status == 409  # already at its last wave


def test_pause_holds_the_waves_and_resume_retries_failed_hosts(api, fleet):
    _create(api, rollout={"waves": [2, 4, "100%"], "canary_hosts": HOSTS[:4], "max_failures": 0,
                          "auto_rollback": False})
    _tick()
    fleet.round(HOSTS[:4])
    assert api.post("/api/v1/project/web/pause").json["state"] == "paused"
    _tick(60)
    assert _rollout(api)["wave"] == 0
    assert fleet.round(HOSTS[:4]) == []
    assert api.post("/api/v1/project/web/pause").status == 409
    assert api.post("/api/v1/project/web/resume").json["state"] == "running"
    _tick(120)
    fleet.fail[HOSTS[3]] = "do-deploy"
    fleet.round(HOSTS[:4])
    _tick(180)
    rollout = _rollout(api)
    assert rollout["state"] == "halted" and rollout["failures"] == 1
    del fleet.fail[HOSTS[3]]
    assert api.post("/api/v1/project/web/resume").json["failures"] == 0
    retried = fleet.round([HOSTS[3]])
    assert len(retried) == 1 and retried[0][1]["deploy_id"] != fleet.handed[-2][4]
    _tick(240)
    assert _rollout(api)["wave"] == 2
    assert _events("web", "rollout.resumed")[0]["detail"]["retried"] == [HOSTS[3]]


def test_deploy_at_and_apply_at_wait_for_their_time(api, fleet):
    few = HOSTS[:3]
    _create(api, hosts=few, deploy_at=later(3600).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _tick()
    assert _rollout(api)["state"] == "scheduled"
    assert fleet.round(few) == []
    _tick(3601)
    assert len(fleet.round(few)) == 3
    assert _tick(3660)["rollouts"]["web"] == "succeeded"
    when = later(7200).strftime("%Y-%m-%dT%H:%M:%SZ")
    project = _put(api, version="1.1.0", apply_at=when)
    assert project["version"] == "1.0.0"
    assert project["pending"]["changes"] == {"version": "1.1.0"}
    _tick(3700)
    assert api.get("/api/v1/project/web").json["version"] == "1.0.0"
    ready_release("web", "1.1.0")
    outcome = _tick(7201)
    assert outcome["applied_updates"] == ["web"]
    assert api.get("/api/v1/project/web").json["version"] == "1.1.0"
    assert len(fleet.round(few)) == 3


def test_a_dependency_on_the_same_host_gates_each_host(api, fleet):
    few = HOSTS[:3]
    _create(api, name="db", hosts=few)
    _create(api, name="app", hosts=few, depends_on=[{"project": "db", "version": ">=2.0"}])
    _tick()
    handed = fleet.round(few)
    assert {(h, item["project"]) for h, item in handed} == {(h, "db") for h in few}
    assert fleet.blocked[few[0]][0]["reason"].startswith("blocked: waiting for db >=2.0 on this host")
    _put(api, name="db", version="2.0.0")
    _tick()
    assert [item["project"] for _, item in fleet.round(few)] == ["db"] * 3
    assert [item["project"] for _, item in fleet.round(few)] == ["app"] * 3
    assert fleet.versions("app") == dict(fleet.versions("app"), **{h: "1.0.0" for h in few})


def test_a_dependency_on_other_hosts_waits_for_its_rollout(api, fleet):
    _create(api, name="db", hosts=HOSTS[:2], ready=False)
    _create(api, name="app", hosts=HOSTS[2:4], depends_on=[{"project": "db", "version": ">=1.0"}])
    _tick()
    app = _rollout(api, "app")
    assert app["state"] == "waiting_release"
    assert app["reason"].startswith("blocked: waiting for db >=1.0")
    assert _events("app", "rollout.blocked")
    assert fleet.round(HOSTS[2:4]) == []
    ready_release("db", "1.0.0")
    _tick()
    fleet.round(HOSTS[:2])
    _tick()
    assert _rollout(api, "db")["state"] == "succeeded"
    _tick()
    assert len(fleet.round(HOSTS[2:4])) == 2


def test_a_dependency_cycle_is_refused_naming_it(api):
    _create(api, name="a", hosts=HOSTS[:1])
    _create(api, name="b", hosts=HOSTS[:1], depends_on=[{"project": "a"}])
    response = api.put("/api/v1/project/a", {"depends_on": [{"project": "b"}]})
    assert response.status == 400
    assert "a -> b -> a" in response.json["error"]


def test_a_newer_version_supersedes_and_hosts_mid_deploy_finish(api, fleet):
    _create(api, rollout={"waves": [3, "100%"], "canary_hosts": HOSTS[:3]})
    _tick()
    fleet.hung.add(HOSTS[0])
    fleet.round(HOSTS[:2])                  # host 0 runs the script (no report yet), 1 succeeds
    _put(api, version="2.0.0")
    old, new = _events("web", "rollout.superseded"), _rollout(api)
    assert len(old) == 1 and new["version"] == "2.0.0"
    assert fleet.round([HOSTS[2]]) == []    # its queued 1.0.0 deploy was withdrawn
    _tick()
    assert _rollout(api)["reason"].startswith("waiting for 1 hosts to finish")
    fleet.hung.discard(HOSTS[0])
    deploy = [d for d in fleet.handed if d[0] == HOSTS[0]][-1]
    fleet._run(HOSTS[0], {"project": "web", "version": "1.0.0", "kind": "deploy",
                          "deploy_id": deploy[4]})  # the late report is still accepted
    assert fleet.versions("web")[HOSTS[0]] == "1.0.0"
    _tick()
    rollout = _rollout(api)
    assert rollout["state"] == "running" and rollout["wave"] == 0
    handed = fleet.round(HOSTS[:3])
    assert {item["version"] for _, item in handed} == {"2.0.0"} and len(handed) == 3


def test_lost_and_silent_hosts_are_told_apart_from_failures(api, fleet, monkeypatch):
    _create(api, rollout={"waves": [3, "100%"], "canary_hosts": HOSTS[:3], "max_failures": 2,
                          "deploy_timeout": 600})
    _tick()
    fleet.hung.add(HOSTS[0])                # takes the script and dies
    fleet.down.add(HOSTS[1])                # never polls again
    fleet.round(HOSTS[:3])
    _tick(300)
    assert _rollout(api)["failures"] == 0
    monkeypatch.setenv("FABU_SILENT_SECONDS", "0")
    outcome = _tick(601)
    rollout = _rollout(api)
    assert rollout["failures"] == 2 and sorted(rollout["lost"]) == HOSTS[:2]
    assert outcome["rollouts"]["web"] == "running" and rollout["wave"] == 1
    lost = {e["host"]: e["message"] for e in _events("web", "host.lost")}
    assert "no report within deploy_timeout" in lost[HOSTS[0]]
    assert "silent" in lost[HOSTS[1]]
    assert HOSTS[2] in rollout["silent"]    # polled once, then silent: shown, not counted
    assert not _events("web", "host.failed")


def test_two_ticks_at_once_never_double_advance(api, fleet):
    _create(api, rollout={"waves": [1, 2, 3, "100%"], "canary_hosts": HOSTS[:6]})
    _tick()
    for _ in range(3):
        fleet.round(HOSTS[:6])
        outcomes = []
        threads = [threading.Thread(target=lambda: outcomes.append(_tick())) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 4
    started = [e["detail"]["wave"] for e in _events("web", "rollout.wave_started")]
    assert sorted(started) == [0, 1, 2, 3]


def test_controls_refuse_what_the_state_forbids(api, fleet):
    _create(api, hosts=HOSTS[:2])
    _tick()
    response = api.post("/api/v1/project/web/rollback?to=0.9.0")
    assert response.status == 400 and "no ready release" in response.json["error"]
    assert api.post("/api/v1/project/web/rollback").status == 409  # no previous good version
    fleet.round(HOSTS[:2])
    _tick()
    assert api.post("/api/v1/project/web/promote").status == 409
    assert api.post("/api/v1/project/web/resume").status == 409
    assert api.post("/api/v1/project/nope/pause").status == 404


def test_pause_takes_back_deploys_not_yet_fetched_and_resume_hands_them_out(api, fleet):
    hosts = HOSTS[:4]
    _create(api, hosts=hosts, rollout={"waves": ["100%"]})
    _tick()
    assert len(fleet.round(hosts[:1])) == 1          # one host took its deploy before the pause
    assert api.post("/api/v1/project/web/pause").status == 200
    assert fleet.round(hosts[1:]) == []               # the others are not handed a deploy now
    assert _tick()["rollouts"]["web"] == "paused"
    assert api.post("/api/v1/project/web/resume").status == 200
    assert len(fleet.round(hosts[1:])) == 3           # handed out again at once, no tick needed
    assert _tick()["rollouts"]["web"] == "succeeded"


def test_max_parallel_bounds_the_hosts_in_flight_of_a_wave(api, fleet):
    hosts = HOSTS[:6]
    _create(api, hosts=hosts, rollout={"waves": ["100%"], "max_parallel": 2})
    _tick()
    rounds = []
    for _ in range(4):
        rounds.append(len(fleet.round(hosts)))
        _tick()
    assert rounds == [2, 2, 2, 0]               # never more than two deploys handed out at once
    assert _rollout(api)["state"] == "succeeded"
    assert len(_at(fleet, "1.0.0")) == 6
