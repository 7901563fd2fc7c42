"""How routers answer with a job, and the workspace and time limit a job-creating request carries."""

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


def job_scope(request) -> dict:
    """Keyword arguments every submit function passes on to `job_submit`: the request's workspace and the
    time limit it asked for."""
    return {"workspace": request_workspace(request), "time_limit": requested_time_limit(request)}


def accepted(job, created: bool):
    """202 with the job when it was created; 200 when an identical succeeded job was reused."""
    return (HTTPStatus.ACCEPTED if created else HTTPStatus.OK), job


def submit(request, *, kind: str, params: dict, inputs: list[dict] | None = None, force: bool = False):
    """Create (or reuse) a job for the caller in the request's workspace (for capabilities without a submit
    function of their own)."""
    return accepted(
        *job_submit(owner=request.auth, kind=kind, params=params, inputs=inputs, force=force, **job_scope(request))
    )
