"""Writes the web app makes: each goes through the capability's own submit function, as its API endpoint does."""

from __future__ import annotations

from ..capabilities.checks.request import KIND as CHECKS_KIND
from ..capabilities.checks.request import ChecksRequest
from ..capabilities.checks.submit import checks_submit
from ..capabilities.conversion.request import KIND as CONVERSION_KIND
from ..capabilities.conversion.request import ConversionRequest
from ..capabilities.conversion.submit import conversion_submit
from ..errors import ServiceError
from ..jobs.services import job_submit
from ..models import Job
from ..workspaces import default_workspace, job_storage, workspace_location, workspace_storage

__all__ = ["CHECKS_KIND", "CONVERSION_KIND", "check_submit", "conversion_upload_submit", "job_rerun"]


def conversion_upload_submit(*, user, upload) -> tuple[Job, bool]:
    """One uploaded file converted to Parquet: the conversion's own submit, as `POST /api/conversions/upload`."""
    workspace = default_workspace(user)
    storage = workspace_storage(workspace)
    stored = storage.store_upload(upload, upload.name or "upload")
    request = ConversionRequest(source="uploads")
    return conversion_submit(owner=user, request=request, storage=storage, uploads=[stored], workspace=workspace)


def check_submit(
    *, user, dataset: str, label: str, text: str = "", reference: str = "", wandb: bool = False
) -> tuple[Job, bool]:
    """Incoming data checks on a dataset (as `POST /api/checks`): integrity, and drift with a reference."""
    if not label:
        raise ServiceError("choose the label column to check", code="invalid_params")
    # the pages show data-root locations; the job takes them in the user's workspace
    workspace = default_workspace(user)
    params = {"dataset": workspace_location(workspace, dataset), "label": label, "wandb": wandb}
    if text:
        params["text"] = text
    if reference:
        params["reference"] = workspace_location(workspace, reference)
    request = ChecksRequest.from_params(params)
    return checks_submit(owner=user, request=request, storage=workspace_storage(workspace), workspace=workspace)


def job_rerun(*, user, job: Job) -> Job:
    """The same kind and parameters again, as a new job of ``user``; inputs are hashed afresh
    where they can be, so a changed input is recorded as changed."""
    storage = job_storage(job)
    inputs = []
    for item in job.inputs or []:
        location = item.get("location") if isinstance(item, dict) else None
        fresh = item
        if location and not location.startswith("pipeline:"):
            try:
                fresh = storage.fingerprint(location)
            except ServiceError:
                fresh = item  # gone since: the job itself will say what is missing
        inputs.append(fresh)
    new, _ = job_submit(
        owner=user, workspace=job.workspace, kind=job.kind, params=dict(job.params or {}), inputs=inputs, force=True
    )
    return new
