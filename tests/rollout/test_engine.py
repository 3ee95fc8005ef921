"""The rollout engine driven through the API: a 100-host simulated fleet, waves, leases, ticks.

The fleet (``tests/support/fleet.py``) polls, fetches scripts and reports like the agent would;
the tests move time by passing ``now`` to ``rollout.tick.run``. To keep the file fast, the
scenarios use ``canary_hosts`` to decide which hosts make up the early waves and let only the
hosts that matter run their cron (``test_fleet.py`` polls the whole fleet every round).
"""
import threading

from tests.support.fleet import (FLEET_HOSTS as HOSTS, create, events_of, later, put,
                                 ready_release, rollout_of, tick)


def test_deploy_at_and_apply_at_wait_for_their_time(api, fleet):
    few = HOSTS[:3]
    create(api, few, deploy_at=later(3600).strftime("%Y-%m-%dT%H:%M:%SZ"))
    tick()
    assert rollout_of(api)["state"] == "scheduled"
    assert fleet.round(few) == []
    tick(3601)
    assert len(fleet.round(few)) == 3
    assert tick(3660)["rollouts"]["web"] == "succeeded"
    when = later(7200).strftime("%Y-%m-%dT%H:%M:%SZ")
    project = put(api, version="1.1.0", apply_at=when)
    assert project["version"] == "1.0.0"
    assert project["pending"]["changes"] == {"version": "1.1.0"}
    tick(3700)
    assert api.get("/api/v1/project/web").json["version"] == "1.0.0"
    ready_release("web", "1.1.0")
    outcome = tick(7201)
    assert outcome["applied_updates"] == ["web"]
    assert api.get("/api/v1/project/web").json["version"] == "1.1.0"
    assert len(fleet.round(few)) == 3


def test_a_dependency_on_the_same_host_gates_each_host(api, fleet):
    few = HOSTS[:3]
    create(api, few, name="db")
    create(api, few, name="app", depends_on=[{"project": "db", "version": ">=2.0"}])
    tick()
    handed = fleet.round(few)
    assert {(h, item["project"]) for h, item in handed} == {(h, "db") for h in few}
    assert fleet.blocked[few[0]][0]["reason"].startswith("blocked: waiting for db >=2.0 on this host")
    put(api, name="db", version="2.0.0")
    tick()
    assert [item["project"] for _, item in fleet.round(few)] == ["db"] * 3
    assert [item["project"] for _, item in fleet.round(few)] == ["app"] * 3
    assert fleet.versions("app") == dict(fleet.versions("app"), **{h: "1.0.0" for h in few})


def test_a_dependency_on_other_hosts_waits_for_its_rollout(api, fleet):
    create(api, HOSTS[:2], name="db", ready=False)
    create(api, HOSTS[2:4], name="app", depends_on=[{"project": "db", "version": ">=1.0"}])
    tick()
    app = rollout_of(api, "app")
    assert app["state"] == "waiting_release"
    assert app["reason"].startswith("blocked: waiting for db >=1.0")
    assert events_of("app", "rollout.blocked")
    assert fleet.round(HOSTS[2:4]) == []
    ready_release("db", "1.0.0")
    tick()
    fleet.round(HOSTS[:2])
    tick()
    assert rollout_of(api, "db")["state"] == "succeeded"
    tick()
    assert len(fleet.round(HOSTS[2:4])) == 2


def test_lost_and_silent_hosts_are_told_apart_from_failures(api, fleet, monkeypatch):
    for beat in ("FABU_HEARTBEAT_SECONDS", "FABU_ACTIVE_HEARTBEAT_SECONDS"):
        monkeypatch.setenv(beat, "0")       # silence known at once (hosts.beat: its resolution)
    create(api, HOSTS, rollout={"waves": [3, "100%"], "canary_hosts": HOSTS[:3], "max_failures": 2,
                                "deploy_timeout": 600})
    tick()
    fleet.hung.add(HOSTS[0])                # takes the script and dies
    fleet.down.add(HOSTS[1])                # never polls again
    fleet.round(HOSTS[:3])
    tick(300)
    assert rollout_of(api)["failures"] == 0
    monkeypatch.setenv("FABU_SILENT_SECONDS", "0")
    outcome = tick(601)
    rollout = rollout_of(api)
    assert rollout["failures"] == 2 and sorted(rollout["lost"]) == HOSTS[:2]
    assert outcome["rollouts"]["web"] == "running" and rollout["wave"] == 1
    lost = {e["host"]: e["message"] for e in events_of("web", "host.lost")}
    assert "no report within deploy_timeout" in lost[HOSTS[0]]
    assert "silent" in lost[HOSTS[1]]
    assert HOSTS[2] in rollout["silent"]    # polled once, then silent: shown, not counted
    assert not events_of("web", "host.failed")


def test_a_lost_lease_names_a_day_long_deploy_timeout(api, fleet):
    """Bug fixed: the message used ``timedelta.seconds``, so 86400 s read "(0s)"."""
    create(api, HOSTS[:1], rollout={"waves": ["100%"], "deploy_timeout": 86400})
    tick()
    fleet.hung.add(HOSTS[0])
    fleet.round(HOSTS[:1])
    tick(86401)
    [lost] = events_of("web", "host.lost")
    assert "no report within deploy_timeout (86400s) of the lease" in lost["message"]


def test_two_ticks_at_once_never_double_advance(api, fleet):
    create(api, HOSTS, rollout={"waves": [1, 2, 3, "100%"], "canary_hosts": HOSTS[:6]})
    tick()
    for _ in range(3):
        fleet.round(HOSTS[:6])
        outcomes = []
        threads = [threading.Thread(target=lambda: outcomes.append(tick())) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(outcomes) == 4
    started = [e["detail"]["wave"] for e in events_of("web", "rollout.wave_started")]
    assert sorted(started) == [0, 1, 2, 3]


def test_max_parallel_bounds_the_hosts_in_flight_of_a_wave(api, fleet):
    hosts = HOSTS[:6]
    create(api, hosts, rollout={"waves": ["100%"], "max_parallel": 2})
    tick()
    rounds = []
    for _ in range(4):
        rounds.append(len(fleet.round(hosts)))
        tick()
    assert rounds == [2, 2, 2, 0]               # never more than two deploys handed out at once
    assert rollout_of(api)["state"] == "succeeded"
    assert len(fleet.at("1.0.0")) == 6
