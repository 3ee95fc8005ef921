"""Merging a partial update into stored settings."""
from chalicelib.projects.store import merge


def test_an_update_replaces_fields_and_merges_rollout_settings_key_by_key():
    spec = {"version": "1.0", "hosts": ["a"], "rollout": {"waves": ["100%"], "bake_seconds": 60}}
    merged = merge(spec, {"version": "2.0", "rollout": {"bake_seconds": 0}, "notify": {}})
    assert merged == {"version": "2.0", "hosts": ["a"], "notify": {},
                      "rollout": {"waves": ["100%"], "bake_seconds": 0}}
    assert spec["rollout"] == {"waves": ["100%"], "bake_seconds": 60}
