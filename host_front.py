"""The Lambda handler of ``HostFront``, the host protocol's small front (its Function URL, and on
AWS the REST API's host routes): one line, ``chalicelib.hostfront.handler``."""
from chalicelib.hostfront.handler import handler  # noqa: F401
