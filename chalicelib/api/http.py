"""The HTTP edge's helpers: request bodies and query parameters in, JSON and domain errors out.

Route handlers (the Blueprints in ``chalicelib/api/``) stay a few lines each: they parse with
``json_body`` and the ``*_query`` helpers, call one domain function, and answer with ``respond``;
``handles_errors`` turns any ``FabuError`` into its status code with ``{"error", "fields"}``.
Nothing a client sends can become a 500.
"""
import functools
import json
from collections.abc import Callable

from chalice import Response
from chalice.app import Request

from chalicelib.errors import FabuError, TooLarge, ValidationError

MAX_BODY_BYTES = 256 * 1024


def json_body(request: Request, *, required: bool = True) -> dict:
    """The request's JSON object; 413 when over 256 KB, 400 naming the problem otherwise."""
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise TooLarge(f"request body is {len(raw)} bytes; the limit is 256 KB")
    if not raw.strip():
        if required:
            raise ValidationError("the request needs a JSON body", {"": "is required"})
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"the body is not valid JSON: {exc}", {"": "is not valid JSON"}) from None
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", {"": "must be a JSON object"})
    return body


def query(request: Request, name: str, default: str | None = None) -> str | None:
    """The query parameter ``name`` (its last value), or ``default`` when absent."""
    params = request.query_params or {}
    return params.get(name, default)


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The whole number ``name`` between ``low`` and ``high``; 400 naming it otherwise."""
    raw = query(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number", {name: "must be a whole number"}) from None
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}",
                              {name: f"must be between {low} and {high}"})
    return value


def bool_query(request: Request, name: str) -> bool:
    """True when ``name`` is ``1``, ``true`` or ``yes`` (any case)."""
    return (query(request, name) or "").lower() in ("1", "true", "yes")


def respond(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (``Content-Type: application/json``) with extra ``headers``."""
    return Response(body=body, status_code=status,
                    headers=dict({"Content-Type": "application/json"}, **(headers or {})))


def handles_errors(fn: Callable[..., Response]) -> Callable[..., Response]:
    """Turn domain exceptions (``FabuError``) into their HTTP answer; anything else propagates."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> Response:
        try:
            return fn(*args, **kwargs)
        except FabuError as exc:
            return respond(exc.body(), exc.status)
    return wrapper
