"""A four-wave rollout over the 100-host simulated fleet, every host polling every round.

The slowest scenario of the engine's tests, in its own file so that it runs beside them.
"""
from tests.support.fleet import (FLEET_HOSTS as HOSTS, create, events_of, rollout_of, tick,
                                 wave_counts)


def test_four_wave_rollout_reaches_every_host_wave_by_wave(api, fleet):
    create(api, HOSTS, rollout={"waves": [2, "10%", "50%", "100%"], "canary_hosts": [HOSTS[42]]})
    assert rollout_of(api)["state"] == "waiting_release"  # the release was not ready at create
    assert tick()["rollouts"]["web"] == "running"
    sizes = []
    for wave in range(4):
        handed = fleet.round([h for h in HOSTS if h not in fleet.at("1.0.0")])
        sizes.append(len(handed))
        if wave == 0:
            assert HOSTS[42] in [h for h, _ in handed]
        tick()
    assert sizes == [2, 8, 40, 50]
    rollout = rollout_of(api)
    assert rollout["state"] == "succeeded"
    assert wave_counts(rollout) == [{"succeeded": 2}, {"succeeded": 8}, {"succeeded": 40},
                                    {"succeeded": 50}]
    assert len(fleet.at("1.0.0")) == 100
    assert len(events_of("web", "rollout.wave_started")) == 4
    assert len(events_of("web", "rollout.succeeded")) == 1
