"""Submitting a conversion: options, source and output checked now, then a Job."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from ...storage import Storage, check_output
from .options import ConvertOptions
from .request import KIND, ConversionJob, ConversionRequest


def conversion_submit(
    *,
    owner,
    request: ConversionRequest,
    storage: Storage,
    uploads: list | None = None,
    workspace=None,
    time_limit: int | None = None,
):
    """Create (or reuse) the conversion job; returns ``(job, created)``.

    ``uploads`` (stored files, from `Storage.store_upload`) replace ``request.source``. Answered now: an option
    the reader refuses (400 ``invalid_option``), a source outside the workspace (403) or missing (404), an output
    outside it, in a reserved area or in a bucket off the allow list."""
    params = request.job_params()
    ConvertOptions.from_dict(params["options"])
    if request.output:
        check_output(storage, request.output)
    if uploads is not None:
        params.pop("source", None)
        params["files"] = [u.location for u in uploads]
        inputs = [{"location": u.location, "sha256": u.sha256} for u in uploads]
    else:
        inputs = [storage.fingerprint(request.source)]
    ConversionJob.from_params(params)  # what the job will read back
    return job_submit_request(
        owner=owner,
        kind=KIND,
        request=request,
        inputs=inputs,
        params=params,
        workspace=workspace,
        time_limit=time_limit,
    )
