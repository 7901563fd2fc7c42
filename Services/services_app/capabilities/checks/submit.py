"""Submitting an incoming data check: what can be said about the request now (4xx), then a Job."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from ...storage import Storage
from .request import KIND, ChecksRequest
from .validation import validate_inputs


def checks_submit(*, owner, request: ChecksRequest, storage: Storage, workspace=None, time_limit: int | None = None):
    """Create (or reuse) the check job; returns ``(job, created)``.

    Validated first: conditions (400 ``invalid_conditions``), columns and label (400), paths (403/404);
    the inputs are fingerprinted so the same request on changed files runs again."""
    validated = validate_inputs(storage, request)
    inputs = [storage.fingerprint(validated[r]) for r in ("dataset", "reference") if validated.get(r)]
    return job_submit_request(
        owner=owner, kind=KIND, request=request, inputs=inputs, workspace=workspace, time_limit=time_limit
    )
