"""Who may call a host route, without chalice: one rule for both HTTP fronts.

The request context is API Gateway's shape (``{"accountId", "identity": {"userArn"}}``): the
REST API's IAM authorizer fills it on AWS (for the Chalice app, and in the proxy payload 1.0 that
invokes ``HostFront`` for the host routes), ``chalicelib.auth.localauth`` in stage ``local``, and
``chalicelib.hostfront.payloads`` builds it from a Function URL's ``requestContext.authorizer.iam``.
Only the host ``name`` itself passes; admins and other hosts are refused
(``chalicelib.auth.authz``: 403 naming the reason).
"""
from collections.abc import Mapping

from chalicelib.auth import authz


def host_caller(context: Mapping, name: str) -> str:
    """The caller's ARN when it is the host ``name`` itself; ``authz.Forbidden`` (403) otherwise.

    ``{account}`` in an admin pattern is the front's own account (``context["accountId"]``).
    """
    account = context.get("accountId")
    caller = authz.caller_from_context(context, authz.admin_patterns(account=account))
    authz.require_host(caller, name.lower())
    return caller.arn
