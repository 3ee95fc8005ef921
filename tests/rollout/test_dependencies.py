"""The dependency graph: cycles named from the project being changed, scripts in dependency order."""
import pytest

from chalicelib.rollout import dependencies

STORED = {"b": [{"project": "c"}], "c": [{"project": "a"}], "x": [], "y": [{"project": "x"}]}


def _loader(reads):
    def load(project):
        reads.append(project)
        return STORED.get(project)
    return load


@pytest.mark.parametrize("deps, cycle", [
    ([{"project": "b"}], ["a", "b", "c", "a"]),
    ([{"project": "y"}], None),
    ([{"project": "x"}, {"project": "y"}], None),
    ([], None),
])
def test_a_cycle_is_named_starting_from_the_changed_project(deps, cycle):
    assert dependencies.find_cycle("a", deps, _loader([])) == cycle


def test_each_stored_project_is_read_once_however_often_it_is_reached():
    reads = []
    dependencies.find_cycle("z", [{"project": "y"}, {"project": "x"}], _loader(reads))
    assert sorted(reads) == ["x", "y"]


def test_a_project_missing_from_the_store_ends_its_path():
    assert dependencies.find_cycle("a", [{"project": "ghost"}], _loader([])) is None


@pytest.mark.parametrize("names, deps, expected", [
    (["web", "api", "cache", "db"], {"web": ["db", "cache"], "cache": ["db"]},
     ["api", "db", "cache", "web"]),
    (["a", "b", "c"], {}, ["a", "b", "c"]),                    # no edges: as given
    (["app", "lib"], {"app": ["lib", "elsewhere"]}, ["lib", "app"]),  # off-script deps ignored
])
def test_a_script_runs_each_project_after_those_it_depends_on(names, deps, expected):
    assert dependencies.order(names, lambda name: deps.get(name, [])) == expected
