"""The HTTP edge's helpers: request bodies and query parameters in, JSON and every error out.

Route handlers (the Blueprints in ``chalicelib/api/``) stay a few lines each: they parse with
``json_body`` and the ``*_query`` helpers, call one domain function, and answer with ``respond``.
``handles_errors`` wraps every route and is why nothing a client sends becomes a 500:

* a ``FabuError`` (validation, not found, conflict, too large, forbidden) is its status code with
  ``{"error", "fields"}``;
* a failed DynamoDB condition that escaped the domain code is a lost race: 409, retry;
* any other AWS error (botocore, PynamoDB: throttling, timeouts, a service failing) is
  ``503 {"error": "... AWS is busy or failing (<code>); retry shortly"}`` with ``Retry-After``,
  logged once with the request's id and the failed AWS call's own request id;
* anything else is a bug: logged with its traceback and answered 500 with the request's id.

The body and parameter rules and the error answers are chalice-free and shared with the host
protocol's Function URL front: ``chalicelib.hostfront.inputs`` and ``chalicelib.hostfront.failures``.
"""
import functools
import logging
import re
from collections.abc import Callable

from chalice import Response
from chalice.app import ChaliceViewError, Request

from chalicelib import pagination
from chalicelib.errors import FabuError, ValidationError
from chalicelib.hostfront import failures, inputs
from chalicelib.hostfront.failures import aws_failure  # noqa: F401 (this module's API)
from chalicelib.hostfront.inputs import (MAX_BODY_BYTES, MAX_JSON_DEPTH,  # noqa: F401
                                         MAX_PATH_PARAM_CHARS, MAX_QUERY_CHARS)

log = logging.getLogger(__name__)

_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,18}")
RETRY_AFTER_THROTTLED = failures.RETRY_AFTER_THROTTLED
RETRY_AFTER_FAILING = failures.RETRY_AFTER_FAILING


def json_body(request: Request, *, required: bool = True) -> dict:
    """The request's JSON object; 413 when over 256 KB, 400 naming the problem otherwise."""
    return inputs.parse_json_body(request.raw_body, required=required)


def query(request: Request, name: str, default: str | None = None) -> str | None:
    """The query parameter ``name`` (its last value), or ``default`` when absent; 400 if bad."""
    params = request.query_params or {}
    value = inputs.check_query(name, params.get(name))
    return default if value is None else value


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The whole number ``name`` between ``low`` and ``high``; 400 naming it otherwise."""
    raw = query(request, name)
    if raw is None:
        return default
    if not _INTEGER_RE.fullmatch(raw.strip()):
        raise ValidationError(f"{name} must be a whole number", {name: "must be a whole number"})
    value = int(raw)
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
    """Wrap a route: check its path parameters, bind its cursors, answer every error (see above).

    The request is the current request of the route module's Blueprint (every module of
    ``chalicelib/api/`` names it ``bp``).
    """
    route = f"{fn.__module__}.{fn.__name__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> Response:
        request = _current_request(fn)
        try:
            inputs.check_path_parameters(kwargs)
            with pagination.bound_to(route, _binding(request, kwargs)):
                return fn(*args, **kwargs)
        except FabuError as exc:
            return respond(exc.body(), exc.status)
        except ChaliceViewError:
            raise  # Chalice answers its own HTTP errors (none of fabu's code raises them)
        except Exception as exc:  # noqa: BLE001 - the one place every other error is answered
            return _unexpected(exc, request)
    return wrapper


def _current_request(fn: Callable) -> Request | None:
    blueprint = fn.__globals__.get("bp")
    try:
        return blueprint.current_request if blueprint is not None else None
    except RuntimeError:  # a Blueprint not registered with an app (a bare function call)
        return None


def _binding(request: Request | None, path_params: dict) -> list[tuple[str, str]]:
    pairs = [(f"{{{name}}}", str(value)) for name, value in path_params.items()]
    params = request.query_params if request is not None else None
    if params:
        pairs += [(name, value) for name in params for value in params.getlist(name)]
    return pairs


def request_id(request: Request | None) -> str:
    """API Gateway's ``requestContext.requestId`` (the local middleware fills one too)."""
    context = (request.context if request is not None else None) or {}
    return failures.request_id(context.get("requestId"))


def _route_text(request: Request | None) -> str:
    if request is None:
        return "a route"
    path = (request.context or {}).get("path") or request.path
    return f"{request.method} {path}"


def _unexpected(exc: Exception, request: Request | None) -> Response:
    """The answer to an exception that is not a ``FabuError``: 409, 503 or (a bug) 500."""
    answer = failures.answer(exc, request_id(request), _route_text(request), log)
    return respond(answer.body, answer.status, answer.headers)
