"""Helpers routers use to answer with a job."""

from http import HTTPStatus

from ..jobs.services import job_submit


def submit(request, *, kind: str, params: dict, inputs: list[dict] | None = None, force: bool = False):
    """Create (or reuse) a job for the caller: 202 when created, 200 when an
    identical succeeded job was reused."""
    job, created = job_submit(owner=request.auth, kind=kind, params=params, inputs=inputs, force=force)
    return (HTTPStatus.ACCEPTED if created else HTTPStatus.OK), job
