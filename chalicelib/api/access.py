"""Route protection shared by the Blueprints: the IAM authorizer, CORS, and who may call what.

On AWS, API Gateway verifies SigV4 (``IAMAuthorizer``) and fills the caller's ARN; in stage
``local`` the middleware of ``chalicelib.localauth`` does the same. Either way these helpers read
only ``context.identity.userArn`` (``chalicelib.authz``) and answer 403 through
``errors.Forbidden``.
"""
from chalice import CORSConfig, IAMAuthorizer

from chalicelib import config
from chalicelib.auth import authz
from chalicelib.errors import Forbidden
from chalicelib.auth.sigv4 import AuthError

iam = IAMAuthorizer()

#: The console is served from the UI bucket's origin and signs its own requests.
cors = CORSConfig(allow_origin="*",
                  allow_headers=["Authorization", "Content-Type", "X-Amz-Date",
                                 "X-Amz-Security-Token", "X-Amz-Content-Sha256", "If-Match"],
                  expose_headers=["ETag"], max_age=600)


def _caller(request):
    try:
        return authz.caller_from_context(request.context, config.admin_patterns())
    except AuthError as exc:
        raise Forbidden(str(exc)) from None


def admin(request):
    """The admin's ARN, or 403 (hosts and unknown callers)."""
    caller = _caller(request)
    try:
        authz.require_admin(caller)
    except AuthError as exc:
        raise Forbidden(str(exc)) from None
    return caller.arn


def host(request, name):
    """The caller's ARN when it is the host ``name`` itself; 403 otherwise."""
    caller = _caller(request)
    try:
        authz.require_host(caller, name.lower())
    except AuthError as exc:
        raise Forbidden(str(exc)) from None
    return caller.arn
