"""Submitting model transfers: the bucket and the model checked now, then a Job with the bucket recorded."""

from __future__ import annotations

from ...jobs.services import job_submit, job_submit_request
from ...storage import Storage
from . import core
from .request import ModelDownloadRequest, ModelSyncRequest, ModelUploadRequest


def _tree_identity(storage: Storage, location: str) -> dict:
    try:
        return storage.fingerprint(location)
    except Exception as exc:  # absent is an identity too: a later copy must run a new job
        if getattr(exc, "status", None) == 404:
            return {"location": location, "fingerprint": "absent"}
        raise


def model_download_submit(
    *,
    owner,
    request: ModelDownloadRequest,
    storage: Storage,
    bucket: str,
    workspace=None,
    time_limit: int | None = None,
):
    """``gs://<bucket>/<name>/<version>/`` to the models root; 404 now when the version is not in the bucket."""
    storage.check_bucket(bucket)
    core.require_remote(storage, bucket, request.name, request.version)
    inputs = [
        _tree_identity(storage, f"gs://{bucket}/{request.name}/{request.version}/"),
        _tree_identity(storage, str(storage.models_root / request.name / request.version)),
    ]
    return job_submit_request(
        owner=owner,
        kind="models.download",
        request=request,
        inputs=inputs,
        params={**request.job_params(), "bucket": bucket},  # the bucket comes from settings, not the request
        workspace=workspace,
        time_limit=time_limit,
    )


def model_upload_submit(
    *, owner, request: ModelUploadRequest, storage: Storage, bucket: str, workspace=None, time_limit: int | None = None
):
    """A local folder to ``gs://<bucket>/<name>/<version>/``; 404 now when the folder does not exist."""
    storage.check_bucket(bucket)
    folder = request.path or str(storage.models_root / request.name / request.version)
    local = storage.resolve(folder, must_exist=True)
    inputs = [
        _tree_identity(storage, str(local)),
        _tree_identity(storage, f"gs://{bucket}/{request.name}/{request.version}/"),
    ]
    return job_submit_request(
        owner=owner,
        kind="models.upload",
        request=request,
        inputs=inputs,
        params={**request.job_params(), "bucket": bucket},  # the bucket comes from settings, not the request
        workspace=workspace,
        time_limit=time_limit,
    )


def model_sync_submit(
    *, owner, request: ModelSyncRequest, storage: Storage, bucket: str, workspace=None, time_limit: int | None = None
):
    """Every model (or one) in one direction. Always runs: never reuses an earlier sync's result."""
    storage.check_bucket(bucket)
    params = {**request.job_params(), "bucket": bucket}
    return job_submit(
        owner=owner, kind="models.sync", params=params, force=True, workspace=workspace, time_limit=time_limit
    )
