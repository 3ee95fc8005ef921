"""Validation of project bodies: every field of the contract, every error named by its path.

``validate_project(body, partial=False)`` returns a clean copy of the body (defaults filled in
for a create) or raises ``ValidationError`` whose ``fields`` maps each bad path
(``rollout.waves[2]``, ``hosts[7]``) to a message. All problems are reported at once, not the
first one only, so a form can show every error next to its field.
"""
import datetime
import os
import re
from urllib.parse import urlsplit

from chalicelib import versions
from chalicelib.errors import ValidationError

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DEB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?::[a-z0-9-]+)?$")
_DEB_VERSION_RE = re.compile(r"^(?:[0-9]+:)?[0-9][A-Za-z0-9.+~-]*(?:-[A-Za-z0-9.+~]+)?$")
_DEB_REL_RE = re.compile(r"^\s*(\S+?)\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^\s()]+)\s*\))?\s*$")
_GIT_REF_RE = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/+@-]{1,200}(?<![./])$")
_SECRET_REF_RE = re.compile(r"^(ssm:/[A-Za-z0-9_.\-/]{1,1000}|secretsmanager:[A-Za-z0-9_+=.@:/-]{1,2000})$")
_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_PERCENT_RE = re.compile(r"^(\d{1,3})%$")

#: First path segments under /api/v1/ that are the API's own, never host names.
RESERVED_HOSTS = frozenset({"project", "projects", "reports", "events", "health", "admin"})
SCRIPT_NAMES = ("start", "stop", "test", "pre_deploy", "post_deploy", "health")
SOURCE_SCHEMES = {
    "git": {"https", "http", "ssh", "git", "file"},
    "svn": {"https", "http", "svn", "svn+ssh", "file"},
    "ftp": {"ftp", "ftps"},
    "http": {"https", "http"},
    "s3": {"s3"},
}
MAX_HOSTS = 5000
MAX_SCRIPT_BYTES = 64 * 1024
TOP_FIELDS = ("id", "name", "version", "source", "ci_server", "deb_dependencies", "depends_on",
              "scripts", "deploy_at", "hosts", "rollout", "notify", "gates", "apply_at",
              "description")
ROLLOUT_DEFAULTS = {
    "waves": ["100%"], "bake_seconds": 0, "max_failures": 0, "auto_promote": True,
    "auto_rollback": True, "canary_hosts": [], "deploy_timeout": 1800, "max_parallel": 0,
    "rollback_mode": "all", "health_timeout": 60, "keep_releases": 5,
}


class _Errors:
    """Collects ``path → message`` pairs while a body is checked."""

    def __init__(self):
        self.fields = {}

    def add(self, path, message):
        self.fields.setdefault(path, message)

    def raise_if_any(self):
        if self.fields:
            first = next(iter(self.fields.items()))
            summary = "invalid project: %s %s" % first
            if len(self.fields) > 1:
                summary += f" (and {len(self.fields) - 1} more)"
            raise ValidationError(summary, self.fields)


def is_host_name(name):
    """RFC 1123 host name (lowercase), not one of the API's reserved path segments."""
    if not isinstance(name, str) or not 0 < len(name) <= 253 or name in RESERVED_HOSTS:
        return False
    return all(_LABEL_RE.match(label) for label in name.split("."))


def host_name_problem(name):
    if not isinstance(name, str):
        return "must be a string"
    if name in RESERVED_HOSTS:
        return f"'{name}' is reserved by the API and cannot be a host name"
    if name != name.lower():
        return "host names are lowercase"
    if not is_host_name(name):
        return "must be an RFC 1123 host name (letters, digits, '-' and '.', labels of 1-63)"
    return None


def parse_time(value):
    """ISO 8601 with an explicit UTC offset → aware UTC datetime; ``ValueError`` otherwise."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO 8601 UTC time such as 2026-12-01T09:30:00Z")
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be an ISO 8601 UTC time such as 2026-12-01T09:30:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone: end it with Z (UTC)")
    if parsed.utcoffset() != datetime.timedelta(0):
        raise ValueError("must be in UTC (Z or +00:00)")
    return parsed.astimezone(datetime.timezone.utc)


def format_time(moment):
    """``2026-12-01T09:30:00Z`` (None stays None): how every time leaves the API."""
    if moment is None:
        return None
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_deb_dependency(text):
    """``"a (>= 1) | b"`` → ``[{"name": "a", "op": ">=", "version": "1"}, {"name": "b"}]``."""
    if not isinstance(text, str) or not text.strip() or len(text) > 500:
        raise ValueError("must be a Debian dependency such as 'nginx (>= 1.18)'")
    alternatives = []
    for part in text.split("|"):
        match = _DEB_REL_RE.match(part)
        if not match:
            raise ValueError("cannot parse %r: use 'name', 'name (op version)' or 'a | b'"
                             % part.strip()[:60])
        name, op, version = match.groups()
        if not _DEB_NAME_RE.match(name):
            raise ValueError(f"bad package name {name[:60]!r} (lowercase letters, digits, + - .)")
        if op and not _DEB_VERSION_RE.match(version):
            raise ValueError(f"bad version {version[:60]!r} for {name}")
        if "(" in part and not op:
            raise ValueError(f"bad relation in {part.strip()[:60]!r}: the operators are << <= = >= >>")
        alternative = {"name": name}
        if op:
            alternative.update(op=op, version=version)
        alternatives.append(alternative)
    return alternatives


def _check_type(errors, path, value, kind, label):
    if isinstance(value, bool) and kind is not bool:
        errors.add(path, f"must be {label}")
        return False
    if not isinstance(value, kind):
        errors.add(path, f"must be {label}")
        return False
    return True


def _check_string(errors, path, value, max_len, label="a string"):
    if not _check_type(errors, path, value, str, label):
        return False
    if "\x00" in value:
        errors.add(path, "must not contain NUL bytes")
        return False
    if len(value) > max_len:
        errors.add(path, f"is too long (at most {max_len} characters)")
        return False
    return True


def _validate_name(errors, body):
    name = body.get("name")
    if _check_string(errors, "name", name, 63) and not SLUG_RE.match(name):
        errors.add("name", "must be a slug: lowercase letters, digits and '-', 1-63 characters, "
                           "starting and ending with a letter or digit")


def _validate_version(errors, path, value):
    if _check_string(errors, path, value, 128) and not versions.is_valid(value):
        errors.add(path, "must be a version such as 1.4.2 or 2.0~rc1 (letters, digits, . _ + ~ : -)")


def _validate_url(errors, path, url, schemes, local):
    if not _check_string(errors, path, url, 2048):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        errors.add(path, "is not a valid URL")
        return None
    if any(ch.isspace() for ch in url) or not parts.scheme:
        errors.add(path, "is not a valid URL")
        return None
    if parts.scheme not in schemes:
        errors.add(path, f"scheme must be one of {', '.join(sorted(schemes))}")
        return None
    if parts.scheme != "file" and not parts.hostname:
        errors.add(path, "needs a host")
        return None
    if parts.password:
        errors.add(path, "must not carry a password: use source.credentials (an SSM or "
                         "Secrets Manager reference)")
        return None
    return parts


def _validate_source(errors, source, local):
    if source is None:
        return
    if not _check_type(errors, "source", source, dict, "an object {type, url, ref?}"):
        return
    for key in source:
        if key not in ("type", "url", "ref", "credentials"):
            errors.add(f"source.{key}", "unknown field")
    kind = source.get("type")
    if not isinstance(kind, str) or kind not in SOURCE_SCHEMES:  # a dict/list is unhashable
        errors.add("source.type", "must be one of git, svn, ftp, http, s3")
        return
    if "url" not in source:
        errors.add("source.url", "is required")
        return
    schemes = SOURCE_SCHEMES[kind]
    if kind == "git" and not local:
        schemes = schemes - {"file"}
    parts = _validate_url(errors, "source.url", source["url"], schemes, local)
    if parts and kind == "s3" and not parts.path.strip("/"):
        errors.add("source.url", "must name an object or prefix: s3://bucket/key")
    ref = source.get("ref")
    if ref is not None and _check_string(errors, "source.ref", ref, 200):
        if not _GIT_REF_RE.match(ref):
            errors.add("source.ref", "must be a tag, branch or commit (no spaces, '..' or leading '-')")
    creds = source.get("credentials")
    if creds is not None and _check_string(errors, "source.credentials", creds, 2048):
        if not _SECRET_REF_RE.match(creds):
            errors.add("source.credentials", "must be a reference: ssm:/path/name or "
                                             "secretsmanager:<name or ARN>")


def _validate_deb(errors, deps):
    if not _check_type(errors, "deb_dependencies", deps, list, "a list of Debian dependencies"):
        return
    if len(deps) > 100:
        errors.add("deb_dependencies", "at most 100 entries")
        return
    for i, dep in enumerate(deps):
        try:
            parse_deb_dependency(dep)
        except ValueError as exc:
            errors.add(f"deb_dependencies[{i}]", str(exc))


def _validate_depends_on(errors, deps, own_name):
    if not _check_type(errors, "depends_on", deps, list, "a list of {project, version}"):
        return
    if len(deps) > 50:
        errors.add("depends_on", "at most 50 entries")
        return
    seen = set()
    for i, dep in enumerate(deps):
        path = f"depends_on[{i}]"
        if not _check_type(errors, path, dep, dict, "an object {project, version}"):
            continue
        for key in dep:
            if key not in ("project", "version"):
                errors.add(f"{path}.{key}", "unknown field")
        project = dep.get("project")
        if not isinstance(project, str) or not SLUG_RE.match(project):
            errors.add(path + ".project", "must be the name of a project")
        elif project == own_name:
            errors.add(path + ".project", f"dependency cycle: {own_name} -> {own_name}")
        elif project in seen:
            errors.add(path + ".project", f"duplicate dependency on {project}")
        else:
            seen.add(project)
        spec = dep.get("version", ">=0")
        try:
            versions.parse_spec(spec)
        except ValueError as exc:
            errors.add(path + ".version", str(exc))


def _validate_scripts(errors, scripts):
    if not _check_type(errors, "scripts", scripts, dict, "an object of scripts"):
        return
    for key, text in scripts.items():
        path = f"scripts.{key}"
        if key not in SCRIPT_NAMES:
            errors.add(path, f"unknown script: use {', '.join(SCRIPT_NAMES)}")
        elif text is not None and _check_string(errors, path, text, MAX_SCRIPT_BYTES):
            if len(text.encode("utf-8")) > MAX_SCRIPT_BYTES:
                errors.add(path, "is too long (at most 64 KB)")


def _validate_time(errors, path, value):
    try:
        parse_time(value)
    except ValueError as exc:
        errors.add(path, str(exc))


def _validate_hosts(errors, hosts):
    if not _check_type(errors, "hosts", hosts, list, "a list of host names"):
        return
    if len(hosts) > MAX_HOSTS:
        errors.add("hosts", f"at most {MAX_HOSTS} hosts per project")
        return
    seen = {}
    for i, host in enumerate(hosts):
        problem = host_name_problem(host)
        if problem:
            errors.add(f"hosts[{i}]", problem)
        elif host in seen:
            errors.add(f"hosts[{i}]", f"duplicate host {host} (also hosts[{seen[host]}])")
        else:
            seen[host] = i


def wave_size(spec, total):
    """Cumulative host count reached at the end of a wave spec."""
    if isinstance(spec, int):
        return min(spec, total)
    percent = int(_PERCENT_RE.match(spec).group(1))
    return min(total, -(-percent * total // 100))


def _validate_waves(errors, waves, host_count):
    path = "rollout.waves"
    if not _check_type(errors, path, waves, list, "a list of counts and percentages"):
        return
    if not waves:
        errors.add(path, "needs at least one wave, ending at '100%'")
        return
    if len(waves) > 20:
        errors.add(path, "at most 20 waves")
        return
    last_count = last_percent = 0
    ok = True
    for i, spec in enumerate(waves):
        item = f"{path}[{i}]"
        if isinstance(spec, bool) or not isinstance(spec, (int, str)):
            errors.add(item, "must be a host count (1) or a percentage ('10%')")
            ok = False
        elif isinstance(spec, int):
            if spec < 1:
                errors.add(item, "a host count must be at least 1")
                ok = False
            elif spec <= last_count:
                errors.add(item, f"must be greater than the previous count ({last_count})")
                ok = False
            last_count = max(last_count, spec)
        else:
            match = _PERCENT_RE.match(spec)
            if not match or not 1 <= int(match.group(1)) <= 100:
                errors.add(item, "a percentage must look like '10%' (1-100)")
                ok = False
            elif int(match.group(1)) <= last_percent:
                errors.add(item, f"must be greater than the previous percentage ({last_percent}%)")
                ok = False
            else:
                last_percent = int(match.group(1))
    if ok and waves[-1] != "100%":
        errors.add(f"{path}[{len(waves) - 1}]", "the last wave must be '100%'")
    if ok and host_count:
        sizes = [wave_size(spec, host_count) for spec in waves]
        for i in range(1, len(sizes)):
            if sizes[i] < sizes[i - 1]:
                errors.add(f"{path}[{i}]", "reaches fewer hosts (%d) than the wave before it "
                                                  "(%d)" % (sizes[i], sizes[i - 1]))


def _check_int(errors, path, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a whole number")
    elif not low <= value <= high:
        errors.add(path, f"must be between {low} and {high}")


def _validate_rollout(errors, rollout, hosts):
    if not _check_type(errors, "rollout", rollout, dict, "an object"):
        return
    for key in rollout:
        if key not in ROLLOUT_DEFAULTS:
            errors.add(f"rollout.{key}", "unknown field")
    host_list = hosts if isinstance(hosts, list) else []
    if "waves" in rollout:
        _validate_waves(errors, rollout["waves"], len(host_list))
    limits = {"bake_seconds": (0, 7 * 86400), "deploy_timeout": (60, 86400),
              "max_parallel": (0, 100000), "health_timeout": (0, 3600), "keep_releases": (2, 50)}
    for key, (low, high) in limits.items():
        if key in rollout:
            _check_int(errors, f"rollout.{key}", rollout[key], low, high)
    if "max_failures" in rollout:
        value = rollout["max_failures"]
        if isinstance(value, str):
            match = _PERCENT_RE.match(value)
            if not match or int(match.group(1)) > 100:
                errors.add("rollout.max_failures", "must be a count (0) or a percentage ('5%')")
        else:
            _check_int(errors, "rollout.max_failures", value, 0, MAX_HOSTS)
    for key in ("auto_promote", "auto_rollback"):
        if key in rollout and not isinstance(rollout[key], bool):
            errors.add(f"rollout.{key}", "must be true or false")
    if "rollback_mode" in rollout and rollout["rollback_mode"] not in ("all", "waves"):
        errors.add("rollout.rollback_mode", "must be 'all' (every host at once) or 'waves'")
    canaries = rollout.get("canary_hosts", [])
    if _check_type(errors, "rollout.canary_hosts", canaries, list, "a list of host names"):
        for i, host in enumerate(canaries):
            if host not in host_list:
                errors.add(f"rollout.canary_hosts[{i}]", "is not one of the project's hosts")
        if len(set(map(str, canaries))) != len(canaries):
            errors.add("rollout.canary_hosts", "lists a host twice")


def _validate_webhook(errors, path, hook, local):
    if isinstance(hook, str):
        hook = {"url": hook}
    if not _check_type(errors, path, hook, dict, "a URL or an object {url, secret?}"):
        return
    for key in hook:
        if key not in ("url", "secret", "timeout_seconds", "deadline_seconds"):
            errors.add(f"{path}.{key}", "unknown field")
    schemes = {"https", "http"} if local else {"https"}
    _validate_url(errors, path + ".url", hook.get("url"), schemes, local)
    if "secret" in hook:
        _check_string(errors, path + ".secret", hook["secret"], 2048)
    elif not os.environ.get("FABU_WEBHOOK_SECRET"):
        errors.add(path + ".secret", "is required: every delivery is signed with it (a value, or "
                                     "ssm:/... or secretsmanager:...); or set FABU_WEBHOOK_SECRET "
                                     "for the stage")
    for key, high in (("timeout_seconds", 60), ("deadline_seconds", 7 * 86400)):
        if key in hook:
            _check_int(errors, f"{path}.{key}", hook[key], 1, high)


def _validate_notify(errors, notify, local):
    if not _check_type(errors, "notify", notify, dict, "an object {sns_topic_arn?, webhooks?}"):
        return
    for key in notify:
        if key not in ("sns_topic_arn", "webhooks"):
            errors.add(f"notify.{key}", "unknown field")
    arn = notify.get("sns_topic_arn")
    if arn is not None and (not isinstance(arn, str) or not _SNS_ARN_RE.match(arn)):
        errors.add("notify.sns_topic_arn", "must be an SNS topic ARN (arn:aws:sns:region:account:name)")
    hooks = notify.get("webhooks", [])
    if _check_type(errors, "notify.webhooks", hooks, list, "a list of webhooks"):
        if len(hooks) > 10:
            errors.add("notify.webhooks", "at most 10 webhooks")
        for i, hook in enumerate(hooks[:10]):
            _validate_webhook(errors, f"notify.webhooks[{i}]", hook, local)


def _validate_gates(errors, gates, local):
    if not _check_type(errors, "gates", gates, dict, "an object {before_wave?, after?}"):
        return
    for key, hook in gates.items():
        if key not in ("before_wave", "after"):
            errors.add(f"gates.{key}", "unknown gate: use before_wave or after")
        else:
            _validate_webhook(errors, f"gates.{key}", hook, local)


def _normalise_hooks(clean):
    notify = clean.get("notify")
    if isinstance(notify, dict) and "webhooks" in notify:
        notify["webhooks"] = [{"url": h} if isinstance(h, str) else h for h in notify["webhooks"]]
    for key, hook in (clean.get("gates") or {}).items():
        if isinstance(hook, str):
            clean["gates"][key] = {"url": hook}


def validate_project(body, *, partial=False, local=False):
    """Check a project body; return the cleaned settings (without ``id``/``apply_at``).

    ``partial`` is an update: every field optional, ``name`` may not change (it is the id).
    """
    errors = _Errors()
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    for key in body:
        if key not in TOP_FIELDS:
            errors.add(key, "unknown field")
    if not partial:
        for key in ("name", "version", "hosts"):
            if key not in body:
                errors.add(key, "is required")
    if "name" in body:
        _validate_name(errors, body)
    if "version" in body:
        _validate_version(errors, "version", body["version"])
    if "description" in body:
        _check_string(errors, "description", body["description"], 2000)
    _validate_source(errors, body.get("source"), local)
    if body.get("ci_server") is not None:
        _check_string(errors, "ci_server", body["ci_server"], 512)
    if "deb_dependencies" in body:
        _validate_deb(errors, body["deb_dependencies"])
    if "depends_on" in body:
        _validate_depends_on(errors, body["depends_on"], body.get("name") or body.get("id"))
    if "scripts" in body:
        _validate_scripts(errors, body["scripts"])
    for key in ("deploy_at", "apply_at"):
        if body.get(key) is not None:
            _validate_time(errors, key, body[key])
    if "hosts" in body:
        _validate_hosts(errors, body["hosts"])
    if "rollout" in body:
        _validate_rollout(errors, body["rollout"], body.get("hosts"))
    if "notify" in body:
        _validate_notify(errors, body["notify"], local)
    if "gates" in body:
        _validate_gates(errors, body["gates"], local)
    errors.raise_if_any()
    clean = {k: v for k, v in body.items() if k not in ("id", "apply_at")}
    _normalise_hooks(clean)
    if not partial:
        clean.setdefault("source", None)
        clean.setdefault("ci_server", None)
        for key in ("deb_dependencies", "depends_on"):
            clean.setdefault(key, [])
        clean.setdefault("scripts", {})
        clean.setdefault("deploy_at", None)
        clean.setdefault("notify", {})
        clean.setdefault("gates", {})
        clean["rollout"] = dict(ROLLOUT_DEFAULTS, **clean.get("rollout", {}))
    return clean


def validate_merged(spec):
    """Cross-field checks on the settings after an update is merged (canaries ⊆ hosts, waves)."""
    errors = _Errors()
    _validate_rollout(errors, spec.get("rollout", {}), spec.get("hosts"))
    errors.raise_if_any()
