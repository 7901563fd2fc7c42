"""Writes the web app makes: each submits the same job, with the same checks, as its API endpoint."""

from __future__ import annotations

from ..capabilities.checks.validation import validate_inputs
from ..errors import ServiceError
from ..jobs.services import job_submit
from ..models import Job
from ..storage import get_storage

CHECKS_KIND = "checks.incoming"
CONVERSION_KIND = "conversion.parquet"


def conversion_upload_submit(*, user, upload) -> tuple[Job, bool]:
    """One uploaded file converted to Parquet (as `POST /api/conversions/upload` with one file)."""
    storage = get_storage()
    stored = storage.store_upload(upload, upload.name or "upload")
    params = {"files": [stored.location], "output": None, "options": {}}
    inputs = [{"location": stored.location, "sha256": stored.sha256}]
    return job_submit(owner=user, kind=CONVERSION_KIND, params=params, inputs=inputs)


def check_submit(
    *, user, dataset: str, label: str, text: str = "", reference: str = "", wandb: bool = False
) -> tuple[Job, bool]:
    """Incoming data checks on a dataset (as `POST /api/checks`): integrity, and drift with a reference."""
    if not label:
        raise ServiceError("choose the label column to check", code="invalid_params")
    params = {"dataset": dataset, "label": label, "wandb": wandb}
    if text:
        params["text"] = text
    if reference:
        params["reference"] = reference
    storage = get_storage()
    validated = validate_inputs(storage, params)  # a 4xx now, before anything is queued
    inputs = [storage.fingerprint(validated[r]) for r in ("dataset", "reference") if validated.get(r)]
    return job_submit(owner=user, kind=CHECKS_KIND, params=params, inputs=inputs)


def job_rerun(*, user, job: Job) -> Job:
    """The same kind and parameters again, as a new job of ``user``; inputs are hashed afresh
    where they can be, so a changed input is recorded as changed."""
    storage = get_storage()
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
    new, _ = job_submit(owner=user, kind=job.kind, params=dict(job.params or {}), inputs=inputs, force=True)
    return new
