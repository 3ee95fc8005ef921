"""The HTTP edge: request bodies in, domain errors out.

Route handlers (the Blueprints in ``chalicelib/api_*.py``) stay a few lines each: they call
``json_body`` and one service function, and ``handles_errors`` turns any ``FabuError`` into its
status code with ``{"error", "fields"}``. Nothing a client sends can become a 500.
"""
import functools
import json
import logging

from chalice import Response

from chalicelib.errors import FabuError, TooLarge, ValidationError

MAX_BODY_BYTES = 256 * 1024
log = logging.getLogger("fabu")


def json_body(request, *, required=True):
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


def query(request, name, default=None):
    params = request.query_params or {}
    return params.get(name, default)


def int_query(request, name, default, low, high):
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


def bool_query(request, name):
    return (query(request, name) or "").lower() in ("1", "true", "yes")


def respond(body, status=200, headers=None):
    return Response(body=body, status_code=status,
                    headers=dict({"Content-Type": "application/json"}, **(headers or {})))


def handles_errors(fn):
    """Turn domain exceptions into HTTP; log (never leak) anything unexpected."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FabuError as exc:
            return respond(exc.body(), exc.status)
    return wrapper
