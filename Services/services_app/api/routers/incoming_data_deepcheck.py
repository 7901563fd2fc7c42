"""HTTP door of the incoming data checks capability (`services_app.capabilities.checks`)."""

import json
from typing import Literal
from uuid import UUID

from django.http import FileResponse
from ninja import File, Form, Query, Router
from ninja.files import UploadedFile

from ...capabilities.checks.conditions import load_defaults
from ...capabilities.checks.request import KIND, ChecksRequest
from ...capabilities.checks.row_results import EXPORTS, read_rows
from ...capabilities.checks.submit import checks_submit
from ...errors import NotFound, ServiceError
from ...jobs.services import job_get_for_user
from ...workspaces import job_storage, request_storage
from ..jobs import accepted, job_scope
from ..reports import sandboxed_html
from ..schemas.checks import ConditionsOut, RowsOut
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut

router = Router(tags=["Incoming data checks"])


@router.post(
    "/checks", response={200: JobOut, 202: JobOut, **ERRORS}, url_name="checks_run", summary="Check a new batch"
)
def run_checks(request, payload: ChecksRequest):
    """Data integrity of the new batch and drift against the reference (deepchecks), as a job.

    Poll `GET /api/jobs/{id}`; the result holds `passed`, one entry per check, and the report's location.
    Open the report at `GET /api/checks/{id}/report`."""
    return accepted(
        *checks_submit(owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request))
    )


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
    fix_budget: Form[int] = None,
    force: Form[bool] = False,
):
    """Same as `POST /api/checks` with the files uploaded: `text` and `suites` comma-separated,
    `conditions` a JSON object."""
    storage = request_storage(request)
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
        "fix_budget": fix_budget,
        "force": force,
    }
    checks = ChecksRequest.from_params({k: v for k, v in params.items() if v is not None})
    return accepted(*checks_submit(owner=request.auth, request=checks, storage=storage, **job_scope(request)))


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
    path = job_storage(job).resolve(location, must_exist=True)
    return sandboxed_html(FileResponse(open(path, "rb"), content_type="text/html; charset=utf-8"))


@router.get(
    "/checks/{job_id}/summary", response={200: dict, **ERRORS}, url_name="checks_summary", summary="JSON summary"
)
def summary(request, job_id: UUID):
    """The verdict and one entry per check (the job's result)."""
    job = job_get_for_user(user=request.auth, job_id=job_id)
    if job.kind != KIND or not job.result:
        raise ServiceError(f"job {job_id} has no summary (status: {job.status})", code="report_not_ready", status=409)
    return job.result


def _finished_output(request, job_id: UUID, key: str):
    job = job_get_for_user(user=request.auth, job_id=job_id)
    if job.kind != KIND:
        raise NotFound(f"job {job_id} is not a checks job")
    rows = (job.result or {}).get("row_results") or {}
    if not rows.get(key):
        raise ServiceError(
            f"job {job_id} has no per-row results (status: {job.status})", code="report_not_ready", status=409
        )
    return job, rows


@router.get(
    "/checks/{job_id}/rows", response={200: RowsOut, **ERRORS}, url_name="checks_rows", summary="Per-row results"
)
def rows(
    request,
    job_id: UUID,
    issue: Literal[
        "label_issue", "conflicting_near_duplicate", "near_duplicate", "outlier", "markup", "empty_text"
    ] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
):
    """The checked rows, highest priority (fix first) first; `issue` keeps only rows with that issue.

    Each row: its position in the source file, label quality, suggested label, duplicate set, outlier score,
    issues. The whole table: `GET /api/checks/{id}/exports/rows.parquet`."""
    job, found = _finished_output(request, job_id, "rows.parquet")
    path = job_storage(job).resolve(found["rows.parquet"], must_exist=True)
    return read_rows(path, issue=issue, limit=limit, offset=offset)


@router.get(
    "/checks/{job_id}/exports/{name}",
    response={200: None, **ERRORS},
    url_name="checks_export",
    summary="Per-row exports",
)
def export(request, job_id: UUID, name: Literal["rows.parquet", "fix_first.csv", "label_studio.json"]):
    """`fix_first.csv` (the ranked rows to fix, cut to the request's `fix_budget`), `label_studio.json`
    (the same rows as Label Studio tasks with the suggested label as a prediction), `rows.parquet` (every row)."""
    job, found = _finished_output(request, job_id, name)
    path = job_storage(job).resolve(found[name], must_exist=True)
    response = FileResponse(open(path, "rb"), content_type=EXPORTS[name])
    response["Content-Disposition"] = f'attachment; filename="{job_id}-{name}"'
    return response
