"""The deploy script's two halves: the static bash library and the template's data part.

``chalicelib/templates/deploy-lib.sh`` is every script's body, included verbatim by
``deploy.sh.j2``, which adds only data (quoted values and ``load_item``) and the call of main.
"""
import json
import re

from chalicelib.hosts.script import render_deploy_script
from tests.support.hosts import (GENERATED_AT, REPO, FakeApi, deploy_item, rollback_item,
                                 shellcheck)

LIBRARY = REPO / "chalicelib" / "templates" / "deploy-lib.sh"
TEMPLATE = REPO / "chalicelib" / "templates" / "deploy.sh.j2"
#: The delimiters of the renderer's Jinja environment (its comments are ``{## ##}``: bash has
#: ``${#var}``).
DELIMITERS = ("{{", "}}", "{%", "%}", "{##", "##}")
#: shellcheck skips "referenced but not assigned" for upper-case names unless asked.
STRICT = "--enable=check-unassigned-uppercase"
_SC2154_OFF = "# shellcheck disable=SC2154"


def _data_variables():
    """The variables the template's data part assigns."""
    return set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)=", TEMPLATE.read_text(), re.MULTILINE))


def test_the_library_holds_no_template_delimiters():
    text = LIBRARY.read_text()
    assert [d for d in DELIMITERS if d in text] == []


def test_every_script_holds_the_library_verbatim():
    text = render_deploy_script("web-1.example.com", [], generated_at=GENERATED_AT)
    assert LIBRARY.read_text() in text


def test_the_library_alone_passes_shellcheck_with_upper_case_names_checked():
    result = shellcheck(LIBRARY.read_text(), STRICT)
    assert result.returncode == 0, result.stdout


def test_the_librarys_one_disabled_check_hides_only_the_data_parts_variables():
    text = LIBRARY.read_text()
    assert text.count(_SC2154_OFF) == 1
    without = "\n".join(line for line in text.split("\n") if not line.startswith(_SC2154_OFF))
    comments = json.loads(shellcheck(without, STRICT, "-f", "json1").stdout)["comments"]
    assert {c["code"] for c in comments} == {2154}
    unassigned = {re.match(r"(\w+) is referenced but not assigned", c["message"]).group(1)
                  for c in comments}
    assert unassigned <= _data_variables()
    # and the library's header names every one of them
    header = text[:text.index(_SC2154_OFF)]
    assert all(re.search(rf"\b{name}\b", header) for name in _data_variables())


def test_the_template_holds_only_data_around_the_library():
    """Outside ``load_item`` every line is a comment, an assignment, the include or main's call."""
    text = TEMPLATE.read_text()
    load_item = re.search(r"^load_item\(\) \{\n.*?^\}\n", text, re.MULTILINE | re.DOTALL)
    rest = (text[:load_item.start()] + text[load_item.end():]).split("\n")
    code = [line for line in rest if line.strip() and not line.startswith("#")]
    allowed = re.compile(r'^(\{|\}|\{% include "deploy-lib\.sh" %\}|[A-Z][A-Z0-9_]*=\{\{ .+ \}\}|'
                         r'main "\$@" \|\| exit "\$\?")$')
    assert [line for line in code if not allowed.match(line)] == []
    assert code[-2:] == ['main "$@" || exit "$?"', "}"]


def test_a_rendered_script_passes_shellcheck_with_upper_case_names_checked():
    api = FakeApi()
    try:
        items = [deploy_item(api, "web", "1.4.0", deb_dependencies=["nginx (>= 1.18)", "libssl3"],
                             scripts={"start": "echo start", "health": "true"}),
                 rollback_item("api", "2.0", reason="it's $(not run)")]
        text = render_deploy_script("web-1.example.com", items, generated_at=GENERATED_AT)
    finally:
        api.close()
    result = shellcheck(text, STRICT)
    assert result.returncode == 0, result.stdout
