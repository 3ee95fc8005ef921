"""The generated deploy script (chalicelib/hosts/script.py, templates/deploy.sh.j2 and the bash
library deploy-lib.sh it includes), run as real bash.

Each test renders a script with fixture data and runs it in a sandbox host (``FABU_ROOT`` under a
temp dir, ``dpkg-query``/``dpkg`` shims on ``PATH``) against a fake API on 127.0.0.1 that serves
the tarballs and records the reports.
"""
import base64
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.errors import ValidationError
from chalicelib.hosts.script import (SCRIPT_END_MARKER, parse_deb_dependencies, prepare_context,
                                     render_deploy_script)
from tests.support.hosts import (GENERATED_AT, FakeApi, HostSandbox, deploy_item, entry,
                                 rollback_item, shellcheck)


@pytest.fixture(scope="module")
def api():
    server = FakeApi()
    yield server
    server.close()


_host_counter = iter(range(10**6))


def new_host(tmp_path, api, packages=None):
    """A fresh sandbox host with a name no other test uses (the fake API keys reports by host)."""
    n = next(_host_counter)
    return HostSandbox(tmp_path / f"h{n}", api, f"host-{n}.example.com", packages)


@pytest.fixture
def host(tmp_path, api):
    return new_host(tmp_path, api)


# --- rendering --------------------------------------------------------------------------------

def test_rendered_script_passes_bash_n_and_shellcheck(api):
    items = [
        deploy_item(api, "web", "1.4.0", deb_dependencies=["nginx (>= 1.18)", "libssl3", "gawk | mawk (<< 2)"],
                    scripts={"start": "echo start", "stop": "echo stop", "health": "true"}),
        rollback_item("api", "2.0", reason="it's 'broken' $(really)"),
    ]
    text = render_deploy_script("web-1.example.com", items, generated_at=GENERATED_AT)
    assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0
    result = shellcheck(text)
    assert result.returncode == 0, result.stdout
    assert text.splitlines()[-1] == SCRIPT_END_MARKER


def test_items_keep_the_given_dependency_order(api):
    items = [deploy_item(api, name, "1") for name in ("db", "cache", "web", "api")]
    text = render_deploy_script("h", items, generated_at=GENERATED_AT)
    positions = [text.index(f"P_PROJECT={name}\n") for name in ("db", "cache", "web", "api")]
    assert positions == sorted(positions)


def test_importing_the_module_loads_no_jinja():
    code = ("import sys; import chalicelib.hosts.script; "
            "print(any(m.startswith('jinja2') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("spec, expected", [
    (["libssl3"], [[("libssl3", "", "")]]),
    (["nginx (>= 1.18)"], [[("nginx", "ge", "1.18")]]),
    (["aa | bb (<< 2)"], [[("aa", "", ""), ("bb", "lt", "2")]]),
    (["xx (= 1:2.0-1)", "yy (>> 3~rc1)"], [[("xx", "eq", "1:2.0-1")], [("yy", "gt", "3~rc1")]]),
    (["zz (<= 4)"], [[("zz", "le", "4")]]),
    (["libc6:amd64 (>=2.36)"], [[("libc6:amd64", "ge", "2.36")]]),
])
def test_debian_dependencies_parse_into_dpkg_checks(spec, expected):
    assert parse_deb_dependencies(spec) == expected


def test_parsed_dependencies_are_new_lists_on_every_call():
    first = parse_deb_dependencies(["nginx | apache2 (>= 2.4)"])
    first[0].append(("junk", "", ""))
    assert parse_deb_dependencies(["nginx | apache2 (>= 2.4)"]) == [
        [("nginx", "", ""), ("apache2", "ge", "2.4")]]


@pytest.mark.parametrize("spec", ["", "nginx (~> 1)", "nginx (>= 1.18", "a b", "a | ", "(>= 1)",
                                  # dpkg's deprecated "<" and ">": refused, as the API does
                                  "old (< 5)", "older (> 6)", "nginx, apache2", 5])
def test_malformed_debian_dependency_is_a_validation_error(spec):
    with pytest.raises(ValidationError) as exc:
        parse_deb_dependencies([spec])
    assert "deb_dependencies.0" in exc.value.fields


@pytest.mark.parametrize("field, value", [
    ("project", ""), ("version", None), ("deploy_id", "a\0b"), ("health_timeout", "60"),
    ("keep_releases", -1), ("auto_rollback", None), ("kind", "explode"),
])
def test_unrenderable_item_names_the_field(api, field, value):
    item = deploy_item(api, "web", "1")
    item[field] = value
    if field == "auto_rollback":
        item["artifact"] = None   # a deploy without an artifact is refused too
        field = "artifact"
    with pytest.raises(ValidationError) as exc:
        render_deploy_script("h", [item], generated_at=GENERATED_AT)
    assert any(path.endswith(field) for path in exc.value.fields)


# --- running it -----------------------------------------------------------------------------

def test_successful_deploy_switches_current_and_reports_each_phase(host, api):
    item = deploy_item(api, "web", "1.0", files={"app.txt": "hello\n", "bin/run.sh": "echo run\n"},
                       scripts={"start": 'echo "started $FABU_PROJECT $FABU_VERSION in $PWD"',
                                "test": "test -f app.txt", "health": "true",
                                "pre_deploy": "echo pre", "post_deploy": "echo post"})
    result = host.deploy([item])
    assert result.returncode == 0, result.stderr
    web = host.project_dir("web")
    assert os.readlink(web / "current") == "releases/1.0"
    assert (web / "current" / "app.txt").read_text() == "hello\n"
    assert os.access(web / "current" / "bin" / "run.sh", os.X_OK)
    assert host.current_version("web") == "1.0"
    assert host.phases() == [("pre-deploy", "ok"), ("do-deploy", "ok"), ("post-deploy", "ok")]
    do_deploy = host.reports()[1]
    assert f"started web 1.0 in {web / 'releases' / '1.0'}" in do_deploy["output"]
    assert do_deploy["deploy_id"] == "d-web-1.0" and do_deploy["running_version"] == "1.0"
    assert not (web / ".fabu-inflight").exists()


def test_already_at_target_reports_skipped_and_changes_nothing(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    before = host.snapshot()
    result = host.deploy([deploy_item(api, "web", "1.0", deploy_id="d-again",
                                      scripts={"start": "touch STARTED"})])
    assert result.returncode == 0
    assert host.snapshot() == before
    last = host.reports()[-1]
    assert (last["phase"], last["status"], last["deploy_id"]) == ("pre-deploy", "skipped", "d-again")
    assert "already running 1.0" in last["output"]


def test_failing_start_rolls_back_to_the_previous_release(host, api):
    host.deploy([deploy_item(api, "web", "1.0", scripts={"start": "echo v1 up > ../../up.txt"})])
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"start": "echo boom >&2; exit 7"})])
    assert result.returncode == 1
    assert host.current_version("web") == "1.0"
    assert host.phases()[-3:] == [("pre-deploy", "ok"), ("do-deploy", "failed"), ("rollback", "ok")]
    failed, rollback = host.reports()[-2:]
    assert "boom" in failed["output"] and "start exited with code 7" in failed["output"]
    assert "do-deploy failed: start exited with code 7" in rollback["output"]
    assert rollback["running_version"] == "1.0"
    # the previous release was restarted by its own start script
    assert (host.project_dir("web") / "up.txt").read_text() == "v1 up\n"


def test_failing_test_rolls_back(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"test": "echo nope >&2; false"})])
    assert result.returncode == 1
    assert host.current_version("web") == "1.0"
    assert host.phases()[-2:] == [("post-deploy", "failed"), ("rollback", "ok")]
    assert "nope" in host.reports()[-2]["output"]


def test_without_auto_rollback_a_failed_check_leaves_the_new_release(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"test": "false"},
                                      auto_rollback=False)])
    assert result.returncode == 1
    assert host.current_version("web") == "2.0"
    assert host.phases()[-1] == ("post-deploy", "failed")


def test_health_is_retried_until_it_passes(host, api):
    health = 'n=$(cat ../../tries 2>/dev/null || echo 0); echo $((n+1)) > ../../tries; [ "$n" -ge 2 ]'
    result = host.deploy([deploy_item(api, "web", "1.0", scripts={"health": health},
                                      health_timeout=10, health_interval=0)])
    assert result.returncode == 0, result.stderr
    assert (host.project_dir("web") / "tries").read_text() == "3\n"


def test_health_that_never_passes_fails_after_its_window(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    started = time.monotonic()
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"health": "false"},
                                      health_timeout=1, health_interval=1)])
    assert result.returncode == 1 and time.monotonic() - started < 10
    assert "health did not pass within 1s" in host.reports()[-2]["output"]
    assert host.current_version("web") == "1.0"


@pytest.mark.parametrize("packages, message", [
    ({}, "nginx is not installed"),
    ({"nginx": "1.14.2-2"}, "nginx 1.14.2-2 is installed, needs ge 1.18"),
])
def test_unmet_debian_dependency_fails_pre_deploy_naming_it(tmp_path, api, packages, message):
    host = new_host(tmp_path, api, packages={"libssl3": "3.0.11", **packages})
    result = host.deploy([deploy_item(api, "web", "1.0",
                                      deb_dependencies=["libssl3", "nginx (>= 1.18)"])])
    assert result.returncode == 1
    assert host.phases() == [("pre-deploy", "failed")]
    assert message in host.reports()[0]["output"]
    assert not (host.project_dir("web") / "current").exists()
    assert host.releases("web") == []


def test_alternative_debian_dependency_is_enough(tmp_path, api):
    host = new_host(tmp_path, api, packages={"mawk": "1.3.4"})
    result = host.deploy([deploy_item(api, "web", "1.0", deb_dependencies=["gawk | mawk (>= 1.3)"])])
    assert result.returncode == 0, result.stderr


def test_checksum_mismatch_unpacks_nothing(host, api):
    item = deploy_item(api, "web", "1.0")
    item["artifact"]["sha256"] = hashlib.sha256(b"something else").hexdigest()
    result = host.deploy([item])
    assert result.returncode == 2
    assert host.phases() == [("pre-deploy", "failed")]
    assert "sha256 mismatch" in host.reports()[0]["output"]
    assert host.releases("web") == []
    assert not (host.project_dir("web") / "current").exists()


def test_not_enough_disk_space_fails_pre_deploy(host, api):
    result = host.deploy([deploy_item(api, "web", "1.0", min_free_mb=10**9)])
    assert result.returncode == 2
    assert "not enough free disk space" in host.reports()[0]["output"]


def test_pruning_keeps_the_newest_releases(host, api):
    for version in ("1", "2", "3", "4", "5", "6"):
        assert host.deploy([deploy_item(api, "web", version, keep_releases=3)]).returncode == 0
    assert host.releases("web") == ["4", "5", "6"]
    assert host.current_version("web") == "6"


def test_rollback_item_switches_back_without_downloading(host, api):
    scripts = {"start": 'echo "$FABU_VERSION" > ../../started', "stop": "echo stopping"}
    host.deploy([deploy_item(api, "web", "1.0", scripts=scripts)])
    host.deploy([deploy_item(api, "web", "2.0", scripts=scripts)])
    downloads = len([r for r in api.requests if r[1].startswith("/artifacts/")])
    result = host.deploy([rollback_item("web", "1.0", reason="error rate 12%")])
    assert result.returncode == 0, result.stderr
    assert host.current_version("web") == "1.0"
    assert len([r for r in api.requests if r[1].startswith("/artifacts/")]) == downloads
    report = host.reports()[-1]
    assert (report["phase"], report["status"]) == ("rollback", "ok")
    assert "error rate 12%" in report["output"] and "stopping" in report["output"]
    assert (host.project_dir("web") / "started").read_text() == "1.0\n"


def test_rollback_to_a_release_not_on_disk_fails(host, api):
    host.deploy([deploy_item(api, "web", "2.0")])
    result = host.deploy([rollback_item("web", "0.9")])
    assert result.returncode == 2
    assert host.phases()[-1] == ("rollback", "failed")
    assert host.current_version("web") == "2.0"


def test_a_failure_stops_the_later_projects(host, api):
    items = [deploy_item(api, "db", "1", scripts={"start": "exit 1"}), deploy_item(api, "web", "1")]
    result = host.deploy(items)
    assert result.returncode == 1
    assert {r["project"] for r in host.reports()} == {"db"}
    assert "remaining 1 project(s) stay pending" in result.stderr


def test_interrupted_deploy_is_reported_on_the_next_run(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    flag = host.base / "slow"
    flag.touch()
    slow = deploy_item(api, "web", "2.0", deploy_id="d-killed",
                       scripts={"start": f"if [ -e '{flag}' ]; then sleep 60; fi"})
    path = host.base / "slow.sh"
    path.write_text(host.render([slow]))
    proc = subprocess.Popen(["bash", str(path)], env=host.env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = host.project_dir("web") / ".fabu-inflight"
    deadline = time.monotonic() + 20
    while not (marker.exists() and marker.read_bytes().endswith(b"\0do-deploy\0")):
        assert time.monotonic() < deadline, "the deploy never reached do-deploy"
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, 9)
    proc.wait()
    flag.unlink()
    result = host.deploy([deploy_item(api, "web", "3.0")])
    assert result.returncode == 0, result.stderr
    interrupted = [r for r in host.reports() if r["status"] == "interrupted"]
    assert [(r["deploy_id"], r["phase"], r["version"]) for r in interrupted] == [
        ("d-killed", "do-deploy", "2.0")]
    assert host.current_version("web") == "3.0"
    assert not marker.exists()


def test_output_is_cut_to_the_last_64_kb_and_says_so(host, api):
    script = "head -c 100000 /dev/zero | tr '\\0' a; echo; echo THE-END"
    host.deploy([deploy_item(api, "web", "1.0", scripts={"start": script})])
    report = host.reports()[1]
    assert report["truncated"] is True
    assert report["output"].startswith("[fabu: output cut to its last 65536 of ")
    assert report["output"].endswith("THE-END\n")
    assert len(report["output"].encode()) < 66000


def test_output_json_survives_control_chars_unicode_and_host_messages(host, api):
    script = ("printf 'tab\\there\\r\\n\\001\\037 bell\\a esc\\033[0m \"q\" back\\\\slash\\n'; "
              "echo 'ünïcødé 版本 🚀'; printf '\\xff\\xfe broken\\n'; "
              "echo '::fabu::warn disk at 91%'; echo '::fabu::error   spaced  text'")
    host.deploy([deploy_item(api, "web", "1.0", scripts={"start": script})])
    output = host.reports()[1]["output"]
    assert 'tab\there\r\n\x01\x1f bell\x07 esc\x1b[0m "q" back\\slash\n' in output
    assert "ünïcødé 版本 🚀\n" in output
    assert " broken\n" in output
    assert "\n::fabu::warn disk at 91%\n::fabu::error   spaced  text\n" in output


def test_user_scripts_see_the_fabu_variables_but_not_the_host_keys(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    script = "env | grep -E '^(FABU_(PROJECT|VERSION|PREVIOUS_VERSION|RELEASE_DIR|PHASE)|AWS_)' | sort"
    host.deploy([deploy_item(api, "web", "2.0", scripts={"start": script})])
    output = host.reports()[-2]["output"]
    assert "FABU_PREVIOUS_VERSION=1.0\nFABU_PROJECT=web\n" in output
    assert f"FABU_RELEASE_DIR={host.project_dir('web') / 'releases' / '2.0'}\n" in output
    assert "FABU_PHASE=do-deploy\n" in output and "FABU_VERSION=2.0\n" in output
    assert "AWS_" not in output


def test_a_failed_report_does_not_stop_the_rollback(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    api.report_status[host.host] = 400
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"start": "exit 1"})])
    del api.report_status[host.host]
    assert result.returncode == 1
    assert "could not report do-deploy failed of web 2.0: refused" in result.stderr
    assert host.current_version("web") == "1.0"


# --- a script cut anywhere runs nothing ---------------------------------------------------------

def _cut_points(text):
    """50 prefix lengths: both ends, every region of the file, mid-line, mid-quoted-string, and
    the dangerous ones around the final call of main."""
    end = len(text)
    main_call = text.rindex('main "$@"')
    special = [0, 1, 2, text.index("\n") + 1, text.index("{\n") + 2, text.index("load_item()"),
               text.index("P_SCRIPTS=(") + 20, main_call, main_call + len('main "$@"'),
               main_call + len('main "$@" || exit "$?"'), main_call + len('main "$@" || exit "$?"\n'),
               text.rindex("}\n")]
    step = end // 38
    points = sorted(set(special + [i * step + 7 for i in range(38)]))
    return [p for p in points if p < text.rindex("}\n") + 1][:50]


def test_script_cut_anywhere_runs_no_phase_and_changes_nothing(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    canary = host.base / "STARTED"
    text = host.render([deploy_item(api, "web", "2.0", scripts={"start": f"touch '{canary}'"}),
                        rollback_item("web", "1.0")])
    points = _cut_points(text)
    assert len(points) >= 50 - 2
    before = host.snapshot()
    reports_before = len(host.reports())
    group_start = text.index("\n{\n") + 2
    for point in points:
        result = host.run_script(text[:point])
        # a cut inside the header comment is an empty script; after the `{` a syntax error
        assert result.returncode != 0 or point < group_start, (point, text[point - 40:point])
        assert host.snapshot() == before, point
    assert len(host.reports()) == reports_before
    assert not canary.exists()
    # and the whole script does run
    assert host.run_script(text).returncode == 0 and canary.exists()


# --- nothing a user typed runs as shell code ---------------------------------------------------

CANARY = "CANARY"


def corpus():
    """At least 25 hostile strings; every one would create a file named CANARY (in the cwd of the
    script, or of a user script) if any part of it ran as shell code."""
    c = CANARY
    return [
        f"$(touch {c})", f"`touch {c}`", f"; touch {c}", f"&& touch {c}", f"|| touch {c}",
        f"| touch {c}", f"\ntouch {c}\n", f"'; touch {c}; '", f'"; touch {c}; "',
        f"${{IFS}}touch${{IFS}}{c}", f"$(touch${{IFS}}{c})", f"> {c}", f"x\rtouch {c}",
        f"\t$(touch {c})", f"'\"`touch {c}`\"'", f"\\$(touch {c})", f"$'\\x41'$(touch {c})",
        f"{{a,b}}$(touch {c})", f"-rf $(touch {c})", f"--help;touch {c}",
        f"ünïcødé-版本-🚀 $(touch {c})", f"\u202e$(touch {c})", f"*$(touch {c})*",
        f"#$(touch {c})", f"a{'b' * 10000}$(touch {c})", "*", "..", "-rf", "~root", "$HOME",
        f"%s%n{{{{ '$(touch {c})' }}}}", f"{{% raw %}}$(touch {c})", f"../../$(touch {c})",
    ]


def canaries(tmp_path):
    """Every file named CANARY under the test's temp dir (where every script of the test ran)."""
    return [p for p in tmp_path.rglob("*") if p.name == CANARY]


def test_corpus_is_big_enough_and_the_canary_works(tmp_path):
    assert len(corpus()) >= 25
    subprocess.run(["bash", "-c", corpus()[0]], cwd=tmp_path, check=True)
    assert canaries(tmp_path)


def _in_parallel(function, values):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(function, values))


@pytest.mark.parametrize("field", ["version", "project"])
def test_hostile_version_or_project_runs_nothing(tmp_path, api, field):

    def run(index_value):
        index, value = index_value
        host = new_host(tmp_path, api)
        names = {"project": "web", "version": "1.0", field: value}
        result = host.deploy([deploy_item(api, names["project"], names["version"])])
        statuses = [s for _, s in host.phases()]
        # either deployed under that exact name, or refused/failed cleanly with a report
        if result.returncode == 0:
            assert statuses == ["ok", "ok", "ok"], (value, result.stderr)
            if field == "version":
                assert (host.root / "web" / "releases" / value / ".fabu-version").read_bytes().decode() == value + "\n"
        else:
            assert result.returncode == 2 and statuses == ["failed"], (value, result.stderr)
        assert all(r[field] == value for r in host.reports())
        return result.returncode

    codes = _in_parallel(run, enumerate(corpus()))
    assert not canaries(tmp_path)
    assert codes.count(0) >= 20   # most hostile names are still deployable names


def test_hostile_deploy_id_and_scripts_travel_as_data(tmp_path, api):
    values = corpus()

    def run(chunk):
        host = new_host(tmp_path, api)
        items = []
        for i, value in chunk:
            # each script copies itself, then exits before bash reaches the hostile part
            scripts = {name: f'cp "$0" "$FABU_RELEASE_DIR/copy.$FABU_SCRIPT"; exit 0\n{value}'
                       for name in ("start", "test", "health", "pre_deploy", "post_deploy")}
            items.append(deploy_item(api, f"p{i}", "1", deploy_id=value, scripts=scripts))
        result = host.deploy(items)
        assert result.returncode == 0, result.stderr[-2000:]
        reports = host.reports()
        assert [r["deploy_id"] for r in reports] == [v for _, v in chunk for _ in range(3)]
        for i, value in chunk:
            release = host.root / f"p{i}" / "releases" / "1"
            for name in ("start", "test", "health", "pre_deploy", "post_deploy"):
                copy = (release / f"copy.{name}").read_bytes().decode()
                assert copy == f'cp "$0" "$FABU_RELEASE_DIR/copy.$FABU_SCRIPT"; exit 0\n{value}'

    indexed = list(enumerate(values))
    _in_parallel(run, [indexed[k::4] for k in range(4)])
    assert not canaries(tmp_path)


def test_hostile_rollback_reason_is_reported_verbatim(tmp_path, api):
    host = new_host(tmp_path, api)
    host.deploy([deploy_item(api, "web", "1")])
    host.deploy([deploy_item(api, "web", "2")])
    values = corpus()
    items = [rollback_item("web", "1" if i % 2 == 0 else "2", reason=value, deploy_id=f"r{i}")
             for i, value in enumerate(values)]
    result = host.deploy(items)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not canaries(tmp_path)
    rollbacks = [r for r in host.reports() if r["phase"] == "rollback"]
    assert len(rollbacks) == len(values)
    for report, value in zip(rollbacks, values):
        assert report["status"] == "ok"
        assert f"requested: {value}\n" in report["output"]


@pytest.mark.parametrize("field", ["url", "sha256", "deb_dependencies"])
def test_hostile_url_checksum_or_package_fails_cleanly(tmp_path, api, field):

    def run(value):
        host = new_host(tmp_path, api)
        item = deploy_item(api, "web", "1.0")
        if field == "deb_dependencies":
            item["deb_dependencies"] = [value]
        else:
            item["artifact"][field] = value
        try:
            text = host.render([item])
        except ValidationError:
            return "refused"     # not Debian syntax: the API turns this into a 400
        result = host.deploy([item])
        assert result.returncode in (1, 2) and host.phases() == [("pre-deploy", "failed")], value
        assert not (host.root / "web" / "current").exists()
        assert text
        return "failed"

    hostile = corpus()
    # No hostile string is a Debian relation: the renderer refuses them all (the API does too),
    # so well-formed relations the sandbox host lacks carry the "fails cleanly" half there.
    extra = ["no-such-package (>= 1:2.0~rc1+b1)", "absent-one | absent-two (<< 9)"]
    outcomes = _in_parallel(run, hostile + (extra if field == "deb_dependencies" else []))
    assert not canaries(tmp_path)
    assert "failed" in outcomes
    if field == "deb_dependencies":
        assert outcomes == ["refused"] * len(hostile) + ["failed"] * len(extra)


def test_prepare_context_base64_encodes_user_scripts(api):
    context = prepare_context("h", [deploy_item(api, "web", "1", scripts={"start": "$(x)"})],
                              generated_at=GENERATED_AT)
    scripts = context["items"][0]["scripts"]
    assert base64.b64decode(scripts["start"]) == b"$(x)"
    assert scripts["stop"] == ""


# --- script timeouts ----------------------------------------------------------------------------

def _running(pid):
    """True while process ``pid`` runs (a zombie waiting for its reaper has ended)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rsplit(") ", 1)[1].split()[0] not in ("Z", "X")


def _pids(path):
    return [int(line) for line in path.read_text().split()]


def test_default_timeouts_are_600_seconds_and_an_item_may_set_each(api):
    items = [deploy_item(api, "web", "1"), deploy_item(api, "api", "1", timeouts={"start": 5, "test": 86400})]
    context = prepare_context("h", items, generated_at=GENERATED_AT)
    assert context["items"][0]["timeouts"] == {
        "start": 600, "stop": 600, "test": 600, "pre_deploy": 600, "post_deploy": 600}
    assert context["items"][1]["timeouts"] == {
        "start": 5, "stop": 600, "test": 86400, "pre_deploy": 600, "post_deploy": 600}
    text = render_deploy_script("h", items, generated_at=GENERATED_AT)
    assert "[start]=5\n" in text and "[test]=86400\n" in text


@pytest.mark.parametrize("timeouts, field", [
    ({"health": 5}, "timeouts.health"), ({"start": 0}, "timeouts.start"),
    ({"stop": "60"}, "timeouts.stop"), ({"test": 86401}, "timeouts.test"), ([], "timeouts"),
])
def test_unrenderable_timeout_names_the_field(api, timeouts, field):
    with pytest.raises(ValidationError) as exc:
        render_deploy_script("h", [deploy_item(api, "web", "1", timeouts=timeouts)],
                             generated_at=GENERATED_AT)
    assert f"deploys.0.{field}" in exc.value.fields


HANGING_START = """
sleep 1000 &
echo $! > "$FABU_RELEASE_DIR/../../pids"
bash -c 'sleep 1000 & echo $! >> "$0"; wait' "$FABU_RELEASE_DIR/../../pids" &
echo "started the daemons, now hanging"
sleep 1000
"""


def test_a_hanging_start_times_out_its_group_is_ended_and_the_host_rolls_back(host, api):
    host.deploy([deploy_item(api, "web", "1.0", scripts={"start": "echo v1 > ../../up.txt"})])
    started = time.monotonic()
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"start": HANGING_START},
                                      timeouts={"start": 1})])
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert took < 15
    assert host.phases()[-3:] == [("pre-deploy", "ok"), ("do-deploy", "failed"), ("rollback", "ok")]
    failed, rollback = host.reports()[-2:]
    assert failed["exit_code"] == 124
    assert failed["output"].rstrip("\n").endswith("timed out after 1 s")
    assert "do-deploy failed: start timed out after 1 s" in rollback["output"]
    assert host.current_version("web") == "1.0"
    pids = _pids(host.project_dir("web") / "pids")
    assert len(pids) == 2      # its child and its grandchild: both gone with the group
    assert not [pid for pid in pids if _running(pid)]


def test_a_script_that_ignores_term_is_killed_after_the_grace(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    script = "trap '' TERM\necho $$ > \"$FABU_RELEASE_DIR/../../pids\"\nwhile :; do sleep 0.2; done\n"
    started = time.monotonic()
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"test": script},
                                      timeouts={"test": 1})], FABU_KILL_GRACE="2")
    took = time.monotonic() - started
    assert result.returncode == 1
    assert 3 <= took < 15          # 1 s of time, 2 s of grace, then KILL
    failed = host.reports()[-2]
    assert (failed["phase"], failed["status"], failed["exit_code"]) == ("post-deploy", "failed", 124)
    assert failed["output"].rstrip("\n").endswith("test timed out after 1 s")
    assert host.phases()[-1] == ("rollback", "ok") and host.current_version("web") == "1.0"
    assert not _running(_pids(host.project_dir("web") / "pids")[0])


def test_a_child_that_ignores_term_does_not_outlive_its_timed_out_script(host, api):
    script = ("(trap '' TERM; echo $BASHPID > \"$FABU_RELEASE_DIR/../../pids\"; "
              "while :; do sleep 0.2; done) &\nsleep 1000\n")
    result = host.deploy([deploy_item(api, "web", "1.0", scripts={"pre_deploy": script},
                                      timeouts={"pre_deploy": 1})], FABU_KILL_GRACE="1")
    assert result.returncode == 1
    assert host.phases() == [("pre-deploy", "failed")]
    report = host.reports()[0]
    assert report["exit_code"] == 124
    assert report["output"].rstrip("\n").endswith("pre_deploy timed out after 1 s")
    assert not _running(_pids(host.project_dir("web") / "pids")[0])
    assert not (host.project_dir("web") / "current").exists()


def test_a_script_exiting_124_in_time_is_not_a_timeout(host, api):
    result = host.deploy([deploy_item(api, "web", "1.0", scripts={"start": "exit 124"})])
    assert result.returncode == 1
    failed = host.reports()[1]
    assert (failed["phase"], failed["exit_code"]) == ("do-deploy", 1)
    assert "start exited with code 124" in failed["output"] and "timed out" not in failed["output"]


def test_each_health_attempt_gets_only_what_is_left_of_health_timeout(host, api):
    host.deploy([deploy_item(api, "web", "1.0")])
    started = time.monotonic()
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"health": "sleep 1000"},
                                      health_timeout=2, health_interval=1)])
    assert result.returncode == 1 and time.monotonic() - started < 12
    failed = host.reports()[-2]
    assert (failed["phase"], failed["exit_code"]) == ("post-deploy", 124)
    assert "health did not pass within 2s (1 attempts)" in failed["output"]
    assert failed["output"].rstrip("\n").endswith("timed out after 2 s")
    assert host.current_version("web") == "1.0"


def test_the_rollbacks_stop_and_start_have_their_timeouts_too(host, api):
    flag = host.base / "hang"
    v1 = {"start": f"if [ -e '{flag}' ]; then sleep 1000; fi"}
    host.deploy([deploy_item(api, "web", "1.0", scripts=v1)])
    # the failed release's stop hangs: it is ended, and the rollback goes on
    result = host.deploy([deploy_item(api, "web", "2.0", scripts={"start": "exit 1", "stop": "sleep 1000"},
                                      timeouts={"stop": 1})])
    assert result.returncode == 1
    rollback = host.reports()[-1]
    assert (rollback["phase"], rollback["status"]) == ("rollback", "ok")
    assert "stop of the failed release failed too (stop timed out after 1 s)" in result.stderr
    assert host.current_version("web") == "1.0"
    # the restored release's start hangs: the rollback fails with 124 instead of hanging
    flag.touch()
    started = time.monotonic()
    result = host.deploy([deploy_item(api, "web", "3.0", scripts={"start": "exit 1"},
                                      timeouts={"start": 1})])
    assert result.returncode == 1 and time.monotonic() - started < 15
    rollback = host.reports()[-1]
    assert (rollback["phase"], rollback["status"], rollback["exit_code"]) == ("rollback", "failed", 124)
    assert rollback["output"].rstrip("\n").endswith("start timed out after 1 s")


# --- what a release tarball may hold -------------------------------------------------------------

@pytest.mark.parametrize("hostile, message", [
    (entry("dev/null", "chardev"), 'entry "dev/null" is a character device'),
    (entry("disk", "blockdev"), 'entry "disk" is a block device'),
    (entry("run/pipe", "fifo"), 'entry "run/pipe" is a fifo'),
    (entry("passwd", "hardlink", link="app.txt"), 'entry "passwd" is a hard link to "app.txt"'),
    (entry("config", "symlink", link="/etc/passwd"),
     'entry "config" is a symlink to "/etc/passwd", an absolute path'),
    (entry("up", "symlink", link="../.."), 'entry "up" is a symlink to "../..", out of the release'),
    (entry("lib/deep/x", "symlink", link="../../../etc"),
     'entry "lib/deep/x" is a symlink to "../../../etc", out of the release'),
    (entry("lib/../../evil.txt", data=b"x"), "entry \"lib/../../evil.txt\" has '..' in its name"),
    (entry(".", "symlink", link="/"), 'entry "." is a symlink to "/", an absolute path'),
])
def test_a_hostile_tarball_entry_fails_pre_deploy_naming_it(host, api, hostile, message):
    host.deploy([deploy_item(api, "web", "1.0")])
    before = _without_project_dir(host.snapshot())
    result = host.deploy([deploy_item(api, "web", "2.0", entries=[hostile],
                                      scripts={"pre_deploy": "touch PRE_DEPLOY_RAN"})])
    assert result.returncode == 2
    report = host.reports()[-1]
    assert (report["phase"], report["status"], report["exit_code"]) == ("pre-deploy", "failed", 2)
    assert message in report["output"], report["output"]
    assert "1 entry refused, nothing unpacked" in report["output"]
    assert host.releases("web") == ["1.0"] and host.current_version("web") == "1.0"
    # nothing unpacked, no scripts written, pre_deploy never ran
    assert _without_project_dir(host.snapshot()) == before


def _without_project_dir(snapshot):
    """The tree but the project dir's own entry (its mtime moves with the in-flight marker)."""
    return {path: value for path, value in snapshot.items() if path != "web"}


def test_every_refused_entry_is_counted_and_the_first_ten_named(host, api):
    entries = [entry(f"fifo{i:02d}", "fifo") for i in range(13)]
    result = host.deploy([deploy_item(api, "web", "1.0", entries=entries)])
    assert result.returncode == 2
    output = host.reports()[0]["output"]
    assert 'entry "fifo09" is a fifo' in output and "fifo10" not in output
    assert "... and 3 more refused entries" in output and "13 entries refused" in output


def test_a_chain_of_symlinks_leaving_the_release_is_refused(host, api):
    # each link alone stays inside; b -> a/up/.. resolves to the release's parent
    entries = [entry("a", "dir", mode=0o755), entry("a/up", "symlink", link=".."),
               entry("b", "symlink", link="a/up/..")]
    result = host.deploy([deploy_item(api, "web", "1.0", entries=entries)])
    assert result.returncode == 2
    report = host.reports()[0]
    assert (report["phase"], report["exit_code"]) == ("pre-deploy", 2)
    assert 'symlink "b" resolves out of the release' in report["output"]
    assert host.releases("web") == [] and not list(host.project_dir("web").glob(".unpack-*"))


def test_unpacked_release_has_no_setuid_bits_and_nothing_group_or_world_writable(host, api):
    entries = [entry("./", "dir", mode=0o777), entry("bin", "dir", mode=0o2777),
               entry("bin/tool", mode=0o4755, data=b"#!/bin/sh\necho tool\n"),
               entry("bin/shared", mode=0o2666, data=b"x"), entry("tmp", "dir", mode=0o1777),
               entry("node_modules/.bin/tool", "symlink", link="../../bin/tool"),
               entry("config", "symlink", link="bin/./shared")]
    result = host.deploy([deploy_item(api, "web", "1.0", entries=entries, scripts={"start": "true"})])
    assert result.returncode == 0, result.stderr
    release = host.project_dir("web") / "releases" / "1.0"
    assert stat.S_IMODE(release.stat().st_mode) == 0o755
    modes = {}
    for path in [release, *release.rglob("*")]:
        if not path.is_symlink():
            info = path.lstat()
            modes[str(path.relative_to(release))] = stat.S_IMODE(info.st_mode)
            assert info.st_uid == os.getuid(), path       # not the archive's 4321
    assert not {p: oct(m) for p, m in modes.items() if m & 0o7022}, modes
    assert modes["bin/tool"] & 0o100     # still executable
    assert os.readlink(release / "node_modules" / ".bin" / "tool") == "../../bin/tool"
    assert (release / "config").read_text() == "x"


def test_user_scripts_live_in_a_root_only_directory_outside_the_release(host, api):
    canary = host.base / "SHIPPED_SCRIPT_RAN"
    result = host.deploy([deploy_item(api, "web", "1.0", scripts={"start": "echo own start"},
                                      files={"app.txt": "x", ".fabu-scripts/start": f"touch '{canary}'",
                                             ".fabu-scripts/stop": f"touch '{canary}'"})])
    assert result.returncode == 0, result.stderr
    web = host.project_dir("web")
    assert not (web / "releases" / "1.0" / ".fabu-scripts").exists()
    scripts = web / ".fabu-scripts"
    for path in (scripts, scripts / "1.0", scripts / "1.0" / "start"):
        info = path.lstat()
        assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid(), path
    assert (scripts / "1.0" / "start").read_text() == "echo own start"
    assert "own start" in host.reports()[1]["output"]
    host.deploy([deploy_item(api, "web", "2.0")])       # 1.0's stop: none of its own
    assert not canary.exists()


def test_the_scripts_of_pruned_releases_go_with_them(host, api):
    for version in ("1", "2", "3", "4"):
        assert host.deploy([deploy_item(api, "web", version, keep_releases=2,
                                        scripts={"stop": "true"})]).returncode == 0
    assert host.releases("web") == ["3", "4"]
    assert sorted(p.name for p in (host.project_dir("web") / ".fabu-scripts").iterdir()) == ["3", "4"]


def test_a_release_from_an_older_agent_is_stopped_by_its_own_scripts(host, api):
    log = host.base / "log"
    host.deploy([deploy_item(api, "web", "1.0", scripts={"stop": f"echo 'stopped 1.0' >> '{log}'"})])
    web = host.project_dir("web")
    # the layout an older fabu left: the scripts inside the release
    shutil.move(web / ".fabu-scripts" / "1.0", web / "releases" / "1.0" / ".fabu-scripts")
    result = host.deploy([deploy_item(api, "web", "2.0")])
    assert result.returncode == 0, result.stderr
    assert log.read_text() == "stopped 1.0\n"
    assert not (web / "releases" / "1.0" / ".fabu-scripts").exists()
    assert (web / ".fabu-scripts" / "1.0" / "stop").exists()


# --- which version a script belongs to (issue 14) ------------------------------------------------

VERSION_LOG = ('echo "$FABU_SCRIPT $FABU_VERSION previous=$FABU_PREVIOUS_VERSION '
               'target=$FABU_TARGET_VERSION dir=${FABU_RELEASE_DIR##*/}" >> "$FABU_RELEASE_DIR/../../log"')


def _version_log(host):
    return (host.project_dir("web") / "log").read_text().splitlines()


def test_during_a_self_rollback_each_script_sees_its_own_release_version(host, api):
    scripts = {"start": VERSION_LOG, "stop": VERSION_LOG}
    host.deploy([deploy_item(api, "web", "1.0", scripts=scripts)])
    result = host.deploy([deploy_item(api, "web", "2.0", scripts=dict(scripts, test="exit 1"))])
    assert result.returncode == 1 and host.current_version("web") == "1.0"
    assert _version_log(host) == [
        "start 1.0 previous= target=1.0 dir=1.0",
        "stop 1.0 previous=1.0 target=2.0 dir=1.0",       # the deploy: 1.0 -> 2.0
        "start 2.0 previous=1.0 target=2.0 dir=2.0",
        "stop 2.0 previous=2.0 target=1.0 dir=2.0",       # the self-rollback: 2.0 -> 1.0
        "start 1.0 previous=2.0 target=1.0 dir=1.0",
    ]


def test_during_a_requested_rollback_each_script_sees_its_own_release_version(host, api):
    scripts = {"start": VERSION_LOG, "stop": VERSION_LOG}
    host.deploy([deploy_item(api, "web", "1.0", scripts=scripts)])
    host.deploy([deploy_item(api, "web", "2.0", scripts=scripts)])
    assert host.deploy([rollback_item("web", "1.0")]).returncode == 0
    assert _version_log(host)[-2:] == [
        "stop 2.0 previous=2.0 target=1.0 dir=2.0",
        "start 1.0 previous=2.0 target=1.0 dir=1.0",
    ]
