"""Wave planning (``chalicelib.rollout.plan``): pure functions, no emulator needed."""
import types

import pytest

from chalicelib.rollout import plan
from tests.support.fleet import FLEET_HOSTS as HOSTS, hosts_named


@pytest.mark.parametrize("spec, total, size", [
    (1, 200, 1), (250, 200, 200), (3, 0, 0),        # counts, capped at the fleet
    ("10%", 200, 20), ("1%", 10, 1), ("15%", 10, 2),  # percentages round up
    ("100%", 7, 7), ("50%", 0, 0),
])
def test_wave_size_is_a_count_or_a_share_rounded_up(spec, total, size):
    assert plan.wave_size(spec, total) == size


@pytest.mark.parametrize("waves, count, sizes", [
    ([1, "10%", "50%", "100%"], 200, [1, 19, 80, 100]),
    ([2, "10%", "50%", "100%"], 200, [2, 18, 80, 100]),
    (["1%", "2%", "100%"], 10, [1, 9]),          # 1% and 2% of 10 both round up to 1 host
    ([5, "100%"], 3, [3]),                        # a count larger than the fleet
    (["100%"], 0, []),
    ([1, 2, "50%"], 10, [1, 1, 3, 5]),            # hosts past the last spec form a last wave
])
def test_wave_sizes_are_cumulative_and_skip_empty_waves(waves, count, sizes):
    waves_planned = plan.plan_waves("web", hosts_named("h", count), [], waves)
    assert [len(w) for w in waves_planned] == sizes
    assert sorted(h for w in waves_planned for h in w) == sorted(hosts_named("h", count))


def test_canaries_go_first_then_a_stable_hash_order():
    canaries = [HOSTS[90], HOSTS[7]]
    first = plan.plan_waves("web", HOSTS, canaries, [2, "10%", "100%"])
    again = plan.plan_waves("web", list(reversed(HOSTS)), canaries, [2, "10%", "100%"])
    assert first[0] == canaries
    assert first == again
    assert first[1] != sorted(first[1])  # hashed, not alphabetical


@pytest.mark.parametrize("hosts, canaries, expected_first", [
    (["a", "b", "c"], ["c", "a"], ["c", "a"]),    # canaries as listed, not as the hosts are
    (["a", "b", "c"], ["x", "b"], ["b"]),         # a canary that is not a host is ignored
    (["a", "b", "c"], [], []),
])
def test_order_hosts_puts_the_listed_canaries_first(hosts, canaries, expected_first):
    ordered = plan.order_hosts("web", hosts, canaries)
    assert ordered[:len(expected_first)] == expected_first
    assert sorted(ordered) == sorted(hosts)
    rest = ordered[len(expected_first):]
    assert rest == sorted(rest, key=lambda h: plan.hash_key("web", h))


def test_the_hash_order_depends_on_the_project():
    assert plan.order_hosts("web", HOSTS) == plan.order_hosts("web", list(reversed(HOSTS)))
    assert plan.order_hosts("web", HOSTS) != plan.order_hosts("db", HOSTS)


@pytest.mark.parametrize("spec, total, allowed", [(0, 200, 0), (3, 200, 3), ("5%", 200, 10),
                                                  ("5%", 10, 0), ("50%", 3, 1), (None, 10, 0)])
def test_max_failures_is_a_count_or_a_share_of_the_hosts(spec, total, allowed):
    assert plan.allowed_failures(spec, total) == allowed


def test_wave_counts_count_host_items_by_wave_and_status():
    item = lambda wave, status: types.SimpleNamespace(wave=wave, status=status)  # noqa: E731
    items = [item(0, "succeeded"), item(0, "succeeded"), item(1, "failed"), item(1, "pending")]
    assert plan.wave_counts(items) == {0: {"succeeded": 2}, 1: {"failed": 1, "pending": 1}}
    assert plan.wave_counts([]) == {}


# --- zone-aware waves (rollout.zones) ---------------------------------------------------------

ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def _zoned(count, zones=ZONES):
    """``count`` hosts dealt over ``zones`` in turn: ``(hosts, {host: zone})``."""
    hosts = hosts_named("z", count)
    return hosts, {h: zones[i % len(zones)] for i, h in enumerate(hosts)}


def _per_zone(wave, zone_of):
    counts = {}
    for host in wave:
        counts[zone_of.get(host)] = counts.get(zone_of.get(host), 0) + 1
    return counts


@pytest.mark.parametrize("count, waves, sizes", [
    (30, [1, "10%", "50%", "100%"], [1, 2, 12, 15]),
    (31, ["10%", "50%", "100%"], [4, 12, 15]),
    (300, [3, "25%", "100%"], [3, 72, 225]),
    (7, [2, "100%"], [2, 5]),
])
def test_spread_fills_every_wave_evenly_across_three_zones(count, waves, sizes):
    hosts, zone_of = _zoned(count)
    planned = plan.plan_waves("web", hosts, [], waves, zones=zone_of, zone_mode="spread")
    assert [len(w) for w in planned] == sizes  # the same sizes as without zones
    assert sorted(h for w in planned for h in w) == sorted(hosts)
    for wave in planned:
        counts = [_per_zone(wave, zone_of).get(z, 0) for z in ZONES]
        assert max(counts) - min(counts) <= 1, (wave, counts)
    # within a zone, hosts keep the stable hash order
    for zone in ZONES:
        in_zone = [h for w in planned for h in w if zone_of[h] == zone]
        assert in_zone == sorted(in_zone, key=lambda h: plan.hash_key("web", h))


def test_spread_keeps_the_canaries_first_and_fills_their_wave_from_the_other_zones():
    hosts, zone_of = _zoned(30)
    canaries = [hosts[0], hosts[3]]  # both in us-east-1a
    planned = plan.plan_waves("web", hosts, canaries, [3, "40%", "100%"], zones=zone_of,
                              zone_mode="spread")
    assert [len(w) for w in planned] == [3, 9, 18]
    assert planned[0][:2] == canaries
    assert _per_zone(planned[0], zone_of) == {"us-east-1a": 2, "us-east-1b": 1}
    assert _per_zone(planned[1], zone_of) == {"us-east-1a": 3, "us-east-1b": 3, "us-east-1c": 3}
    # the last wave takes what is left of each zone
    assert _per_zone(planned[2], zone_of) == {"us-east-1a": 5, "us-east-1b": 6, "us-east-1c": 7}


def test_spread_is_stable_whatever_order_the_hosts_come_in():
    hosts, zone_of = _zoned(60)
    one = plan.plan_waves("web", hosts, [hosts[5]], [1, "20%", "100%"], zones=zone_of,
                          zone_mode="spread")
    two = plan.plan_waves("web", list(reversed(hosts)), [hosts[5]], [1, "20%", "100%"],
                          zones=dict(reversed(list(zone_of.items()))), zone_mode="spread")
    assert one == two


def test_spread_over_unequal_zones_runs_the_small_zone_out_then_spreads_over_the_rest():
    hosts = hosts_named("u", 22)
    zone_of = {h: ("a" if i < 10 else "b" if i < 20 else "c") for i, h in enumerate(hosts)}
    planned = plan.plan_waves("web", hosts, [], [6, "100%"], zones=zone_of, zone_mode="spread")
    assert [_per_zone(w, zone_of) for w in planned] == [{"a": 2, "b": 2, "c": 2},
                                                        {"a": 8, "b": 8}]


def test_one_at_a_time_finishes_a_zone_before_the_next_and_no_wave_spans_two():
    hosts, zone_of = _zoned(30)
    planned = plan.plan_waves("web", hosts, [], [1, "10%", "50%", "100%"], zones=zone_of,
                              zone_mode="one_at_a_time")
    # specs 1, 3, 15, 30 cut at the zone ends (10, 20): 1 | 2 | 7, 5 | 5, 10
    assert [len(w) for w in planned] == [1, 2, 7, 5, 5, 10]
    assert [set(_per_zone(w, zone_of)) for w in planned] == [
        {"us-east-1a"}, {"us-east-1a"}, {"us-east-1a"}, {"us-east-1b"}, {"us-east-1b"},
        {"us-east-1c"}]
    assert sorted(h for w in planned for h in w) == sorted(hosts)


def test_one_at_a_time_starts_with_the_canaries_zone_and_keeps_them_first():
    hosts, zone_of = _zoned(30)
    canary = hosts[2]  # us-east-1c
    planned = plan.plan_waves("web", hosts, [canary], [1, "50%", "100%"], zones=zone_of,
                              zone_mode="one_at_a_time")
    assert planned[0] == [canary]
    order = [zone_of[w[0]] for w in planned]
    assert order == ["us-east-1c", "us-east-1c", "us-east-1a", "us-east-1a", "us-east-1b"]
    assert [len(w) for w in planned] == [1, 9, 5, 5, 10]
    for wave in planned:
        assert len(_per_zone(wave, zone_of)) == 1


def test_canaries_in_two_zones_each_get_a_wave_of_their_own():
    hosts, zone_of = _zoned(12)
    canaries = [hosts[1], hosts[0]]  # 1b, then 1a
    planned = plan.plan_waves("web", hosts, canaries, [2, "100%"], zones=zone_of,
                              zone_mode="one_at_a_time")
    assert planned[:2] == [[hosts[1]], [hosts[0]]]
    # then zone after zone: the canaries' zones in the canaries' order, then the others by name
    assert [zone_of[w[0]] for w in planned[2:]] == ["us-east-1b", "us-east-1a", "us-east-1c"]
    assert [len(w) for w in planned] == [1, 1, 3, 3, 4]


def test_hosts_without_a_zone_are_a_group_of_their_own_and_come_last():
    hosts, zone_of = _zoned(12, zones=("a", "b"))
    loose = hosts_named("loose", 4)
    planned = plan.plan_waves("web", hosts + loose, [], ["100%"], zones=zone_of,
                              zone_mode="one_at_a_time")
    assert [len(w) for w in planned] == [6, 6, 4]
    assert set(planned[-1]) == set(loose)
    spread = plan.plan_waves("web", hosts + loose, [], ["50%", "100%"], zones=zone_of,
                             zone_mode="spread")
    assert [_per_zone(w, zone_of) for w in spread] == [{"a": 3, "b": 3, None: 2}] * 2


def test_without_zones_or_a_mode_the_plan_is_the_plain_one():
    hosts, zone_of = _zoned(40)
    plain = plan.plan_waves("web", hosts, [hosts[7]], [1, "25%", "100%"])
    assert plan.plan_waves("web", hosts, [hosts[7]], [1, "25%", "100%"], zones=zone_of) == plain
    for mode in ("spread", "one_at_a_time"):
        assert plan.plan_waves("web", hosts, [hosts[7]], [1, "25%", "100%"], zones={},
                               zone_mode=mode) == plain
        # one zone for everyone: the hash order, cut the same way
        assert plan.plan_waves("web", hosts, [hosts[7]], [1, "25%", "100%"],
                               zones={h: "a" for h in hosts}, zone_mode=mode) == plain
    with pytest.raises(ValueError, match="rollout.zones"):
        plan.plan_waves("web", hosts, [], ["100%"], zones=zone_of, zone_mode="random")


def test_one_at_a_time_never_plans_more_than_max_waves():
    from chalicelib.projects.schema import MAX_WAVES
    hosts = hosts_named("m", 200)
    zone_of = {h: f"zone-{i % 8}" for i, h in enumerate(hosts)}
    specs = [f"{p}%" for p in range(5, 101, 5)]  # 20 waves of 10 hosts, 8 zones of 25
    planned = plan.plan_waves("web", hosts, [], specs, zones=zone_of, zone_mode="one_at_a_time")
    assert len(planned) == MAX_WAVES
    assert sorted(h for w in planned for h in w) == sorted(hosts)
    assert all(len(_per_zone(w, zone_of)) == 1 for w in planned)  # merged within zones only
    many = {h: f"zone-{i % 30}" for i, h in enumerate(hosts)}  # more zones than waves allowed
    planned = plan.plan_waves("web", hosts, [], ["100%"], zones=many, zone_mode="one_at_a_time")
    assert len(planned) == MAX_WAVES
    assert [len(_per_zone(w, many)) for w in planned] == [1] * (MAX_WAVES - 1) + [11]
