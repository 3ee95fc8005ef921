"""The ``rollout`` settings validator: waves, limits, failure thresholds, canaries."""
import pytest

from chalicelib.projects.checks import Errors
from chalicelib.projects.rollout_fields import validate_rollout

HOSTS = [f"h{i}.example.com" for i in range(20)]


def _problems(rollout, hosts=HOSTS):
    errors = Errors()
    validate_rollout(errors, rollout, hosts)
    return errors.fields


@pytest.mark.parametrize("waves,problems", [
    (["100%"], {}),
    ([1, "10%", "50%", "100%"], {}),
    ([1, 5, "100%"], {}),
    ([5, "10%", "100%"], {"rollout.waves[1]": "reaches fewer hosts (2) than the wave before it (5)"}),
    ([1, "50%"], {"rollout.waves[1]": "the last wave must be '100%'"}),
    (["50%", "10%", "100%"], {"rollout.waves[1]": "must be greater than the previous percentage (50%)"}),
    ([5, 2, "100%"], {"rollout.waves[1]": "must be greater than the previous count (5)"}),
    ([0, "100%"], {"rollout.waves[0]": "a host count must be at least 1"}),
    (["0%", "100%"], {"rollout.waves[0]": "a percentage must look like '10%' (1-100)"}),
    ([1.5, "100%"], {"rollout.waves[0]": "must be a host count (1) or a percentage ('10%')"}),
    ([], {"rollout.waves": "needs at least one wave, ending at '100%'"}),
    ([*range(1, 21), "100%"], {"rollout.waves": "at most 20 waves"}),
])
def test_waves(waves, problems):
    assert _problems({"waves": waves}) == problems


def test_wave_sizes_are_only_compared_when_the_project_has_hosts():
    assert _problems({"waves": [5, "10%", "100%"]}, hosts=None) == {}


@pytest.mark.parametrize("value,problem", [
    (3, None), ("5%", None), ("100%", None),
    (-1, "must be between 0 and 5000"),
    ("101%", "must be a count (0) or a percentage ('5%')"),
    ("5", "must be a count (0) or a percentage ('5%')"),
    (True, "must be a whole number"),
])
def test_max_failures(value, problem):
    assert _problems({"max_failures": value}).get("rollout.max_failures") == problem


def test_limits_flags_mode_and_unknown_settings():
    assert _problems({"deploy_timeout": 59, "keep_releases": 51, "health_timeout": 3600,
                      "auto_rollback": 1, "rollback_mode": "waves", "pace": "slow"}) == {
        "rollout.deploy_timeout": "must be between 60 and 86400",
        "rollout.keep_releases": "must be between 2 and 50",
        "rollout.auto_rollback": "must be true or false",
        "rollout.pace": "unknown field"}


def test_canaries_must_be_distinct_hosts_of_the_project():
    assert _problems({"canary_hosts": ["h1.example.com", "h1.example.com", "x.example.com"]}) == {
        "rollout.canary_hosts[2]": "is not one of the project's hosts",
        "rollout.canary_hosts": "lists a host twice"}


@pytest.mark.parametrize("value,problem", [
    ("spread", None), ("one_at_a_time", None), (None, None),
    ("round_robin", "must be 'spread' (each wave across the zones), 'one_at_a_time' (zone after "
                    "zone) or null"),
    (["spread"], "must be 'spread' (each wave across the zones), 'one_at_a_time' (zone after "
                 "zone) or null"),
])
def test_zones_is_a_zone_mode_or_null(value, problem):
    assert _problems({"zones": value}) == ({"rollout.zones": problem} if problem else {})
