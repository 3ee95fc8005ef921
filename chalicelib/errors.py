"""The domain exceptions of fabu: one base class, a flat hierarchy.

``chalicelib`` raises these; only ``app.py`` turns them into HTTP (see ``http_error``).
"""


class FabuError(Exception):
    """Base class: every error a user can cause or see."""
    status = 500

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}

    def body(self):
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


class Forbidden(FabuError):
    status = 403


class TooLarge(FabuError):
    status = 413
