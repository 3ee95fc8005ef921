"""The console reads every state name from ``chalicelib/states.py``, and styles and counts each one.

``web/src/js/states.js`` is generated (``python -m chalicelib.states > web/src/js/states.js``) and
must equal what the module renders now; ``web/src/js/status.js`` (pure data, loaded here in Node)
says what the console makes of each state: its badge tone, how the progress bars count it, which
controls it enables. A state added to ``chalicelib/states.py`` fails here until the console
knows how to show it.
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


@functools.cache
def _status_js() -> dict:
    """Every export of ``status.js``, evaluated by Node, as JSON."""
    if not shutil.which("node"):
        if os.environ.get("CI"):
            pytest.fail("node is not on PATH (required in CI)")
        pytest.skip("node is not on PATH: the console's tables cannot be evaluated")
    script = ("const m = await import(process.argv[1]);"
              "process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(m)"
              ".filter(([, v]) => typeof v !== 'function'))));")
    done = subprocess.run(["node", "--input-type=module", "-e", script,
                           (JS / "status.js").as_uri()],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _badge_tone(word: str) -> str:
    _status_js()  # skips without node
    script = ("const m = await import(process.argv[1]);"
              "process.stdout.write(m.toneOf(process.argv[2]));")
    return subprocess.run(["node", "--input-type=module", "-e", script,
                           (JS / "status.js").as_uri(), word],
                          capture_output=True, text=True, timeout=60, check=True).stdout


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
    assert {"RolloutState.RUNNING", "RolloutState.HALTED", "ReleaseState.READY",
            "ReportStatus.OK"} <= used


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
    for state in SHOWN:
        holders = [tone for tone, words in tones.items() if state in words]
        assert len(holders) == 1, (state, holders)
    listed = {word for words in tones.values() for word in words}
    assert listed - SHOWN == CONSOLE_WORDS      # no stale word, no unknown word
    assert (set(tones["bad"]) >= {"failed", "lost", "halted"}
            and set(tones["good"]) >= {"succeeded", "ready"})


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
    # idle and waiting hosts count only towards the total
    assert set(HostStatus) - done - failed - busy == {HostStatus.IDLE, HostStatus.WAITING}


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
