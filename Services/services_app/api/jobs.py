"""Helpers routers use to answer with a job."""

from http import HTTPStatus

from ..errors import ServiceError
from ..jobs.services import job_submit
from ..workspaces import request_workspace


def requested_time_limit(request) -> int | None:
    """The ``time_limit`` query parameter (seconds) any job-creating request may carry."""
    raw = request.GET.get("time_limit")
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise ServiceError("time_limit must be a whole number of seconds", code="invalid_time_limit") from None


def submit(request, *, kind: str, params: dict, inputs: list[dict] | None = None, force: bool = False):
    """Create (or reuse) a job for the caller in the request's workspace: 202 when created, 200 when an
    identical succeeded job was reused."""
    job, created = job_submit(
        owner=request.auth,
        workspace=request_workspace(request),
        kind=kind,
        params=params,
        inputs=inputs,
        force=force,
        time_limit=requested_time_limit(request),
    )
    return (HTTPStatus.ACCEPTED if created else HTTPStatus.OK), job
