"""The domain exceptions of fabu: one base class, a flat hierarchy.

``chalicelib`` raises these; ``chalicelib.api.http.handles_errors`` turns them into HTTP (each
class carries its status). The authorization refusals (``auth.sigv4.AuthError`` and its
subclasses, 403) belong to the same hierarchy.
"""


class FabuError(Exception):
    """Base class: every error a user can cause or see."""
    status = 500

    def __init__(self, message: str, fields: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def body(self) -> dict:
        body = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        return body


class ValidationError(FabuError):
    """The request body or a parameter is not acceptable; ``fields`` names each bad path."""
    status = 400


class NotFound(FabuError):
    status = 404


class Conflict(FabuError):
    """A stale write (optimistic lock) or a state that forbids the operation."""
    status = 409


class TooLarge(FabuError):
    status = 413
