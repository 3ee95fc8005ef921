"""The error collector and the primitive checks every section validator of a project uses.

Each check adds ``path → message`` to an ``Errors`` and says whether the value passed, so a
validator can go on with the next field and every problem is reported at once. ``check_url``
also applies the network rule of ``chalicelib.netguard`` (the one place it is written).
"""
from typing import Any
from urllib.parse import SplitResult, urlsplit

from chalicelib import netguard
from chalicelib.errors import ValidationError


class Errors:
    """Collects ``path → message`` pairs while a body is checked (the first message per path)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        self.fields.setdefault(path, message)

    def raise_if_any(self) -> None:
        """``ValidationError`` naming the first problem (and how many more) with every field."""
        if self.fields:
            path, message = next(iter(self.fields.items()))
            summary = f"invalid project: {path} {message}"
            if len(self.fields) > 1:
                summary += f" (and {len(self.fields) - 1} more)"
            raise ValidationError(summary, self.fields)


def check_type(errors: Errors, path: str, value: Any, kind: type, label: str) -> bool:
    """``value`` is a ``kind`` (a bool is never a number here); else "must be <label>"."""
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        errors.add(path, f"must be {label}")
        return False
    return True


def check_string(errors: Errors, path: str, value: Any, max_len: int, label: str = "a string") -> bool:
    """A string of at most ``max_len`` characters without NUL bytes."""
    if not check_type(errors, path, value, str, label):
        return False
    if "\x00" in value:
        errors.add(path, "must not contain NUL bytes")
        return False
    if len(value) > max_len:
        errors.add(path, f"is too long (at most {max_len} characters)")
        return False
    return True


def check_int(errors: Errors, path: str, value: Any, low: int, high: int) -> None:
    """A whole number (not a bool) between ``low`` and ``high`` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(path, "must be a whole number")
    elif not low <= value <= high:
        errors.add(path, f"must be between {low} and {high}")


def check_url(errors: Errors, path: str, url: Any, schemes: set[str], max_len: int, *,
              local: bool | None = None) -> SplitResult | None:
    """A URL with one of ``schemes``, a host (but for ``file:``), no password, and a place the
    network rule lets fabu connect to (``chalicelib.netguard``; ``local``: the stage is local,
    None to read it from the environment); its parts."""
    if not check_string(errors, path, url, max_len):
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
        message = f"scheme must be one of {', '.join(sorted(schemes))}"
        problem = netguard.url_problem(url, local=local) if parts.hostname else None
        errors.add(path, f"{problem}; also, the {message}" if problem else message)
        return None
    if parts.scheme != "file" and not parts.hostname:
        errors.add(path, "needs a host")
        return None
    if parts.password:
        errors.add(path, "must not carry a password: use source.credentials (an SSM or "
                         "Secrets Manager reference)")
        return None
    problem = netguard.url_problem(url, local=local)
    if problem:
        errors.add(path, problem)
        return None
    return parts
