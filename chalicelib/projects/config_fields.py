"""The ``config`` field of a project: run-time settings and secrets of its user scripts.

``config`` maps environment variable names to a plain value (a string, rendered into the deploy
script as data) or a reference (``{"ssm": "/path"}``: an SSM parameter, String or SecureString;
``{"secret": "name-or-arn"}``: a Secrets Manager secret) that the script fetches at run time
(``chalicelib.hosts.config``) and never sees rendered. This module checks the field (names,
sizes, the stage's allowed prefixes of references and, when saved, that every reference exists,
without reading its value), and names what a config *is* for the rest of fabu: its fingerprint
(what a host compares to know whether it runs the config in force) and its revision label.

Limits: ``MAX_ENTRIES`` entries, plain values of at most ``MAX_VALUE_BYTES`` UTF-8 bytes, the
whole config at most ``MAX_TOTAL_BYTES`` (names, values and references). A reference must start
with one of the stage's prefixes: ``FABU_CONFIG_SSM_PREFIXES`` (comma-separated, default
``/fabu/<stage>/``) and ``FABU_CONFIG_SECRET_PREFIXES`` (default ``fabu/<stage>/``; for an ARN,
the secret's name in it); an empty setting allows no reference of that kind.
"""
import hashlib
import json
import os
import re
from typing import Any

from chalicelib import config as stage_config
from chalicelib.projects.checks import Errors

#: An environment variable a user script may be given.
NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
MAX_ENTRIES = 100
MAX_VALUE_BYTES = 4096
MAX_TOTAL_BYTES = 32 * 1024
REFERENCE_KINDS = ("ssm", "secret")
#: Names a project may not set: what runs a user script reads before the script does (``PATH``
#: finds ``timeout`` and ``bash``; ``IFS``, ``ENV``, ``BASH_ENV``, ``SHELLOPTS``, ``BASHOPTS``,
#: ``POSIXLY_CORRECT`` change how bash or ``timeout`` behave; ``LD_*``/``DYLD_*`` the dynamic
#: linker of both), bash's read-only and special variables (``UID``, ``RANDOM``, ``BASH_*`` ...),
#: the process's identity (``HOME``, ``USER``, ``SHELL``, ``PWD``) and ``FABU_*``, which fabu
#: sets itself (``docs/host.md``, "Environment").
DENIED_NAMES = frozenset({
    "PATH", "HOME", "IFS", "SHELL", "USER", "LOGNAME", "PWD", "OLDPWD", "ENV", "BASHOPTS",
    "SHELLOPTS", "CDPATH", "GLOBIGNORE", "PS4", "PROMPT_COMMAND", "UID", "EUID", "PPID",
    "GROUPS", "RANDOM", "SRANDOM", "SECONDS", "LINENO", "OPTIND", "OPTARG", "OPTERR",
    "HISTFILE", "POSIXLY_CORRECT", "GCONV_PATH", "HOSTALIASES", "MALLOC_CHECK_", "_",
})
DENIED_PREFIXES = ("FABU_", "LD_", "DYLD_", "BASH", "EPOCH", "FUNCNAME", "PIPESTATUS")
#: A Secrets Manager secret: its name, or its ARN (whose name part the prefix rule reads).
SECRET_NAME_RE = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
SECRET_ARN_RE = re.compile(
    r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:([A-Za-z0-9/_+=.@-]{1,512})")
#: An SSM parameter's full name (a path: fabu takes only hierarchical names).
SSM_NAME_RE = re.compile(r"/[A-Za-z0-9_.\-/]{1,1010}")
#: How many names one ``GetParameters`` call may ask for (SSM's own limit).
_GET_BATCH = 10


def ssm_prefixes() -> list[str]:
    """The SSM paths references may start with (``FABU_CONFIG_SSM_PREFIXES``)."""
    return _prefixes("FABU_CONFIG_SSM_PREFIXES", f"/fabu/{stage_config.stage()}/")


def secret_prefixes() -> list[str]:
    """The secret names references may start with (``FABU_CONFIG_SECRET_PREFIXES``)."""
    return _prefixes("FABU_CONFIG_SECRET_PREFIXES", f"fabu/{stage_config.stage()}/")


def _prefixes(name: str, default: str) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return [default]
    return [p.strip() for p in raw.split(",") if p.strip()]


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a config entry's name, or None."""
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        return ("must be an environment variable name: A-Z, 0-9 and _, not starting with a "
                "digit, at most 128 characters")
    if name in DENIED_NAMES or name.startswith(DENIED_PREFIXES):
        return (f"{name} is reserved: bash, the deploy script or the host sets it (so are the "
                f"names starting with {', '.join(DENIED_PREFIXES)}; see docs/host.md)")
    return None


def reference_of(value: Any) -> tuple[str, str] | None:
    """``("ssm", "/path")`` or ``("secret", "name")`` of a reference entry, else None."""
    if isinstance(value, dict) and len(value) == 1:
        kind, target = next(iter(value.items()))
        if kind in REFERENCE_KINDS and isinstance(target, str):
            return kind, target
    return None


def split(config: dict | None) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """``(plain values, references)`` of a stored config."""
    plain, references = {}, {}
    for name, value in (config or {}).items():
        ref = reference_of(value)
        if ref is None:
            plain[name] = value
        else:
            references[name] = ref
    return plain, references


def fingerprint(config: dict | None) -> str:
    """What a host compares to know whether it runs this config: ``""`` for no config, else a
    short hash of the entries (references by what they name: a secret's new value in SSM is
    not a new config)."""
    if not config:
        return ""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def label(version: str, revision: int | None) -> str:
    """``2.1``, or ``config revision 2 of 2.1`` for a config-only revision of a version."""
    return f"config revision {int(revision)} of {version}" if revision else str(version)


def validate_config(errors: Errors, value: Any, check_aws: bool) -> None:
    """``config``: names, values, sizes and prefixes; with ``check_aws`` (a create or an update
    that sends it) every reference must exist: a missing one is named ``config.NAME``; an AWS
    failure other than "not found" propagates (the API answers 503)."""
    if not isinstance(value, dict):
        errors.add("config",
                   'must be an object {NAME: "value" | {ssm: "/path"} | {secret: "name"}}')
        return
    if len(value) > MAX_ENTRIES:
        errors.add("config", f"has {len(value)} entries; the limit is {MAX_ENTRIES}")
        return
    before = len(errors.fields)
    total = 0
    ssm, secrets = {}, {}
    for name, entry in value.items():
        path = f"config.{name}"
        problem = name_problem(name)
        if problem:
            errors.add(path, problem)
            continue
        total += len(name.encode("utf-8"))
        if isinstance(entry, str):
            size = len(entry.encode("utf-8", "surrogatepass"))
            total += size
            if "\0" in entry:
                errors.add(path, "must not contain NUL characters (no environment value can)")
            elif size > MAX_VALUE_BYTES:
                errors.add(path, f"is {size} bytes; a value may have at most {MAX_VALUE_BYTES}")
            continue
        ref = reference_of(entry)
        if ref is None:
            errors.add(path, 'must be a string, {"ssm": "/path"} or {"secret": "name-or-arn"}')
            continue
        kind, target = ref
        total += len(target.encode("utf-8", "surrogatepass"))
        problem = _ssm_problem(target) if kind == "ssm" else _secret_problem(target)
        if problem:
            errors.add(path, problem)
        else:
            (ssm if kind == "ssm" else secrets)[name] = target
    if total > MAX_TOTAL_BYTES:
        errors.add("config", f"is {total} bytes (names, values and references); the limit is "
                             f"{MAX_TOTAL_BYTES} ({MAX_TOTAL_BYTES // 1024} KB)")
    if check_aws and len(errors.fields) == before:
        for path, message in _missing(ssm, secrets).items():
            errors.add(path, message)


def _ssm_problem(path: str) -> str | None:
    if not SSM_NAME_RE.fullmatch(path) or "//" in path:
        return "must be an SSM parameter path: /a/b (letters, digits, _ . - /)"
    allowed = ssm_prefixes()
    if not any(path.startswith(prefix) for prefix in allowed):
        return _outside("SSM parameter", path, allowed, "FABU_CONFIG_SSM_PREFIXES")
    return None


def _secret_problem(target: str) -> str | None:
    arn = SECRET_ARN_RE.fullmatch(target)
    if arn is None and not SECRET_NAME_RE.fullmatch(target):
        return "must be a Secrets Manager secret name (letters, digits, / _ + = . @ -) or its ARN"
    name = arn.group(1) if arn else target
    if arn and arn.group(0).split(":")[3] != stage_config.region():
        return f"must be a secret of this stage's region ({stage_config.region()})"
    allowed = secret_prefixes()
    if not any(name.startswith(prefix) for prefix in allowed):
        return _outside("secret", name, allowed, "FABU_CONFIG_SECRET_PREFIXES")
    return None


def _outside(what: str, name: str, allowed: list[str], setting: str) -> str:
    if not allowed:
        return f"this stage allows no {what} references ({setting} is empty)"
    return (f"{what} {name[:200]} is outside this stage's allowed prefixes "
            f"({', '.join(allowed)}; the stage setting {setting})")


def _missing(ssm: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """``{config.NAME: why}`` of every reference that does not exist.

    SSM paths are asked with ``GetParameters`` WITHOUT decryption (a SecureString answers its
    ciphertext, which is dropped; ``InvalidParameters`` are the missing ones): the same
    permission the run-time route uses, scoped to the stage's prefixes, and no ``kms:Decrypt``.
    Secrets are asked with ``DescribeSecret``, which reads no value."""
    import botocore.exceptions  # only when a config has references

    from chalicelib import aws
    problems = {}
    if ssm:
        found = set()
        paths = sorted(set(ssm.values()))
        client = aws.client("ssm")
        for start in range(0, len(paths), _GET_BATCH):
            batch = paths[start:start + _GET_BATCH]
            answer = client.get_parameters(Names=batch, WithDecryption=False)
            found.update(set(batch) - set(answer.get("InvalidParameters", [])))
        for name, path in ssm.items():
            if path not in found:
                problems[f"config.{name}"] = f"SSM parameter {path} does not exist"
    for name, target in secrets.items():
        try:
            aws.client("secretsmanager").describe_secret(SecretId=target)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            problems[f"config.{name}"] = f"secret {target} does not exist"
    return problems
