"""Request inputs of both HTTP fronts, without chalice: JSON bodies, query and path parameters.

``chalicelib.api.http`` (API Gateway, Chalice) and ``chalicelib.hostfront.handler`` (the Lambda
Function URL) read requests through these functions, so a body or a parameter is accepted or
refused by one rule, with the same 400/413 naming the field.

Bodies are bounded before they are parsed (256 KB, 64 levels of nesting), and no string of a
body, a query parameter or a path parameter may be text UTF-8 cannot encode (a lone surrogate
from a ``\\ud800`` escape): each is a 400 naming where it is.
"""
import json
import math
import re
from collections.abc import Iterator

from chalicelib.errors import TooLarge, ValidationError

MAX_BODY_BYTES = 256 * 1024
#: Deepest nesting of arrays and objects in a body (a project body needs 5).
MAX_JSON_DEPTH = 64
#: Longest query parameter value (characters).
MAX_QUERY_CHARS = 4096
#: Longest path parameter (every name fabu knows is at most 253 characters).
MAX_PATH_PARAM_CHARS = 255
#: How many bad strings of one body are named (the rest are counted).
MAX_NAMED_FIELDS = 20

_STRING_RE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_RE = re.compile(rb"[\[\]{}]")
#: Where a lone surrogate can come from: a ``\udXXX`` escape, or one UTF-8-encoded (json.loads
#: decodes bytes with ``surrogatepass``).
_SURROGATE_RES = (re.compile(rb"\\u[dD][89a-fA-F]"), re.compile(rb"\xed[\xa0-\xbf]"))


def parse_json_body(raw: bytes | str | None, *, required: bool = True) -> dict:
    """The JSON object of a raw body; 413 when over 256 KB, 400 naming the problem otherwise."""
    raw = raw or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"request body is {len(raw)} bytes; the limit is 256 KB")
    if not raw.strip():
        if required:
            raise ValidationError("the request needs a JSON body", {"": "is required"})
        return {}
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:  # else it cannot nest deeper
        _check_depth(raw)
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", {"": "is not valid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    if any(pattern.search(raw) for pattern in _SURROGATE_RES):  # else all is Unicode already
        _check_text(body)
    return body


def _check_depth(raw: bytes) -> None:
    """400 when arrays/objects nest deeper than ``MAX_JSON_DEPTH`` (never a RecursionError)."""
    depth = 0
    for bracket in _BRACKET_RE.finditer(_STRING_RE.sub(b'""', raw)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            raise ValidationError(
                f"the body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep",
                {"": f"is nested deeper than {MAX_JSON_DEPTH} levels"})


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range for a number")
    return value


def _check_text(body: dict) -> None:
    """400 naming every string (keys too) that UTF-8 cannot encode, e.g. ``scripts.start``."""
    bad = list(_bad_text(body))
    if not bad:
        return
    fields = {path: "is not valid Unicode text (a lone surrogate such as \\ud800)"
              for path in bad[:MAX_NAMED_FIELDS]}
    more = f" (and {len(bad) - MAX_NAMED_FIELDS} more)" if len(bad) > MAX_NAMED_FIELDS else ""
    raise ValidationError(f"the body has text that is not valid Unicode at {bad[0]}{more}", fields)


def _bad_text(body: dict) -> Iterator[str]:
    """The path of each string that cannot be UTF-8 encoded (iterative: depth is bounded)."""
    stack: list[tuple[dict | list, str]] = [(body, "")]
    while stack:
        value, path = stack.pop()
        is_dict = isinstance(value, dict)
        for key, child in (value.items() if is_dict else enumerate(value)):
            bad_key = is_dict and not encodable(key)
            bad_value = isinstance(child, str) and not encodable(child)
            container = isinstance(child, (dict, list))
            if not (bad_key or bad_value or container):
                continue  # the common case: no path to build
            if is_dict:
                child_path = f"{path}.{printable(key)}" if path else printable(key)
            else:
                child_path = f"{path}[{key}]"
            if bad_key or bad_value:
                yield child_path
            if container:
                stack.append((child, child_path))


def encodable(text: str) -> bool:
    """Whether UTF-8 can encode ``text`` (no lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode shown as ``\\udXXX`` (safe in any answer)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def check_parameter(name: str, value: str, limit: int, where: str) -> str:
    """``value`` of the ``where`` (query/path parameter) ``name``; a 400 naming it when it is not
    text or longer than ``limit`` characters."""
    if not encodable(value):
        raise ValidationError(f"{where} {printable(name)} is not valid Unicode text",
                              {printable(name): "is not valid Unicode text (a lone surrogate)"})
    if len(value) > limit:
        raise ValidationError(f"{where} {name} is {len(value)} characters; the limit is {limit}",
                              {name: f"is longer than {limit} characters"})
    return value


def check_path_parameters(params: dict) -> None:
    """400 for the first path parameter that is not text or over ``MAX_PATH_PARAM_CHARS``."""
    for name, value in params.items():
        if isinstance(value, str):
            check_parameter(name, value, MAX_PATH_PARAM_CHARS, "path parameter")


def check_query(name: str, value: str | None) -> str | None:
    """A query parameter's value (None when absent) once checked; 400 naming it if bad."""
    if value is None:
        return None
    return check_parameter(name, value, MAX_QUERY_CHARS, "query parameter")
