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

Bodies are bounded before they are parsed (256 KB, 64 levels of nesting), and no string of a
body, a query parameter or a path parameter may be text UTF-8 cannot encode (a lone surrogate
from a ``\\ud800`` escape): each is a 400 naming where it is.
"""
import functools
import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Iterator

import botocore.exceptions
from chalice import Response
from chalice.app import ChaliceViewError, Request
from pynamodb.exceptions import (PynamoDBConnectionError, TableDoesNotExist, TransactGetError,
                                 TransactWriteError)

from chalicelib import pagination
from chalicelib.errors import FabuError, TooLarge, ValidationError

log = logging.getLogger(__name__)

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
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,18}")
_THROTTLING = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown", "RequestThrottled",
    "RequestThrottledException", "LimitExceededException", "TransactionInProgressException"})
#: AWS's word that fabu built a request wrong: a bug, never fixed by retrying.
_BUG_CODES = frozenset({"ValidationException", "ParamValidationError", "SerializationException"})
_CONDITION_FAILED = "ConditionalCheckFailedException"
RETRY_AFTER_THROTTLED = 2
RETRY_AFTER_FAILING = 5


def json_body(request: Request, *, required: bool = True) -> dict:
    """The request's JSON object; 413 when over 256 KB, 400 naming the problem otherwise."""
    raw = request.raw_body or b""
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
            bad_key = is_dict and not _encodable(key)
            bad_value = isinstance(child, str) and not _encodable(child)
            container = isinstance(child, (dict, list))
            if not (bad_key or bad_value or container):
                continue  # the common case: no path to build
            if is_dict:
                child_path = f"{path}.{_printable(key)}" if path else _printable(key)
            else:
                child_path = f"{path}[{key}]"
            if bad_key or bad_value:
                yield child_path
            if container:
                stack.append((child, child_path))


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode shown as ``\\udXXX`` (safe in any answer)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_parameter(name: str, value: str, limit: int, where: str) -> str:
    if not _encodable(value):
        raise ValidationError(f"{where} {_printable(name)} is not valid Unicode text",
                              {_printable(name): "is not valid Unicode text (a lone surrogate)"})
    if len(value) > limit:
        raise ValidationError(f"{where} {name} is {len(value)} characters; the limit is {limit}",
                              {name: f"is longer than {limit} characters"})
    return value


def query(request: Request, name: str, default: str | None = None) -> str | None:
    """The query parameter ``name`` (its last value), or ``default`` when absent; 400 if bad."""
    params = request.query_params or {}
    value = params.get(name)
    if value is None:
        return default
    return _check_parameter(name, value, MAX_QUERY_CHARS, "query parameter")


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
            for name, value in kwargs.items():
                if isinstance(value, str):
                    _check_parameter(name, value, MAX_PATH_PARAM_CHARS, "path parameter")
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
    value = context.get("requestId")
    return value if isinstance(value, str) and value else f"fabu-{uuid.uuid4()}"


def _route_text(request: Request | None) -> str:
    if request is None:
        return "a route"
    path = (request.context or {}).get("path") or request.path
    return f"{request.method} {path}"


def _unexpected(exc: Exception, request: Request | None) -> Response:
    """The answer to an exception that is not a ``FabuError``: 409, 503 or (a bug) 500."""
    rid = request_id(request)
    failure = aws_failure(exc)
    if failure is not None and failure["code"] == _CONDITION_FAILED:
        log.info("request %s: %s lost a race (%s)", rid, _route_text(request), failure["call"])
        return respond({"error": "someone else changed the same item at the same moment; "
                                 "reload and try again", "request_id": rid}, 409)
    if failure is not None and failure["code"] not in _BUG_CODES:
        retry = RETRY_AFTER_THROTTLED if failure["code"] in _THROTTLING else RETRY_AFTER_FAILING
        log.warning("request %s: %s answered 503: AWS %s failed with %s (AWS request id %s): %s",
                    rid, _route_text(request), failure["call"], failure["code"],
                    failure["aws_request_id"] or "none", failure["message"])
        return respond({"error": f"the request could not be completed: AWS is busy or failing "
                                 f"({failure['code']}); retry shortly",
                        "request_id": rid, "retry_after": retry}, 503,
                       {"Retry-After": str(retry)})
    log.error("request %s: %s failed on a bug (%s)", rid, _route_text(request),
              type(exc).__name__, exc_info=exc)
    return respond({"error": f"internal error (a bug in fabu): request {rid} is logged with "
                             "its traceback", "request_id": rid}, 500)


def aws_failure(exc: BaseException) -> dict | None:
    """``{code, message, call, aws_request_id}`` when ``exc`` is an AWS error, else None.

    AWS errors are botocore's ``ClientError`` and ``BotoCoreError`` (timeouts, connections) and
    PynamoDB's errors of a DynamoDB call (not ``DoesNotExist`` or attribute errors: bugs).
    """
    if isinstance(exc, (PynamoDBConnectionError, TransactWriteError, TransactGetError)):
        cause = exc.cause
        if cause is not None and aws_failure(cause) is not None:
            found = aws_failure(cause)
            if found["code"] == "TransactionCanceledException" and _any_condition_failed(exc):
                found["code"] = _CONDITION_FAILED
            return found
        return {"code": exc.cause_response_code or type(exc).__name__,
                "message": exc.cause_response_message or str(exc), "call": "DynamoDB",
                "aws_request_id": None}
    if isinstance(exc, TableDoesNotExist):
        return {"code": "TableDoesNotExist", "message": str(exc), "call": "DynamoDB",
                "aws_request_id": None}
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return {"code": error.get("Code") or "ClientError", "message": str(exc),
                "call": exc.operation_name or "call", "aws_request_id": _aws_request_id(exc)}
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return {"code": type(exc).__name__, "message": str(exc), "call": "call",
                "aws_request_id": None}
    return None


def _aws_request_id(exc: botocore.exceptions.ClientError) -> str | None:
    """The failed call's own request id (PynamoDB's ``VerboseClientError`` keeps it on its
    cause, the original ``ClientError``)."""
    for error in (exc, exc.__cause__):
        meta = getattr(error, "response", None)
        meta = meta.get("ResponseMetadata") if isinstance(meta, dict) else None
        if meta:
            found = meta.get("RequestId") or (meta.get("HTTPHeaders") or {}).get("x-amzn-requestid")
            if found:
                return found
    return None


def _any_condition_failed(exc: TransactWriteError | TransactGetError) -> bool:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    return any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons)
