"""Render the bash script a host downloads from ``GET /api/v1/{host}/deploy``.

One script covers every pending deploy (or server-requested rollback) of one host, in the order
given (the caller's dependency order). ``chalicelib/templates/deploy.sh.j2`` holds only the data
(values, and ``load_item`` with each item's base64 user scripts) around the static, shellcheck-
clean bash library ``deploy-lib.sh`` that it includes. A sandboxed Jinja environment whose
``finalize`` step runs ``shlex.quote`` on every ``{{ value }}`` renders it: no template can forget
to quote, and nothing a user typed becomes shell code. User scripts travel base64-encoded (as
data) and run as files on the host.

The Jinja environment and the compiled template are built lazily on first render, so importing
this module costs a Lambda cold start nothing. Jinja comments use ``{## … ##}`` because bash's
``${#var}`` would otherwise open one.
"""
import base64
import functools
import os
import shlex

from chalicelib import versions
from chalicelib.errors import ValidationError
from chalicelib.projects import config_fields
from chalicelib.projects.schema import TIMEOUT_DEFAULTS, TIMEOUT_LIMITS
from chalicelib.states import DeployKind

TEMPLATE_NAME = "deploy.sh.j2"
SCRIPT_END_MARKER = "# fabu-script-end"
SCRIPT_NAMES = ("start", "stop", "test", "pre_deploy", "post_deploy", "health")

_TEMPLATES_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")
_KINDS = tuple(DeployKind)
_DEFAULTS = {"health_timeout": 60, "health_interval": 5, "auto_rollback": True,
             "keep_releases": 5, "min_free_mb": 100}


def render_deploy_script(host: str, deploys: list[dict], *, generated_at: str) -> str:
    """Return the bash script that runs ``deploys`` (deploy and rollback items) on ``host``.

    Raises ``ValidationError`` naming the offending field when an item cannot be rendered.
    """
    return render_prepared(prepare_context(host, deploys, generated_at=generated_at))


def render_prepared(context: dict) -> str:
    """Render an already prepared context (see ``prepare_context``); the bench's bare baseline."""
    return _template().render(context)


def prepare_context(host: str, deploys: list[dict], *, generated_at: str) -> dict:
    """Turn the caller's plain data into the template's flat, string-only context."""
    items = [_prepare_item(index, item) for index, item in enumerate(deploys)]
    return {"host": _text(host, "host"), "generated_at": _text(generated_at, "generated_at"),
            "items": items}


def parse_deb_dependencies(specs: list | None) -> list[list[tuple[str, str, str]]]:
    """Parse Debian dependency strings into groups of ``(name, dpkg_op, version)`` alternatives.

    ``"nginx | apache2 (<< 2)"`` becomes ``[("nginx", "", ""), ("apache2", "lt", "2")]``;
    ``dpkg_op`` is the word ``dpkg --compare-versions`` takes (``lt le eq ge gt``), empty when any
    version will do. A string ``versions.parse_deb_relation`` refuses is a ``ValidationError``
    naming ``deb_dependencies.<index>``.
    """
    groups = []
    for index, spec in enumerate(specs or ()):
        # Only a string can be a cache key; anything else goes to the same parser uncached.
        checks = _dpkg_checks if isinstance(spec, str) else _dpkg_checks.__wrapped__
        try:
            groups.append(list(checks(spec)))
        except ValueError as exc:
            raise _bad(f"deb_dependencies.{index}", str(exc)) from None
    return groups


@functools.lru_cache(maxsize=1024)
def _dpkg_checks(spec):
    """One relation's alternatives as dpkg checks. Cached: every host of a project, and every
    deploy of it, renders the same few strings, and python-debian's parser is the costly part
    of preparing a script."""
    return tuple((alt["name"], versions.DPKG_OPS[alt["op"]] if "op" in alt else "",
                  alt.get("version", "")) for alt in versions.parse_deb_relation(spec))


def _prepare_item(index, item):
    path = f"deploys.{index}"
    kind = item.get("kind", DeployKind.DEPLOY)
    if kind not in _KINDS:
        raise _bad(f"{path}.kind", "must be 'deploy' or 'rollback'")
    settings = {key: item.get(key, default) for key, default in _DEFAULTS.items()}
    artifact = item.get("artifact") or {}
    if kind == DeployKind.DEPLOY and not artifact:
        raise _bad(f"{path}.artifact", "a deploy needs an artifact (url, sha256)")
    deps = parse_deb_dependencies(item.get("deb_dependencies"))
    return {
        "kind": str(kind),
        "project": _text(item.get("project"), f"{path}.project", required=True),
        "version": _text(item.get("version"), f"{path}.version", required=True),
        "deploy_id": _text(item.get("deploy_id"), f"{path}.deploy_id", required=True),
        "reason": _text(item.get("reason") or "", f"{path}.reason"),
        "url": _text(artifact.get("url", ""), f"{path}.artifact.url"),
        "sha256": _text(artifact.get("sha256", ""), f"{path}.artifact.sha256"),
        "size": _int(artifact.get("size") or 0, f"{path}.artifact.size"),
        # Flat triples plus the size of each group: bash has no nested arrays.
        "deps": [word for group in deps for alt in group for word in alt],
        "dep_group_sizes": [len(group) for group in deps],
        "scripts": _encode_scripts(item.get("scripts") or {}, f"{path}.scripts"),
        "timeouts": _timeouts(item.get("timeouts"), f"{path}.timeouts"),
        "health_timeout": _int(settings["health_timeout"], f"{path}.health_timeout"),
        "health_interval": _int(settings["health_interval"], f"{path}.health_interval"),
        "auto_rollback": "1" if settings["auto_rollback"] else "0",
        "keep_releases": max(1, _int(settings["keep_releases"], f"{path}.keep_releases")),
        "min_free_mb": _int(settings["min_free_mb"], f"{path}.min_free_mb"),
        **_config(item.get("config") or {}, item.get("config_revision") or 0, f"{path}.config"),
    }


def _config(config, revision, path):
    """The item's ``config`` as data: plain values (rendered), the names of the references
    (their values are fetched by the host at run time, never rendered), its fingerprint and
    revision."""
    if not isinstance(config, dict):
        raise _bad(path, "must be an object")
    plain, references = config_fields.split(config)
    for name in list(plain) + list(references):
        if config_fields.name_problem(name):
            raise _bad(f"{path}.{name}", "is not a name a user script may be given")
    return {"config": {name: _text(value, f"{path}.{name}") for name, value in sorted(plain.items())},
            "secret_names": sorted(references),
            "config_hash": config_fields.fingerprint(config),
            "config_revision": _int(revision, f"{path}_revision")}


def _encode_scripts(scripts, path):
    encoded = {}
    for name in SCRIPT_NAMES:
        body = scripts.get(name) or ""
        if not isinstance(body, str):
            raise _bad(f"{path}.{name}", "must be a string")
        encoded[name] = base64.b64encode(body.encode("utf-8")).decode("ascii")
    return encoded


def _timeouts(timeouts, path):
    """Every timed script's limit in whole seconds: the item's, else the project default (600).
    A project stored before ``timeouts`` existed has none, and gets the defaults."""
    if timeouts is None or timeouts == {}:
        return dict(TIMEOUT_DEFAULTS)        # the common case: nothing to check
    if not isinstance(timeouts, dict):
        raise _bad(path, "must be an object of seconds per script")
    if not timeouts.keys() <= TIMEOUT_DEFAULTS.keys():
        unknown = sorted(str(key) for key in timeouts.keys() - TIMEOUT_DEFAULTS.keys())[0]
        raise _bad(f"{path}.{unknown}", f"unknown script: use {', '.join(TIMEOUT_DEFAULTS)}")
    low, high = TIMEOUT_LIMITS
    limits = dict(TIMEOUT_DEFAULTS, **timeouts)
    for name, seconds in limits.items():
        if type(seconds) is not int or not low <= seconds <= high:   # bool is not an int here
            raise _bad(f"{path}.{name}", f"must be a whole number of seconds from {low} to {high}")
    return limits


def _text(value, path, *, required=False):
    if not isinstance(value, str) or (required and not value):
        raise _bad(path, "must be a non-empty string" if required else "must be a string")
    if "\0" in value:
        # A NUL cannot live in a shell word; everything else is quoted safely.
        raise _bad(path, "must not contain NUL characters")
    return value


def _int(value, path):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(path, "must be a non-negative integer")
    return value


def _bad(path, message):
    return ValidationError(f"cannot render the deploy script: {path} {message}", {path: message})


def _shell_word(value):
    """Jinja's finalize: every rendered value becomes exactly one shell word."""
    if value is None or isinstance(value, bool):
        raise TypeError(f"refusing to render {value!r} into a shell script")
    return shlex.quote(str(value))


@functools.cache
def _template():
    # Imported here, not at module load: the poll Lambda never renders and should not pay for it.
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(_TEMPLATES_DIR),
        undefined=StrictUndefined,
        autoescape=False,
        finalize=_shell_word,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # the templates never change under a running process
        comment_start_string="{##",
        comment_end_string="##}",
    )
    return env.get_template(TEMPLATE_NAME)
