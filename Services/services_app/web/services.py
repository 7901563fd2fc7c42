"""Writes the web app makes: each submits the same job, with the same checks, as its API endpoint."""

from __future__ import annotations

from ..capabilities.checks.validation import validate_inputs
from ..errors import ServiceError
from ..jobs.services import job_submit
from ..models import Job
from ..workspaces import default_workspace, job_storage, workspace_location, workspace_storage

CHECKS_KIND = "checks.incoming"
CONVERSION_KIND = "conversion.parquet"


def conversion_upload_submit(*, user, upload) -> tuple[Job, bool]:
    """One uploaded file converted to Parquet (as `POST /api/conversions/upload` with one file)."""
    workspace = default_workspace(user)
    storage = workspace_storage(workspace)
    stored = storage.store_upload(upload, upload.name or "upload")
    params = {"files": [stored.location], "output": None, "options": {}}
    inputs = [{"location": stored.location, "sha256": stored.sha256}]
    return job_submit(owner=user, workspace=workspace, kind=CONVERSION_KIND, params=params, inputs=inputs)


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
    storage = workspace_storage(workspace)
    validated = validate_inputs(storage, params)  # a 4xx now, before anything is queued
    inputs = [storage.fingerprint(validated[r]) for r in ("dataset", "reference") if validated.get(r)]
    return job_submit(owner=user, workspace=workspace, kind=CHECKS_KIND, params=params, inputs=inputs)


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
