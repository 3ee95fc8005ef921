"""Resolve credential references (``ssm:/path/name``, ``secretsmanager:name-or-arn``) at build time.

A project never holds a secret inline: its ``source.credentials`` names where the secret lives and
the builder reads it only when it fetches. Values are never logged, echoed or put in an error.
"""
import json

import botocore.exceptions

from chalicelib import aws
from chalicelib.errors import FabuError

_SCHEMES = ("ssm:", "secretsmanager:")


class SecretError(FabuError):
    """A credential reference is malformed, missing or not readable by the builder."""


class Credentials:
    """A username (possibly None) and a password or token, with a repr that hides the secret."""

    def __init__(self, username, password):
        self.username = username
        self.password = password

    def __repr__(self):
        return f"Credentials(username={self.username!r}, password=<hidden>)"


def is_reference(value: object) -> bool:
    """True when `value` is a string of a supported reference scheme."""
    return isinstance(value, str) and value.startswith(_SCHEMES) and len(value.split(":", 1)[1]) > 0


def resolve(reference: str) -> str:
    """The secret string a reference points at; SecretError (naming the reference) otherwise."""
    if not is_reference(reference):
        raise SecretError("credentials must be a reference like 'ssm:/path/name' or "
                          "'secretsmanager:name', not an inline value")
    scheme, name = reference.split(":", 1)
    try:
        if scheme == "ssm":
            return aws.client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        return aws.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ParameterNotFound", "ResourceNotFoundException"):
            raise SecretError(f"credential reference {reference!r} does not exist") from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise SecretError(f"the builder may not read credential reference {reference!r}") from None
        raise SecretError(f"could not read credential reference {reference!r}: {code}") from None
    except KeyError:
        raise SecretError(f"credential reference {reference!r} holds no string value") from None


def resolve_credentials(reference: str | None) -> Credentials | None:
    """Credentials from a reference; the secret is ``{"username", "password"|"token"}`` or a bare token."""
    if not reference:
        return None
    raw = resolve(reference)
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        password = doc.get("password", doc.get("token"))
        if not isinstance(password, str):
            raise SecretError(f"credential reference {reference!r} has no 'password' or 'token'")
        username = doc.get("username")
        return Credentials(username if isinstance(username, str) else None, password)
    return Credentials(None, raw)
