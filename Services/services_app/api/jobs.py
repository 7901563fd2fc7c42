"""How routers answer with a job."""

from http import HTTPStatus

from ..jobs.services import job_submit


def accepted(job, created: bool):
    """202 with the job when it was created; 200 when an identical succeeded job was reused."""
    return (HTTPStatus.ACCEPTED if created else HTTPStatus.OK), job


def submit(request, *, kind: str, params: dict, inputs: list[dict] | None = None, force: bool = False):
    """Create (or reuse) a job for the caller (for capabilities without a submit function of their own)."""
    return accepted(*job_submit(owner=request.auth, kind=kind, params=params, inputs=inputs, force=force))
