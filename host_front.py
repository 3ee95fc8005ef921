"""The Lambda handler of the host protocol's Function URL (one line: ``chalicelib.hostfront.handler``)."""
from chalicelib.hostfront.handler import handler  # noqa: F401
