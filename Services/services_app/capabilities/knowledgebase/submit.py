"""Submitting a knowledge base build: the checks that can answer now, then a Job."""

from __future__ import annotations

from ...errors import ServiceError
from ...jobs.services import job_submit_request
from ...storage import Storage, is_gcs
from .request import KIND, KnowledgeBaseRequest
from .store import KB_FOLDER


def knowledgebase_submit(
    *, owner, request: KnowledgeBaseRequest, storage: Storage, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the build job; returns ``(job, created)``.

    The source is fingerprinted now, which also checks it: outside the data root 403, a bucket not on the allow
    list 403, missing 404."""
    inputs = [storage.fingerprint(request.source)]
    if not str(inputs[0].get("fingerprint", "")).startswith("tree:"):
        raise ServiceError(
            f"source {request.source!r} is a file; a knowledge base is built from a folder (give the folder that "
            "holds it, and `include` to pick files)",
            code="source_not_folder",
            status=422,
        )
    if not is_gcs(request.source):
        kb_root = storage.data_root / KB_FOLDER
        path = storage.resolve(request.source)
        if path == kb_root or path.is_relative_to(kb_root):
            raise ServiceError("source must not be inside the knowledge bases folder", code="invalid_source")
    return job_submit_request(
        owner=owner, kind=KIND, request=request, inputs=inputs, workspace=workspace, time_limit=time_limit
    )
