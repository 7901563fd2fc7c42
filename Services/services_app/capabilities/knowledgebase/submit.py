"""Submitting a knowledge base build: the checks that can answer now, then a Job."""

from __future__ import annotations

from ...jobs.services import job_submit
from ...storage import Storage
from .request import KIND, KnowledgeBaseRequest


def knowledgebase_submit(
    *, owner, request: KnowledgeBaseRequest, storage: Storage, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the build job; returns ``(job, created)``.

    The source is fingerprinted now, which also checks it: outside the data root 403, a bucket not on the allow
    list 403, missing 404."""
    inputs = [storage.fingerprint(request.source)]
    return job_submit(
        owner=owner,
        kind=KIND,
        params=request.job_params(),
        inputs=inputs,
        force=request.force,
        workspace=workspace,
        time_limit=time_limit,
    )
