"""Typed errors. Every API error has ``{"error": {"code", "message", "details"}}``; it is raised as a
`ServicesError` subclass chosen by HTTP status, with those three fields and the status."""

from __future__ import annotations

from typing import Any


class ServicesError(Exception):
    """An error answered by the Services API."""

    def __init__(self, message: str, *, code: str = "error", details: Any = None, status: int | None = None):
        super().__init__(f"[{code}] {message}")
        self.code, self.message, self.details, self.status = code, message, details, status


class BadRequest(ServicesError):
    """400 or 422: the request needs fixing (``details`` says where)."""


class Unauthorized(ServicesError):
    """401: no valid API key."""


class Forbidden(ServicesError):
    """403."""


class NotFound(ServicesError):
    """404."""


class Conflict(ServicesError):
    """409: the resource is not in a state that allows this (e.g. results not ready yet)."""


class TooLarge(ServicesError):
    """413."""


class ServerError(ServicesError):
    """5xx."""


class JobFailed(ServicesError):
    """A job ended failed or cancelled; ``code``/``message``/``details`` are the job's error."""

    def __init__(self, job: dict):
        error = job.get("error") or {}
        super().__init__(
            f"job {job.get('id')} {job.get('status')}: {error.get('message', 'no error recorded')}",
            code=error.get("code", job.get("status", "failed")),
            details=error.get("details"),
        )
        self.job = job


class RunValidationError(ValueError):
    """What was logged cannot be sent as it is (unknown ids, missing epochs, shape mismatches, ...)."""


_BY_STATUS = {400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 413: TooLarge}
_BY_STATUS[422] = BadRequest


def raise_for_response(response) -> None:
    """Raise the typed error of a non-2xx httpx response."""
    if response.status_code < 400:
        return
    try:
        body = response.json().get("error") or {}
    except ValueError:
        body = {}
    cls = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else ServicesError)
    raise cls(
        body.get("message") or response.text[:500] or response.reason_phrase,
        code=body.get("code", f"http_{response.status_code}"),
        details=body.get("details"),
        status=response.status_code,
    )
