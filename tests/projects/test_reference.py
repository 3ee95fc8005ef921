"""docs/fields.md: generated from the schema, complete, and saying what the API does.

The committed file must equal ``python -m chalicelib.projects.reference``; every field the schema
names must have a row; and the rows' defaults and whole-number limits are checked against the
API itself (a create with nothing optional, updates at and just past each documented bound).
"""
import json
import os
import re
import subprocess
import sys

from chalicelib.projects import reference, schema
from tests.conftest import ROOT, base_project

DOC = os.path.join(ROOT, "docs", "fields.md")
_ROW = re.compile(r"\| `([^`]+)` \| ([^|]+) \| ([^|]+) \| (.+?) \| .+ \|")


def _doc_rows():
    with open(DOC, encoding="utf-8") as handle:
        return {m.group(1): (m.group(2), m.group(3), m.group(4))
                for m in map(_ROW.fullmatch, handle.read().splitlines()) if m}


def test_the_committed_reference_is_the_generated_one():
    generated = subprocess.run([sys.executable, "-m", "chalicelib.projects.reference"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    with open(DOC, encoding="utf-8") as handle:
        assert handle.read() == generated, (
            "docs/fields.md is stale: python -m chalicelib.projects.reference > docs/fields.md")


def test_every_field_the_schema_names_has_a_row():
    documented = {row[0] for section in reference.rows().values() for row in section}
    expected = set(schema.TOP_FIELDS) | {"replace"}
    expected |= {f"source.{f}" for f in schema.SOURCE_FIELDS}
    expected |= {f"scripts.{f}" for f in schema.SCRIPT_NAMES}
    expected |= {f"rollout.{f}" for f in schema.ROLLOUT_DEFAULTS}
    expected |= {f"notify.{f}" for f in schema.NOTIFY_FIELDS}
    expected |= {f"gates.{f}" for f in schema.GATE_NAMES}
    expected |= {f"<webhook>.{f}" for f in schema.WEBHOOK_FIELDS}
    expected |= {f"depends_on[].{f}" for f in schema.DEPENDS_ON_FIELDS}
    expected |= {f"promote_from.{f}" for f in schema.PROMOTE_FROM_FIELDS}
    if "timeouts" in schema.TOP_FIELDS:
        expected |= {f"timeouts.{f}" for f in schema.TIMEOUT_SCRIPTS}
    assert expected - documented == set(), "fields without a row in docs/fields.md"
    assert documented - expected == set(), "rows for fields the schema does not have"
    assert set(_doc_rows()) == documented


def test_the_documented_defaults_are_what_a_create_stores(api):
    body = base_project()
    del body["scripts"]
    created = api.post("/api/v1/project", body).json
    nested = {"rollout": created["rollout"]["settings"], "timeouts": created.get("timeouts")}
    checked = 0
    for path, (_kind, default, _limits) in _doc_rows().items():
        top, _, rest = path.partition(".")
        if not default.startswith("`") or top not in created or bool(rest) != (top in nested):
            continue  # required, no default, a request field, or a sub-field without a default
        stored = nested[top] if rest else created
        assert default == f"`{json.dumps(stored[rest or top])}`", path
        checked += 1
    assert checked >= len(schema.ROLLOUT_DEFAULTS) + len(schema.CREATE_DEFAULTS)


def _bounds():
    """``{path: (low, high)}`` of every whole-number row, read from the document."""
    found = {}
    for path, (kind, _default, limits) in _doc_rows().items():
        match = re.fullmatch(r"(\d+)–(\d+)", limits.strip())
        if kind.startswith("integer") and match:
            found[path] = (int(match.group(1)), int(match.group(2)))
    return found


def _body(values):
    """An update setting each documented path to its value (webhook fields on the before gate)."""
    body = {}
    for path, value in values.items():
        parts = path.replace("<webhook>", "gates.before_wave").split(".")
        node = body
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    if "gates" in body:
        body["gates"]["before_wave"]["url"] = "https://gate.example.com/fabu"
    return body


def test_the_documented_limits_are_the_apis(api):
    bounds = _bounds()
    assert {"rollout.bake_seconds", "rollout.keep_releases", "<webhook>.timeout_seconds"} <= set(bounds)
    api.post("/api/v1/project", base_project())
    for pick in (0, 1):  # every field at its documented low, then its high: accepted
        response = api.put("/api/v1/project/web", _body({p: b[pick] for p, b in bounds.items()}))
        assert response.status == 200, response.body
    for outside in ({p: b[1] + 1 for p, b in bounds.items()}, {p: b[0] - 1 for p, b in bounds.items()}):
        response = api.put("/api/v1/project/web", _body(outside))
        assert response.status == 400
        named = {path.replace("gates.before_wave", "<webhook>") for path in response.json["fields"]}
        assert named == set(bounds), set(bounds) ^ named
