"""HTTP door of the incoming data checks capability (`services_app.capabilities.checks`)."""

import json
from uuid import UUID

from django.http import FileResponse
from ninja import File, Form, Router
from ninja.files import UploadedFile

from ...capabilities.checks.conditions import load_defaults
from ...capabilities.checks.validation import validate_inputs
from ...errors import NotFound, ServiceError
from ...jobs.services import job_get_for_user
from ...storage import get_storage
from ..jobs import submit
from ..schemas.checks import ChecksIn, ConditionsOut
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut

router = Router(tags=["Incoming data checks"])

KIND = "checks.incoming"


def _submit_checks(request, params: dict, *, force: bool):
    storage = get_storage()
    params = {k: v for k, v in params.items() if v not in (None, [], {})}
    validated = validate_inputs(storage, params)  # 4xx before anything is queued
    inputs = [storage.fingerprint(validated[r]) for r in ("dataset", "reference") if validated.get(r)]
    return submit(request, kind=KIND, params=params, inputs=inputs, force=force)


@router.post(
    "/checks", response={200: JobOut, 202: JobOut, **ERRORS}, url_name="checks_run", summary="Check a new batch"
)
def run_checks(request, payload: ChecksIn):
    """Data integrity of the new batch and drift against the reference (deepchecks), as a job.

    Poll `GET /api/jobs/{id}`; the result holds `passed`, one entry per check, and the report's location.
    Open the report at `GET /api/checks/{id}/report`."""
    params = payload.dict(exclude={"force"})
    params["embeddings"] = payload.embeddings.dict()
    return _submit_checks(request, params, force=payload.force)


@router.post(
    "/checks/upload",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="checks_upload",
    summary="Check uploaded files",
)
def run_checks_upload(
    request,
    dataset: File[UploadedFile],
    label: Form[str],
    reference: File[UploadedFile] = None,
    text: Form[str] = None,
    task: Form[str] = None,
    suites: Form[str] = None,
    conditions: Form[str] = None,
    max_rows: Form[int] = None,
    embeddings_provider: Form[str] = None,
    embeddings_model: Form[str] = None,
    force: Form[bool] = False,
):
    """Same as `POST /api/checks` with the files uploaded: `text` and `suites` comma-separated,
    `conditions` a JSON object."""
    storage = get_storage()
    try:
        parsed_conditions = json.loads(conditions) if conditions else {}
    except json.JSONDecodeError as exc:
        raise ServiceError(f"conditions must be a JSON object: {exc}", code="invalid_params") from None
    params = {
        "dataset": storage.store_upload(dataset, dataset.name).location,
        "reference": storage.store_upload(reference, reference.name).location if reference else None,
        "label": label,
        "text": text,
        "task": task,
        "suites": suites,
        "conditions": parsed_conditions,
        "max_rows": max_rows,
        "embeddings": {"provider": embeddings_provider or None, "model": embeddings_model or None},
    }
    return _submit_checks(request, params, force=force)


@router.get("/checks/conditions", response=ConditionsOut, url_name="checks_conditions", summary="Default conditions")
def default_conditions(request):
    """Every check id per task with its default settings (the project's defaults file included)."""
    return load_defaults()


@router.get("/checks/{job_id}/report", response={200: None, **ERRORS}, url_name="checks_report", summary="HTML report")
def report(request, job_id: UUID):
    """The deepchecks report of a finished check job: a self-contained page to open in a browser."""
    job = job_get_for_user(user=request.auth, job_id=job_id)
    if job.kind != KIND:
        raise NotFound(f"job {job_id} is not a checks job")
    location = (job.result or {}).get("report")
    if not location:
        raise ServiceError(
            f"job {job_id} has no report yet (status: {job.status})", code="report_not_ready", status=409
        )
    path = get_storage().resolve(location, must_exist=True)
    return FileResponse(open(path, "rb"), content_type="text/html; charset=utf-8")


@router.get(
    "/checks/{job_id}/summary", response={200: dict, **ERRORS}, url_name="checks_summary", summary="JSON summary"
)
def summary(request, job_id: UUID):
    """The verdict and one entry per check (the job's result)."""
    job = job_get_for_user(user=request.auth, job_id=job_id)
    if job.kind != KIND or not job.result:
        raise ServiceError(f"job {job_id} has no summary (status: {job.status})", code="report_not_ready", status=409)
    return job.result
