"""The field validators: host names, Debian dependencies, project dependencies, sources, times."""
import pytest

from chalicelib import versions
from chalicelib.errors import ValidationError
from chalicelib.projects import fields, hostlist, validation
from chalicelib.projects.checks import Errors
from tests.conftest import base_project

RFC_1123 = "must be an RFC 1123 host name (letters, digits, '-' and '.', labels of 1-63)"


@pytest.mark.parametrize("name,problem", [
    ("web-1.example.com", None),
    ("a", None),
    ("10.0.0.1", None),
    ("a" * 63 + ".example.com", None),
    (7, "must be a string"),
    (None, "must be a string"),
    ("project", "'project' is reserved by the API and cannot be a host name"),
    ("health", "'health' is reserved by the API and cannot be a host name"),
    ("Web-1", "host names are lowercase"),
    ("", RFC_1123),
    ("a" * 64, RFC_1123),
    ("x." * 127 + "ab", RFC_1123),  # 256 characters
    ("web_1", RFC_1123),
    ("-web", RFC_1123),
    ("web..example.com", RFC_1123),
    ("web.example.com.", RFC_1123),
])
def test_host_name_problem(name, problem):
    assert fields.host_name_problem(name) == problem


@pytest.mark.parametrize("dep,parsed", [
    ("nginx", [{"name": "nginx"}]),
    ("nginx (>= 1.18)", [{"name": "nginx", "op": ">=", "version": "1.18"}]),
    ("libssl3 (<< 3.1~rc1) | libssl1.1", [{"name": "libssl3", "op": "<<", "version": "3.1~rc1"},
                                         {"name": "libssl1.1"}]),
    ("python3:any (= 1:3.11.2-1)", [{"name": "python3:any", "op": "=", "version": "1:3.11.2-1"}]),
])
def test_debian_dependency_syntax(dep, parsed):
    assert versions.parse_deb_relation(dep) == parsed
    assert validation.validate_project(base_project(deb_dependencies=[dep]))["deb_dependencies"] == [dep]


def test_a_bad_debian_dependency_says_what_is_wrong():
    errors = Errors()
    fields.validate_deb_dependencies(errors, ["nginx", "nginx (=> 1.18)", "Nginx"])
    assert errors.fields == {
        "deb_dependencies[1]": "bad relation in 'nginx (=> 1.18)': the operators are << <= = >= >>",
        "deb_dependencies[2]": "cannot parse 'Nginx': use 'name', 'name (op version)' or 'a | b' "
                               "(package names: lowercase letters, digits, + - .)"}


def test_depends_on_names_each_problem_of_each_entry():
    errors = Errors()
    fields.validate_depends_on(errors, [{"project": "db"}, {"project": "web"}, {"project": "db"},
                                        {"project": "Cache", "version": "about 2"}, "db"], "web")
    assert errors.fields == {
        "depends_on[1].project": "dependency cycle: web -> web",
        "depends_on[2].project": "duplicate dependency on db",
        "depends_on[3].project": "must be the name of a project",
        "depends_on[3].version": "bad clause 'about 2': use an operator (>=, <=, ==, !=, >, <) and a version",
        "depends_on[4]": "must be an object {project, version}"}


@pytest.mark.parametrize("local,accepted", [(True, True), (False, False)])
def test_file_git_sources_are_for_the_local_stage_only(local, accepted):
    errors = Errors()
    fields.validate_source(errors, {"type": "git", "url": "file:///srv/repo.git"}, local)
    assert (errors.fields == {}) is accepted


def test_times_must_be_utc_with_a_zone():
    errors = Errors()
    fields.validate_time(errors, "deploy_at", "2026-12-01T09:30:00Z")
    fields.validate_time(errors, "apply_at", "2026-12-01T09:30:00")
    assert errors.fields == {"apply_at": "needs a time zone: end it with Z (UTC)"}


def test_a_script_over_64_kb_of_utf8_is_too_long_even_under_64_k_characters():
    errors = Errors()
    fields.validate_scripts(errors, {"start": "é" * (40 * 1024), "stop": None})
    assert errors.fields == {"scripts.start": "is too long (at most 64 KB)"}


def test_hosts_name_the_first_place_of_a_duplicate():
    with pytest.raises(ValidationError) as caught:
        validation.validate_project(base_project(hosts=["a.example.com", "b.example.com", "a.example.com"]))
    assert caught.value.fields == {"hosts[2]": "duplicate host a.example.com (also hosts[0])"}


def test_a_listed_host_may_carry_its_zone_and_duplicates_count_by_name():
    hosts = [{"name": "a.example.com", "zone": "us-east-1a"}, "b.example.com"]
    validation.validate_project(base_project(hosts=hosts))
    assert hostlist.names({"hosts": hosts}) == ["a.example.com", "b.example.com"]
    assert hostlist.zones({"hosts": hosts}) == {"a.example.com": "us-east-1a"}
    with pytest.raises(ValidationError) as caught:
        validation.validate_project(base_project(hosts=hosts + [{"name": "a.example.com"}]))
    assert caught.value.fields == {"hosts[2]": "duplicate host a.example.com (also hosts[0])"}
