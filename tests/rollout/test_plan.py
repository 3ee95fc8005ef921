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
