"""Validation of project bodies: every field of the contract, every error named by its path.

``validate_project(body, partial=False)`` returns a clean copy of the body (defaults filled in
for a create) or raises ``ValidationError`` whose ``fields`` maps each bad path
(``rollout.waves[2]``, ``hosts[7]``) to a message. All problems are reported at once, not the
first one only, so a form can show every error next to its field. The section validators live in
``fields``, ``rollout_fields`` and ``hooks``; the limits they enforce in ``schema``.
"""
import copy
from typing import Any

from chalicelib.errors import ValidationError
from chalicelib.projects import (config_fields, fields, fleet_fields, hooks, hostlist,
                                 promote_fields, schema)
from chalicelib.projects.checks import Errors, check_string
from chalicelib.projects.rollout_fields import validate_rollout


def _check_body(errors: Errors, body: dict, partial: bool, local: bool) -> None:
    for key in body:
        if key not in schema.TOP_FIELDS:
            errors.add(key, "unknown field")
    if not partial:
        for key in schema.REQUIRED_FIELDS:
            if key not in body:
                errors.add(key, "is required")
    if "name" in body:
        fields.validate_name(errors, body["name"])
    if "version" in body:
        fields.validate_version(errors, body["version"])
    if "description" in body:
        check_string(errors, "description", body["description"], schema.MAX_LENGTHS["description"])
    fields.validate_source(errors, body.get("source"), local)
    if body.get("ci_server") is not None:
        check_string(errors, "ci_server", body["ci_server"], schema.MAX_LENGTHS["ci_server"])
    if "deb_dependencies" in body:
        fields.validate_deb_dependencies(errors, body["deb_dependencies"])
    if "depends_on" in body:
        fields.validate_depends_on(errors, body["depends_on"], body.get("name") or body.get("id"))
    if "scripts" in body:
        fields.validate_scripts(errors, body["scripts"])
    if "timeouts" in body:
        fields.validate_timeouts(errors, body["timeouts"])
    for key in schema.TIME_FIELDS:
        if body.get(key) is not None:
            fields.validate_time(errors, key, body[key])
    if "hosts" in body:
        fields.validate_hosts(errors, body["hosts"])
    if "fleet" in body:
        fleet_fields.validate_fleet(errors, body["fleet"], check_groups=True)
    fleet_fields.validate_membership(errors, body, partial)
    if "rollout" in body:
        validate_rollout(errors, body["rollout"], _names(body.get("hosts")), check_alarms=True)
    if "notify" in body:
        hooks.validate_notify(errors, body["notify"], local)
    if "gates" in body:
        hooks.validate_gates(errors, body["gates"], local)
    if "promote_from" in body:
        promote_fields.validate_promote_from(errors, body["promote_from"], body.get("name"))
    if "config" in body:
        config_fields.validate_config(errors, body["config"], check_aws=True)


def validate_project(body: Any, *, partial: bool = False, local: bool = False) -> dict:
    """Check a project body; return the cleaned settings (without ``id``/``apply_at``).

    ``partial`` is an update: every field optional, ``name`` may not change (it is the id).
    ``local`` (the local stage) also accepts ``file:`` git sources and plain-HTTP webhooks.
    The body itself is left as it was.
    """
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    errors = Errors()
    _check_body(errors, body, partial, local)
    errors.raise_if_any()
    clean = copy.deepcopy({k: v for k, v in body.items() if k not in schema.NOT_STORED})
    hooks.normalise_hooks(clean)
    promote_fields.normalise(clean)
    if not partial:
        for key, default in schema.CREATE_DEFAULTS.items():
            clean.setdefault(key, copy.deepcopy(default))
        clean.setdefault("hosts", [])  # a fleet-only project lists no host
        clean["rollout"] = copy.deepcopy(dict(schema.ROLLOUT_DEFAULTS, **clean.get("rollout", {})))
        clean["timeouts"] = dict(schema.TIMEOUT_DEFAULTS, **clean.get("timeouts", {}))
    return clean


def validate_merged(spec: dict) -> None:
    """Cross-field checks on the settings after an update is merged (canaries ⊆ hosts, waves)."""
    errors = Errors()
    validate_rollout(errors, spec.get("rollout", {}), hostlist.names(spec))
    errors.raise_if_any()


def _names(hosts: Any) -> Any:
    """The host names of a ``hosts`` value (anything else as is: it is reported invalid)."""
    return hostlist.names({"hosts": hosts}) if isinstance(hosts, list) else hosts
