"""The console reads the wave field exactly as the API reads ``rollout.waves``.

``web/src/js/waves.js`` (run in Node) and the API's validator (``validate_rollout``) judge the same
inputs for the same host counts: the same waves, the same field errors with the same messages, and
the same host count per wave as the engine plans (``plan.plan_waves``). Then, in the browser, the
form shows what ``1, 50, 100%`` means before saving, saves exactly that, and shows the API's own
errors under the field.
"""
import json
import shutil
import subprocess

import pytest

from chalicelib.projects import schema
from chalicelib.projects.checks import Errors
from chalicelib.projects.rollout_fields import validate_rollout
from chalicelib.rollout import plan
from tests.conftest import ROOT
from tests.web.console import expecting, goto, project, shot

WAVES_JS = f"{ROOT}/web/src/js/waves.js"

TEXTS = [
    "1, 50, 100%", "1,10%,50%,100%", "100%", "", "  ", "50%, 10%", "0, 100%", "abc", "1, 1, 100%",
    "5, 50%", "1 50 100%", "10 %, 100%", "101%", "1.5, 100%", "-1, 100%", "3, 2%, 100%",
    "1, 50, 100", "2, 60%, 3, 100%", "50, 10, 100%", "1, 2%, 100%", "300, 100%", "0%, 100%",
    "100%, 100%", "10%;100%", "007, 100%", "1000%", "1, 50%, 100%, 100%",
    ", ".join(str(i) for i in range(1, 21)) + ", 100%",
    ", ".join(f"{i}%" for i in range(5, 101, 5)),
]
HOST_COUNTS = [0, 1, 3, 10, 600]


def _node(script: str, payload) -> object:
    if not shutil.which("node"):
        pytest.skip("node is not on PATH")
    done = subprocess.run(["node", "--input-type=module", "-e", script, f"file://{WAVES_JS}",
                           json.dumps(payload)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def _console_reads(texts, counts):
    script = """
    const m = await import(process.argv[1]);
    const [texts, counts] = JSON.parse(process.argv[2]);
    const out = texts.map((text) => {
      const waves = m.parseWaves(text);
      return {waves, by: counts.map((n) => ({errors: m.validateWaves(waves, n),
        sizes: Object.keys(m.validateWaves(waves, n)).length ? null : m.planSizes(waves, n).map((w) => w.hosts),
        text: m.describeWaves(waves, n)}))};
    });
    process.stdout.write(JSON.stringify({out, max: m.MAX_WAVES, last: m.LAST_WAVE}));"""
    return _node(script, [texts, counts])


def _api_errors(waves, count):
    errors = Errors()
    validate_rollout(errors, {"waves": waves}, [f"h{i}.example.com" for i in range(count)])
    return {path: message for path, message in errors.fields.items() if path.startswith("rollout.waves")}


def test_the_console_and_the_api_judge_every_wave_list_alike():
    read = _console_reads(TEXTS, HOST_COUNTS)
    assert (read["max"], read["last"]) == (schema.MAX_WAVES, schema.LAST_WAVE)
    for text, result in zip(TEXTS, read["out"]):
        waves = result["waves"]
        for count, mine in zip(HOST_COUNTS, result["by"]):
            assert mine["errors"] == _api_errors(waves, count), (text, count)
            if not mine["errors"] and count:
                planned = plan.plan_waves("p", [f"h{i}" for i in range(count)], [], waves)
                assert mine["sizes"] == [len(w) for w in planned], (text, count)


def test_counts_and_percentages_are_read_as_the_api_means_them():
    read = _console_reads(["1, 50, 100%", "1 50 100%", "10 %, 100%", "abc, 100%"], [600])["out"]
    assert read[0]["waves"] == [1, 50, "100%"]          # 50 is a count, not 50 %
    assert read[1]["waves"] == [1, 50, "100%"]
    assert read[2]["waves"] == ["10%", "100%"]
    assert read[3]["waves"] == ["abc", "100%"]          # sent as typed: the API names the problem
    assert read[0]["by"][0]["sizes"] == [1, 49, 550]
    assert read[0]["by"][0]["text"] == "3 waves: 1 host, then 50 hosts, then all 600 hosts."
    assert read[3]["by"][0]["errors"] == {"rollout.waves[0]": "a percentage must look like '10%' (1-100)"}


def test_the_form_previews_saves_and_explains_the_waves(page, live):
    expect = expecting()
    goto(page, "new")
    page.get_by_label("Name").fill("web")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_label("Hosts", exact=True).fill("\n".join(f"web-{i}.example.com" for i in range(1, 101)))
    waves = page.get_by_label("Waves")
    preview = page.locator("#f-rollout-waves-preview")
    waves.fill("1, 50, 100%")
    expect(preview).to_have_text("3 waves: 1 host, then 50 hosts, then all 100 hosts.")
    waves.fill("1, 50, 100")
    expect(preview).to_contain_text("the last wave must be '100%'")
    waves.fill("50%, 10%")
    expect(preview).to_contain_text("must be greater than the previous percentage (50%)")
    shot(page, "waves-preview")

    # what the API says is shown under the field, as the API says it
    page.get_by_role("button", name="Create project").click()
    error = page.locator(".field[data-field='rollout.waves'] .error")
    expect(error).to_contain_text("must be greater than the previous percentage (50%)")
    expect(waves).to_have_attribute("aria-invalid", "true")

    waves.fill("1, 50, 100%")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".header .project-name")).to_have_text("web")
    assert project(live)["rollout"]["settings"]["waves"] == [1, 50, "100%"]
    goto(page, "project/web/edit")
    expect(page.get_by_label("Waves")).to_have_value("1, 50, 100%")
    expect(preview).to_have_text("3 waves: 1 host, then 50 hosts, then all 100 hosts.")
