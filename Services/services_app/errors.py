"""The one application error type.

Job functions and services raise `ServiceError`; the API maps it to
`{"error": {"code", "message", "details"}}` with its HTTP status, and a job
that raises it ends `failed` with the same structure in `Job.error`.
Kept free of Django so that pure job functions can raise it.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error a caller can act on: `message` says what to fix."""

    def __init__(self, message: str, *, code: str = "bad_request", status: int = 400, details: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(ServiceError):
    def __init__(self, message: str, *, code: str = "not_found", details: Any = None):
        super().__init__(message, code=code, status=404, details=details)


class JobCancelled(Exception):
    """Raised inside a running job when a user asked to cancel it."""
