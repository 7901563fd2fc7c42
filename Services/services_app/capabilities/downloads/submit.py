"""Submitting a download: where it would fetch from is checked now (scheme, allowed bucket, a public address),
so a request that can never run is a 4xx, not a failed job."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from ...outbound import check_url
from ...storage import Storage, is_gcs, parse_gcs
from .oekobaudat import DEFAULT_BASE_URL
from .request import KIND, DatasetDownloadRequest


def download_submit(
    *, owner, request: DatasetDownloadRequest, storage: Storage, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the download job; returns ``(job, created)``.

    A gs:// URL's bucket must be on the allow list (403); an http(s) URL or base URL must resolve to a public
    address or an allowed host (403 ``outbound_blocked``, 400 ``host_unresolvable``). The job checks again
    on every redirect hop."""
    params = request.params
    if request.connector == "url":
        if is_gcs(params["url"]):
            storage.check_bucket(parse_gcs(params["url"])[0])
        else:
            check_url(params["url"])
    else:
        check_url(params.get("base_url") or DEFAULT_BASE_URL)
    return job_submit_request(owner=owner, kind=KIND, request=request, workspace=workspace, time_limit=time_limit)
