"""The secret config of one deploy, for the host holding its lease: ``GET /api/v1/{host}/config``.

A deploy script fetches the values of its project's ``config`` references (SSM parameters,
String or SecureString, and Secrets Manager secrets: ``chalicelib.projects.config_fields``) at
run time; they are never rendered into a script, stored, logged or put in an event. Only the
host whose item of that deploy is ``in_progress`` with that ``deploy_id`` and a lease younger
than the project's ``rollout.deploy_timeout`` gets them: another host's deploy is a 403, a
deploy that is over, not yet handed out, or whose lease expired a 409 saying which. The values are read
with the API's own role (``WithDecryption``) for the config in force now, and answered base64
encoded (UTF-8), so the script reads them without a JSON parser.

Limits: the config's at most 100 references (``config_fields.MAX_ENTRIES``), SSM read 10 names a
call, and an answer of at most ``MAX_ANSWER_BYTES`` of values (a 409 past it). A reference that no
longer exists or that the API may not read is a 409 naming ``config.NAME``; any other AWS
failure propagates (503, retried by the script's curl).
"""
import base64
import datetime

import botocore.exceptions
from pynamodb.exceptions import DoesNotExist

from chalicelib import aws
from chalicelib.errors import Conflict, FabuError, NotFound, ValidationError
from chalicelib.hosts.poll import check_host_name
from chalicelib.models import HostState, Project
from chalicelib.projects import config_fields
from chalicelib.states import HostStatus
from chalicelib.times import format_time, utcnow

#: The most secret value bytes one answer carries (before base64).
MAX_ANSWER_BYTES = 512 * 1024
_SSM_BATCH = 10
_DEFAULT_DEPLOY_TIMEOUT = 1800
_DENIED = ("AccessDeniedException", "AccessDenied", "KMSAccessDeniedException",
           "KMS.AccessDeniedException", "DecryptionFailure")


class NotYourDeploy(FabuError):
    """The deploy named is not one of the calling host's (403)."""
    status = 403


def secret_config(host: str, deploy_id: str | None, now: datetime.datetime | None = None) -> dict:
    """``{"project", "deploy_id", "revision", "encoding", "values": {NAME: base64}}`` of the
    deploy ``deploy_id`` that ``host`` holds the lease of (see the module for the refusals)."""
    check_host_name(host)
    if not deploy_id:
        raise ValidationError("deploy_id is required: the deploy whose config is asked for",
                              {"deploy_id": "is required"})
    now = now or utcnow()
    item = _leased_item(host, deploy_id, now)
    try:
        spec = Project.get(item.project).spec
    except DoesNotExist:
        raise NotFound(f"project {item.project} of deploy {deploy_id} no longer exists") from None
    _check_lease(item, deploy_id, spec, now)
    _, references = config_fields.split(spec.get("config"))
    values = _resolve(references)
    return {"project": item.project, "deploy_id": deploy_id,
            "revision": int(item.target_revision or 0), "encoding": "base64",
            "values": {name: base64.b64encode(value.encode("utf-8")).decode("ascii")
                       for name, value in sorted(values.items())}}


def _leased_item(host: str, deploy_id: str, now: datetime.datetime) -> HostState:
    """The host's item of ``deploy_id`` (one consistent Query of the host's partition)."""
    issued = None
    for item in HostState.query(host, consistent_read=True):
        if item.deploy_id == deploy_id:
            return item
        if deploy_id in (item.issued_ids or []):
            issued = item
    if issued is not None:
        raise Conflict(f"deploy {deploy_id} of {issued.project} on {host} is over (the host's "
                       f"deploy of it now is {issued.deploy_id or 'none'}): secrets are given "
                       "only for the deploy the host holds the lease of",
                       {"deploy_id": "is not the host's current deploy"})
    raise NotYourDeploy(f"deploy {deploy_id[:80]} is not a deploy of {host}",
                        {"deploy_id": f"is not a deploy of {host}"})


def _check_lease(item: HostState, deploy_id: str, spec: dict, now: datetime.datetime) -> None:
    """409 unless the item is in progress under a lease younger than ``deploy_timeout``."""
    if item.status != HostStatus.IN_PROGRESS or item.leased_at is None:
        raise Conflict(f"deploy {deploy_id} of {item.project} on {item.host} is {item.status}, "
                       "not in progress: secrets are given only while the host holds its lease",
                       {"deploy_id": f"is {item.status}, not in progress"})
    timeout = int((spec.get("rollout") or {}).get("deploy_timeout", _DEFAULT_DEPLOY_TIMEOUT))
    expires = item.leased_at + datetime.timedelta(seconds=timeout)
    if now >= expires:
        raise Conflict(f"the lease of deploy {deploy_id} of {item.project} on {item.host} "
                       f"expired at {format_time(expires)} (deploy_timeout {timeout} s)",
                       {"deploy_id": "its lease expired"})


def _resolve(references: dict[str, tuple[str, str]]) -> dict[str, str]:
    """``{NAME: value}`` of every reference, read with decryption; 409 naming what cannot be."""
    values: dict[str, str] = {}
    ssm = {name: target for name, (kind, target) in references.items() if kind == "ssm"}
    if ssm:
        values.update(_ssm_values(ssm))
    for name, (kind, target) in references.items():
        if kind == "secret":
            values[name] = _secret_value(name, target)
    total = sum(len(v.encode("utf-8")) for v in values.values())
    if total > MAX_ANSWER_BYTES:
        raise Conflict(f"config: the secret values total {total} bytes; the limit of one answer "
                       f"is {MAX_ANSWER_BYTES} bytes", {"config": "secret values too large"})
    return values


def _ssm_values(wanted: dict[str, str]) -> dict[str, str]:
    paths = sorted(set(wanted.values()))
    found: dict[str, str] = {}
    client = aws.client("ssm")
    for start in range(0, len(paths), _SSM_BATCH):
        batch = paths[start:start + _SSM_BATCH]
        try:
            answer = client.get_parameters(Names=batch, WithDecryption=True)
        except botocore.exceptions.ClientError as exc:
            if _code(exc) not in _DENIED:
                raise
            raise _unreadable("SSM parameters", batch, wanted, exc) from None
        found.update((p["Name"], p["Value"]) for p in answer.get("Parameters", []))
    for name, path in wanted.items():
        if path not in found:
            raise Conflict(f"config.{name}: SSM parameter {path} no longer exists",
                           {f"config.{name}": f"SSM parameter {path} does not exist"})
    return {name: found[path] for name, path in wanted.items()}


def _secret_value(name: str, target: str) -> str:
    try:
        answer = aws.client("secretsmanager").get_secret_value(SecretId=target)
    except botocore.exceptions.ClientError as exc:
        code = _code(exc)
        if code == "ResourceNotFoundException":
            raise Conflict(f"config.{name}: secret {target} no longer exists",
                           {f"config.{name}": f"secret {target} does not exist"}) from None
        if code not in _DENIED:
            raise
        raise _unreadable("secret", [target], {name: target}, exc) from None
    if "SecretString" not in answer:
        raise Conflict(f"config.{name}: secret {target} holds binary data, not a string",
                       {f"config.{name}": "is a binary secret; only string secrets are given"})
    return answer["SecretString"]


def _unreadable(what: str, targets: list[str], wanted: dict[str, str],
                exc: botocore.exceptions.ClientError) -> Conflict:
    names = sorted(name for name, target in wanted.items() if target in targets)
    return Conflict(f"config.{names[0]}: the API may not read the {what} {', '.join(targets)} "
                    f"({_code(exc)}): it needs ssm:GetParameters, secretsmanager:GetSecretValue "
                    "and kms:Decrypt on them (docs/operations.md)",
                    {f"config.{name}": f"not readable by the API ({_code(exc)})" for name in names})


def _code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")
