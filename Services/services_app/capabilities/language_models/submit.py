"""Submitting a language model's training: the source and its text column checked now, then a Job."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from ...storage import Storage
from .jobs import preflight
from .request import KIND, LanguageModelRequest


def language_model_submit(
    *, owner, request: LanguageModelRequest, storage: Storage, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the training job; returns ``(job, created)``."""
    preflight(storage, request)
    inputs = [storage.fingerprint(request.source)]
    return job_submit_request(
        owner=owner, kind=KIND, request=request, inputs=inputs, workspace=workspace, time_limit=time_limit
    )
