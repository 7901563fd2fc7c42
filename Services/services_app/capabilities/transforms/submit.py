"""Submitting a transform: the request checked against the source's columns now, then a Job."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from ...storage import Storage
from .jobs import preflight
from .request import KIND, TransformRequest


def transform_submit(
    *, owner, request: TransformRequest, storage: Storage, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the transform job; returns ``(job, created)``.

    Answers now what can be answered from the source's schema: split fractions (400 ``invalid_splits``), an
    unknown job type, columns that are not there (400 ``unknown_column`` listing the columns), the output."""
    preflight(storage, request)
    inputs = [storage.fingerprint(request.source)]
    return job_submit_request(
        owner=owner, kind=KIND, request=request, inputs=inputs, workspace=workspace, time_limit=time_limit
    )
