"""Route protection shared by the Blueprints: the IAM authorizer, CORS, and who may call what.

On AWS, API Gateway verifies SigV4 (``IAMAuthorizer``) and fills the caller's ARN; in stage
``local`` the middleware of ``chalicelib.auth.localauth`` does the same. Either way these helpers
read only ``context.identity.userArn`` (``chalicelib.auth.authz``). A refusal is an
``auth.authz.Forbidden`` (an ``AuthError``, hence a ``FabuError`` with status 403), which
``api.http.handles_errors`` answers as ``403 {"error": <reason>}``.
"""
from chalice import CORSConfig, IAMAuthorizer
from chalice.app import Request

from chalicelib.auth import authz
from chalicelib.hostfront import identity

iam = IAMAuthorizer()

#: The console is served from the UI bucket's origin and signs its own requests.
cors = CORSConfig(allow_origin="*",
                  allow_headers=["Authorization", "Content-Type", "X-Amz-Date",
                                 "X-Amz-Security-Token", "X-Amz-Content-Sha256", "If-Match"],
                  expose_headers=["ETag"], max_age=600)


def _caller(request: Request) -> authz.Caller:
    # ``{account}`` in an admin pattern is the API's own account (API Gateway's accountId).
    account = (request.context or {}).get("accountId")
    return authz.caller_from_context(request.context, authz.admin_patterns(account=account))


def admin(request: Request) -> str:
    """The admin's ARN, or 403 (hosts and unknown callers)."""
    caller = _caller(request)
    authz.require_admin(caller)
    return caller.arn


def host(request: Request, name: str) -> str:
    """The caller's ARN when it is the host ``name`` itself; 403 otherwise (the rule of both
    host fronts: ``chalicelib.hostfront.identity``)."""
    return identity.host_caller(request.context or {}, name)
