"""The answer to every error of a request, without chalice: one rule for both HTTP fronts.

``chalicelib.api.http.handles_errors`` (API Gateway) and ``chalicelib.hostfront.handler`` (the
Lambda Function URL) both answer through ``answer``:

* a ``FabuError`` (validation, not found, conflict, too large, forbidden) is its status code with
  ``{"error", "fields"}``;
* a failed DynamoDB condition that escaped the domain code is a lost race: 409, retry;
* any other AWS error (botocore, PynamoDB: throttling, timeouts, a service failing) is
  ``503 {"error": "... AWS is busy or failing (<code>); retry shortly"}`` with ``Retry-After``,
  logged once with the request's id and the failed AWS call's own request id;
* anything else is a bug: logged with its traceback and answered 500 with the request's id.
"""
import logging
import uuid
from dataclasses import dataclass, field

import botocore.exceptions
from pynamodb.exceptions import (PynamoDBConnectionError, TableDoesNotExist, TransactGetError,
                                 TransactWriteError)

from chalicelib.errors import FabuError

_THROTTLING = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "RequestLimitExceeded", "TooManyRequestsException", "SlowDown", "RequestThrottled",
    "RequestThrottledException", "LimitExceededException", "TransactionInProgressException"})
#: AWS's word that fabu built a request wrong: a bug, never fixed by retrying.
_BUG_CODES = frozenset({"ValidationException", "ParamValidationError", "SerializationException"})
CONDITION_FAILED = "ConditionalCheckFailedException"
RETRY_AFTER_THROTTLED = 2
RETRY_AFTER_FAILING = 5


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


def request_id(value: object) -> str:
    """The front's request id (API Gateway's or the Function URL's), or a new ``fabu-<uuid>``."""
    return value if isinstance(value, str) and value else f"fabu-{uuid.uuid4()}"


def answer(exc: Exception, rid: str, route: str, log: logging.Logger) -> Answer:
    """The answer to ``exc`` raised while serving ``route`` (``GET /api/v1/web-1``), logged on
    ``log`` (see the module docstring)."""
    if isinstance(exc, FabuError):
        return Answer(exc.status, exc.body())
    failure = aws_failure(exc)
    if failure is not None and failure["code"] == CONDITION_FAILED:
        log.info("request %s: %s lost a race (%s)", rid, route, failure["call"])
        return Answer(409, {"error": "someone else changed the same item at the same moment; "
                                     "reload and try again", "request_id": rid})
    if failure is not None and failure["code"] not in _BUG_CODES:
        retry = RETRY_AFTER_THROTTLED if failure["code"] in _THROTTLING else RETRY_AFTER_FAILING
        log.warning("request %s: %s answered 503: AWS %s failed with %s (AWS request id %s): %s",
                    rid, route, failure["call"], failure["code"],
                    failure["aws_request_id"] or "none", failure["message"])
        return Answer(503, {"error": f"the request could not be completed: AWS is busy or failing "
                                     f"({failure['code']}); retry shortly",
                            "request_id": rid, "retry_after": retry},
                      {"Retry-After": str(retry)})
    log.error("request %s: %s failed on a bug (%s)", rid, route, type(exc).__name__, exc_info=exc)
    return Answer(500, {"error": f"internal error (a bug in fabu): request {rid} is logged with "
                                 "its traceback", "request_id": rid})


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
                found["code"] = CONDITION_FAILED
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
