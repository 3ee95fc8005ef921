"""Validators of a project's own fields: name, version, source, dependencies, scripts, hosts, times.

Each ``validate_*`` takes the ``Errors`` collector and the field's value and adds a message per
bad path (``hosts[7]``, ``depends_on[0].version``); ``host_name_problem`` is also the host
protocol's check of the host in a request path.
"""
from typing import Any

from chalicelib import versions
from chalicelib.projects import schema
from chalicelib.projects.checks import Errors, check_int, check_string, check_type, check_url
from chalicelib.times import parse_time


def host_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a host name (RFC 1123, lowercase, not reserved), or None."""
    if not isinstance(name, str):
        return "must be a string"
    if name in schema.RESERVED_HOSTS:
        return f"'{name}' is reserved by the API and cannot be a host name"
    if name != name.lower():
        return "host names are lowercase"
    if not 0 < len(name) <= schema.MAX_HOST_NAME or not all(
            schema.HOST_LABEL_RE.fullmatch(label) for label in name.split(".")):
        return "must be an RFC 1123 host name (letters, digits, '-' and '.', labels of 1-63)"
    return None


def validate_name(errors: Errors, name: Any) -> None:
    if check_string(errors, "name", name, schema.MAX_LENGTHS["name"]) and not schema.SLUG_RE.fullmatch(name):
        errors.add("name", "must be a slug: lowercase letters, digits and '-', 1-63 characters, "
                           "starting and ending with a letter or digit")


def validate_version(errors: Errors, version: Any) -> None:
    if check_string(errors, "version", version, schema.MAX_LENGTHS["version"]) \
            and not versions.is_valid(version):
        errors.add("version", "must be a version such as 1.4.2 or 2.0~rc1 (letters, digits, . + ~ : -)")


def validate_source(errors: Errors, source: Any, local: bool) -> None:
    """``{type, url, ref?, credentials?}``: a URL of the type's schemes, a safe ref, a reference."""
    if source is None:
        return
    if not check_type(errors, "source", source, dict, "an object {type, url, ref?}"):
        return
    for key in source:
        if key not in schema.SOURCE_FIELDS:
            errors.add(f"source.{key}", "unknown field")
    kind = source.get("type")
    if not isinstance(kind, str) or kind not in schema.SOURCE_SCHEMES:  # a dict/list is unhashable
        errors.add("source.type", "must be one of git, svn, ftp, http, s3")
        return
    if "url" not in source:
        errors.add("source.url", "is required")
        return
    schemes = schema.SOURCE_SCHEMES[kind]
    if kind == "git" and not local:
        schemes = schemes - {"file"}
    parts = check_url(errors, "source.url", source["url"], schemes, schema.MAX_LENGTHS["url"],
                      local=local)
    if parts and kind == "s3" and not parts.path.strip("/"):
        errors.add("source.url", "must name an object or prefix: s3://bucket/key")
    ref = source.get("ref")
    if ref is not None and check_string(errors, "source.ref", ref, schema.MAX_LENGTHS["ref"]):
        if not schema.GIT_REF_RE.fullmatch(ref):
            errors.add("source.ref", "must be a tag, branch or commit (no spaces, '..' or leading '-')")
    creds = source.get("credentials")
    if creds is not None and check_string(errors, "source.credentials", creds,
                                          schema.MAX_LENGTHS["credentials"]):
        if not schema.SECRET_REF_RE.fullmatch(creds):
            errors.add("source.credentials", "must be a reference: ssm:/path/name or "
                                             "secretsmanager:<name or ARN>")


def validate_deb_dependencies(errors: Errors, deps: Any) -> None:
    """A list of Debian relations (``nginx (>= 1.18) | apache2``), parsed as dpkg reads them."""
    if not check_type(errors, "deb_dependencies", deps, list, "a list of Debian dependencies"):
        return
    if len(deps) > schema.MAX_DEB_DEPENDENCIES:
        errors.add("deb_dependencies", f"at most {schema.MAX_DEB_DEPENDENCIES} entries")
        return
    for i, dep in enumerate(deps):
        try:
            versions.parse_deb_relation(dep)
        except ValueError as exc:
            errors.add(f"deb_dependencies[{i}]", str(exc))


def validate_depends_on(errors: Errors, deps: Any, own_name: str | None) -> None:
    """``[{project, version?}]``: other projects (not itself, each once) and requirement specs."""
    if not check_type(errors, "depends_on", deps, list, "a list of {project, version}"):
        return
    if len(deps) > schema.MAX_DEPENDS_ON:
        errors.add("depends_on", f"at most {schema.MAX_DEPENDS_ON} entries")
        return
    seen = set()
    for i, dep in enumerate(deps):
        path = f"depends_on[{i}]"
        if not check_type(errors, path, dep, dict, "an object {project, version}"):
            continue
        for key in dep:
            if key not in schema.DEPENDS_ON_FIELDS:
                errors.add(f"{path}.{key}", "unknown field")
        project = dep.get("project")
        if not isinstance(project, str) or not schema.SLUG_RE.fullmatch(project):
            errors.add(f"{path}.project", "must be the name of a project")
        elif project == own_name:
            errors.add(f"{path}.project", f"dependency cycle: {own_name} -> {own_name}")
        elif project in seen:
            errors.add(f"{path}.project", f"duplicate dependency on {project}")
        else:
            seen.add(project)
        try:
            versions.parse_spec(dep.get("version", schema.DEFAULT_REQUIREMENT))
        except ValueError as exc:
            errors.add(f"{path}.version", str(exc))


def validate_scripts(errors: Errors, scripts: Any) -> None:
    """``{name: text}`` for the known script names, each at most 64 KB of UTF-8."""
    if not check_type(errors, "scripts", scripts, dict, "an object of scripts"):
        return
    for key, text in scripts.items():
        path = f"scripts.{key}"
        if key not in schema.SCRIPT_NAMES:
            errors.add(path, f"unknown script: use {', '.join(schema.SCRIPT_NAMES)}")
        elif text is not None and check_string(errors, path, text, schema.MAX_SCRIPT_BYTES):
            if len(text.encode("utf-8")) > schema.MAX_SCRIPT_BYTES:
                errors.add(path, "is too long (at most 64 KB)")


def validate_timeouts(errors: Errors, timeouts: Any) -> None:
    """``{script: seconds}``: the time limit of each user script but ``health`` (whose window is
    ``rollout.health_timeout``), whole seconds within ``schema.TIMEOUT_LIMITS``."""
    names = ", ".join(schema.TIMEOUT_SCRIPTS)
    if not check_type(errors, "timeouts", timeouts, dict, f"an object of seconds per script ({names})"):
        return
    low, high = schema.TIMEOUT_LIMITS
    for key, seconds in timeouts.items():
        path = f"timeouts.{key}"
        if key == "health":
            errors.add(path, "health has no timeout here: set rollout.health_timeout")
        elif key not in schema.TIMEOUT_SCRIPTS:
            errors.add(path, f"unknown script: use {names}")
        else:
            check_int(errors, path, seconds, low, high)


def validate_time(errors: Errors, path: str, value: Any) -> None:
    try:
        parse_time(value)
    except ValueError as exc:
        errors.add(path, str(exc))


def validate_hosts(errors: Errors, hosts: Any) -> None:
    """A list of distinct host names (or ``{name, zone}``), at most ``MAX_HOSTS``."""
    if not check_type(errors, "hosts", hosts, list, "a list of host names"):
        return
    if len(hosts) > schema.MAX_HOSTS:
        errors.add("hosts", f"at most {schema.MAX_HOSTS} hosts per project")
        return
    seen = {}
    for i, entry in enumerate(hosts):
        host = entry
        if isinstance(entry, dict):
            if not _valid_zoned_host(errors, f"hosts[{i}]", entry):
                continue
            host = entry["name"]
        problem = host_name_problem(host)
        if problem:
            errors.add(f"hosts[{i}]", problem)
        elif host in seen:
            errors.add(f"hosts[{i}]", f"duplicate host {host} (also hosts[{seen[host]}])")
        else:
            seen[host] = i


def _valid_zoned_host(errors: Errors, path: str, entry: dict) -> bool:
    """``{name, zone}``: a host with its zone; False (and errors added) when malformed."""
    ok = True
    for key in entry:
        if key not in schema.ZONED_HOST_FIELDS:
            errors.add(f"{path}.{key}", "unknown field (a host is a name or {name, zone})")
            ok = False
    if "name" not in entry:
        errors.add(f"{path}.name", "is required")
        return False
    zone = entry.get("zone")
    if zone is not None and check_string(errors, f"{path}.zone", zone, schema.MAX_ZONE_LENGTH) \
            and not schema.ZONE_RE.fullmatch(zone):
        errors.add(f"{path}.zone", "must be a zone name such as us-east-1a (letters, digits, '-')")
        ok = False
    return ok and (zone is None or isinstance(zone, str))
