"""Rolling back through the API: past ``max_failures`` the rollout sends its hosts back at once."""
from tests.support.fleet import FLEET_HOSTS as HOSTS, create, events_of, put, rollout_of, tick


def _two_versions(api, fleet, v2_rollout, canaries=10):
    """v1 rolled out on the first ``canaries`` hosts; then v2 on all 100, canaries first."""
    early = HOSTS[:canaries]
    create(api, early)
    tick()
    fleet.round(early)
    assert tick()["rollouts"]["web"] == "succeeded"
    put(api, version="2.0.0", hosts=HOSTS, rollout=dict({"canary_hosts": early}, **v2_rollout))
    tick()
    return early


def test_a_failure_in_wave_1_halts_and_rolls_back_all_at_once(api, fleet):
    early = _two_versions(api, fleet, {"waves": [2, "10%", "50%", "100%"], "max_failures": 0,
                                       "bake_seconds": 0})
    fleet.round(early)                      # wave 0: the two canaries succeed
    tick()
    fleet.fail[early[5]] = "post-deploy"    # one host of wave 1 fails its check
    fleet.round(early)
    assert tick()["rollouts"]["web"] == "rolling_back"
    rollout = rollout_of(api)
    assert rollout["rollback_to"] == "1.0.0"
    assert "max_failures" in rollout["reason"]
    handed = fleet.round(HOSTS[:20])        # one round: every deployed host rolls back at once
    kinds = {kind for _, item in handed for kind in [item["kind"]]}
    assert kinds == {"rollback"}
    assert len(handed) == 9                 # 2 canaries + 7 good hosts of wave 1, not the failed
    assert tick()["rollouts"]["web"] == "rolled_back"
    assert fleet.at("1.0.0") == early
    assert not [h for h, p, v, k, _ in fleet.handed if v == "2.0.0" and h not in early]
    assert len(events_of("web", "rollout.rolled_back")) == 1
    assert len(events_of("web", "rollout.wave_started")) == 3  # v1's wave, v2's waves 0 and 1
    rows = api.get("/api/v1/project/web").json["hosts_view"]["hosts"]
    assert not [r for r in rows if r["status"] == "waiting"]  # the unreleased waves stand down
    assert {r["target_version"] for r in rows if r["host"] not in early[:2] + [early[5]]} == {"1.0.0"}
