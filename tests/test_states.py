"""The console reads every state name from ``chalicelib/states.py``, and labels, styles and counts
each one.

``web/src/js/states.js`` is generated (``python -m chalicelib.states > web/src/js/states.js``) and
must equal what the module renders now; ``web/src/js/status.js`` (pure data, loaded here in Node)
says what the console makes of each state: its badge tone, how the progress bars count it, which
controls it enables; ``web/src/js/labels.js`` gives each one the words an operator reads. A state
added to ``chalicelib/states.py`` fails here until the console knows how to show it.
"""
import enum
import functools
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from chalicelib import states
from chalicelib.states import HostStatus, ReleaseState, RolloutState
from tests.conftest import ROOT

JS = pathlib.Path(ROOT, "web", "src", "js")
CSS = pathlib.Path(ROOT, "web", "src", "css", "console.css").read_text()
ENUMS = {"HostStatus": HostStatus, "RolloutState": RolloutState, "ReleaseState": ReleaseState,
         "ReportStatus": states.ReportStatus, "Phase": states.Phase,
         "DeployKind": states.DeployKind}
#: Words the console shows in badges that are not states of the API.
CONSOLE_WORDS = {"none", "drift", "silent"}
SHOWN = set(HostStatus) | set(RolloutState) | set(ReleaseState)
#: Every word a badge may carry: the states above, phase report statuses, a host not planned yet.
TONED = SHOWN | set(states.ReportStatus) | {states.HOST_UNKNOWN}


@functools.cache
def _exports(module: str) -> dict:
    """Every export of a console module but its functions, evaluated by Node, as JSON."""
    if not shutil.which("node"):
        if os.environ.get("CI"):
            pytest.fail("node is not on PATH (required in CI)")
        pytest.skip("node is not on PATH: the console's tables cannot be evaluated")
    script = ("const m = await import(process.argv[1]);"
              "process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(m)"
              ".filter(([, v]) => typeof v !== 'function'))));")
    done = subprocess.run(["node", "--input-type=module", "-e", script,
                           (JS / module).as_uri()],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _status_js() -> dict:
    return _exports("status.js")


def _call(module: str, function: str, *args: str) -> str:
    """``module.function(*args)`` in Node, as text."""
    _status_js()  # skips without node
    script = ("const m = await import(process.argv[1]);"
              f"process.stdout.write(String(m.{function}(...process.argv.slice(2))));")
    return subprocess.run(["node", "--input-type=module", "-e", script, (JS / module).as_uri(),
                           *args], capture_output=True, text=True, timeout=60, check=True).stdout


def _badge_tone(word: str) -> str:
    return _call("status.js", "toneOf", word)


def test_the_committed_states_js_is_the_generated_one():
    committed = (JS / "states.js").read_text()
    assert committed == states.console_module(), (
        "web/src/js/states.js is stale: run `python -m chalicelib.states > web/src/js/states.js`")


def test_every_enumeration_and_group_of_states_py_reaches_the_console():
    names = vars(states)
    enums = {name for name, value in names.items()
             if isinstance(value, type) and issubclass(value, enum.StrEnum)
             and value is not enum.StrEnum}
    groups = {name for name in names if name.isupper()}
    assert enums | groups == set(states.as_json())
    text = (JS / "states.js").read_text()
    for name, values in states.as_json().items():
        assert f"export const {name} = Object.freeze({json.dumps(values)});" in text


def test_the_console_names_each_member_as_python_does():
    tables = _status_js()
    for name in ("HostStatus", "RolloutState", "ReleaseState", "ReportStatus"):
        assert tables[name] == {m.name: m.value for m in ENUMS[name]}, name


def test_every_member_the_console_spells_exists():
    used = set()
    for path in JS.rglob("*.js"):
        for enum, member in re.findall(r"\b(HostStatus|RolloutState|ReleaseState|ReportStatus|"
                                       r"Phase|DeployKind)\.([A-Z_]+)\b", path.read_text()):
            assert member in ENUMS[enum].__members__, f"{path.name}: {enum}.{member}"
            used.add(f"{enum}.{member}")
    assert {"RolloutState.RUNNING", "RolloutState.HALTED", "ReleaseState.READY"} <= used


def test_no_state_is_spelled_as_a_literal_outside_the_generated_module():
    # "pending" is also a project field (a scheduled update), so it may appear quoted.
    words = sorted(SHOWN - {"pending"})
    alternatives = "|".join(map(re.escape, words))
    literal = re.compile(rf"(?<![=\w])(['\"`])({alternatives})\1")
    found = [f"{path.relative_to(JS)}: {match.group(0)}"
             for path in JS.rglob("*.js") if path.name != "states.js"
             for match in literal.finditer(path.read_text())]
    assert found == []


def test_every_host_rollout_and_release_state_has_exactly_one_badge_tone():
    tones = _status_js()["BADGE_TONES"]
    for state in TONED:
        holders = [tone for tone, words in tones.items() if state in words]
        assert len(holders) == 1, (state, holders)
    listed = {word for words in tones.values() for word in words}
    assert listed - TONED == CONSOLE_WORDS      # no stale word, no unknown word
    assert (set(tones["bad"]) >= {"failed", "lost", "halted", "interrupted"}
            and set(tones["good"]) >= {"succeeded", "ready", "ok"})


def test_skipped_is_never_styled_as_a_failure():
    # a host already at its target, or a phase with nothing to do, went well
    assert _badge_tone(HostStatus.SKIPPED) in ("good", "neutral")
    assert _badge_tone(states.ReportStatus.SKIPPED) in ("good", "neutral")
    tones = _status_js()["BADGE_TONES"]
    assert not set(tones["bad"]) & set(states.REPORT_WENT_WELL)
    assert set(states.REPORT_WENT_WRONG) <= set(tones["bad"])


def test_every_state_has_a_human_label():
    labels = _exports("labels.js")["LABELS"]
    enums = {**ENUMS, "HostStatus": [*HostStatus, states.HOST_UNKNOWN],
             "RolloutState": [*RolloutState, "none"]}      # "none": before the first rollout
    for name, members in enums.items():
        table = labels[name]
        assert set(table) == {str(m) for m in members}, name
        assert len(set(table.values())) == len(table), f"{name}: two states read the same"
        for value, label in table.items():
            assert label and "_" not in label and label != value, (name, value, label)
    assert labels["RolloutState"]["rolled_back"] == "Rolled back"
    assert labels["RolloutState"]["waiting_release"] == "Waiting for release"
    assert set(labels["Flag"]) == {"drift", "silent"}


@pytest.mark.parametrize("actor, name", [
    ("arn:aws:iam::123456789012:user/fabu-admin", "fabu-admin"),
    ("arn:aws:iam::123456789012:user/ops/alice", "alice"),
    ("arn:aws:sts::123456789012:assumed-role/fabu-console-operators/bob@example.com", "bob@example.com"),
    ("fabu:scheduler", "fabu:scheduler"),
])
def test_actors_are_shown_by_the_last_segment_of_their_arn(actor, name):
    assert _call("labels.js", "actorName", actor) == name


def test_the_badge_of_a_state_carries_its_tone():
    assert _badge_tone(RolloutState.RUNNING) == "busy"
    assert _badge_tone(HostStatus.LOST) == "bad"
    assert _badge_tone(RolloutState.CANCELLED) == "neutral"
    assert _badge_tone("no-such-state") == "neutral"


def test_every_tone_is_styled_and_no_rule_names_a_state():
    tones = _status_js()["BADGE_TONES"]
    styled = set(re.findall(r"\.badge\.([a-z_]+)", CSS))
    assert set(tones) - {"neutral"} <= styled
    assert styled & (SHOWN | CONSOLE_WORDS) == set(), "style tones in status.js, not states in CSS"


def test_progress_bars_count_every_host_status_once():
    progress = {name: set(values) for name, values in _status_js()["PROGRESS"].items()}
    done, failed, busy = progress["done"], progress["failed"], progress["busy"]
    assert not (done & failed or done & busy or failed & busy)
    assert busy == set(states.HOST_IN_FLIGHT)
    assert done | failed == set(states.HOST_DONE)
    assert failed >= set(states.HOST_FAILED) | {HostStatus.ROLLED_BACK}
    # idle and waiting hosts count only towards the total; hosts that left count nowhere
    assert set(HostStatus) - done - failed - busy == {HostStatus.IDLE, HostStatus.WAITING,
                                                      HostStatus.LEFT}


def test_failed_and_lost_hosts_and_drift_and_silence_highlight_their_rows():
    flags = _status_js()["ROW_FLAGS"]
    assert set(flags) == set(states.HOST_FAILED) | {"drift", "silent"}
    for flag in flags:
        assert re.search(rf"tr\.{flag} td", CSS), flag


def test_each_control_is_enabled_in_the_rollout_states_the_api_accepts():
    controls = {name: set(values) for name, values in _status_js()["CONTROL_STATES"].items()}
    r = RolloutState
    assert controls == {
        "promote": {r.RUNNING, r.SCHEDULED, r.WAITING_RELEASE},
        "pause": {r.RUNNING, r.SCHEDULED, r.WAITING_RELEASE},
        "resume": {r.PAUSED, r.HALTED},
        "rollback": set(r) - {r.ROLLING_BACK, r.ROLLED_BACK, r.SUPERSEDED, r.CANCELLED},
    }


def _event_kinds() -> set[str]:
    """Every event kind ``chalicelib/`` records: the literal ones, and those made of a state."""
    literal = re.compile(r"[\"']((?:project|build|artifact|release|rollout|host|gate|report|notify|stage)"
                         r"\.[a-z_]+)[\"']")
    found = {kind for path in pathlib.Path(ROOT, "chalicelib").rglob("*.py")
             for kind in literal.findall(path.read_text())}
    return (found | {f"host.{s}" for s in HostStatus} | {f"host.{s}" for s in states.ReportStatus}
            | {f"rollout.{s}" for s in RolloutState})


def test_every_event_kind_reads_as_words_on_the_timeline():
    kinds = sorted(_event_kinds())
    assert {"rollout.rolled_back", "project.update_cancelled", "host.failed"} <= set(kinds)
    _status_js()  # skips without node
    script = ("const m = await import(process.argv[1]);"
              "process.stdout.write(JSON.stringify(JSON.parse(process.argv[2]).map(m.eventLabel)));")
    labels = json.loads(subprocess.run(
        ["node", "--input-type=module", "-e", script, (JS / "labels.js").as_uri(), json.dumps(kinds)],
        capture_output=True, text=True, timeout=60, check=True).stdout)
    for kind, label in zip(kinds, labels):
        assert label and not re.search(r"[._]", label) and label[0].isupper(), (kind, label)
    named = _exports("labels.js")["EVENT_LABELS"]
    assert named["rollout.rolled_back"] == "Rolled back"
    assert len(set(named.values())) == len(named), "two event kinds read the same"


@pytest.mark.parametrize("text, shown", [
    ("waiting for release 1.0.0 (awaiting_artifact)", "waiting for release 1.0.0 (waiting for CI upload)"),
    ("cannot roll back a rollout that is rolled_back", "cannot roll back a rollout that is rolled back"),
    ("3 hosts in_progress, 1 rollback_pending", "3 hosts deploying, 1 rollback queued"),
    ("bake_seconds must be at most 604800", "bake_seconds must be at most 604800"),   # a field
])
def test_server_text_shows_state_names_as_their_labels(text, shown):
    assert _call("labels.js", "humanize", text) == shown
