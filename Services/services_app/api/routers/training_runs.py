"""Training runs: the Python client creates a run, uploads its files in resumable parts and completes it;
a job computes per-sample signals; these endpoints read them. See docs/training_runs.md."""

from http import HTTPStatus
from uuid import UUID

from django.http import HttpResponse
from ninja import Header, Query, Router
from ninja.pagination import paginate

from ...capabilities.training_runs import results
from ...capabilities.training_runs.request import RunCreate
from ...capabilities.training_runs.submit import (
    MAX_PART_BYTES,
    run_complete,
    run_create,
    run_get_for_user,
    run_list,
    run_receive_part,
    run_results,
    run_upload_status,
)
from ...errors import ServiceError
from ...workspaces import default_workspace, workspace_storage
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.training_runs import (
    CompareQuery,
    ExportQuery,
    PartOut,
    RunFilters,
    RunOut,
    SamplesOut,
    SamplesQuery,
    UploadOut,
)


def _storage(owner):
    """A run's files live in its owner's default workspace, where its analysis job runs."""
    return workspace_storage(default_workspace(owner))


router = Router(tags=["Training runs"])


def _upload(run) -> dict:
    return {
        "run_id": run.id,
        "status": run.status,
        "part_bytes": MAX_PART_BYTES,
        "files": run_upload_status(storage=_storage(run.owner), run=run),
    }


@router.post("/runs", response={201: UploadOut, **ERRORS}, url_name="run_create", summary="Create a training run")
def create_run(request, payload: RunCreate):
    """Declares the run's files (name, size, sha256); then upload each with `PUT /api/runs/{id}/files/{name}`
    and finish with `POST /api/runs/{id}/complete`. The Python client does all of this in `finish()`."""
    run = run_create(owner=request.auth, request=payload, storage=_storage(request.auth))
    return HTTPStatus.CREATED, _upload(run)


@router.get("/runs", response=list[RunOut], url_name="run_list", summary="List training runs")
@paginate
def list_runs(request, filters: Query[RunFilters]):
    """Newest first."""
    return run_list(user=request.auth, project=filters.project)


@router.get("/runs/{run_id}", response={200: RunOut, **ERRORS}, url_name="run_get", summary="Read one training run")
def get_run(request, run_id: UUID):
    return run_get_for_user(user=request.auth, run_id=run_id)


@router.get(
    "/runs/{run_id}/upload", response={200: UploadOut, **ERRORS}, url_name="run_upload", summary="Upload status"
)
def upload_status(request, run_id: UUID):
    """How many bytes of each file the server has: resume from there."""
    return _upload(run_get_for_user(user=request.auth, run_id=run_id))


@router.put(
    "/runs/{run_id}/files/{name}",
    response={200: PartOut, **ERRORS},
    url_name="run_part",
    summary="Upload one part of a file",
)
def upload_part(request, run_id: UUID, name: str, offset: int, x_part_sha256: str = Header("", alias="X-Part-SHA256")):
    """The raw bytes of the part as the body (at most `part_bytes`), written at `offset` when their sha256 matches
    the `X-Part-SHA256` header. 409 `bad_offset` gives the bytes received in `details.received`."""
    run = run_get_for_user(user=request.auth, run_id=run_id)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ServiceError("Content-Length is not a number", code="bad_request") from None
    received = run_receive_part(
        storage=_storage(run.owner),
        run=run,
        name=name,
        offset=offset,
        stream=request,
        length=length,
        sha256=x_part_sha256,
    )
    return {"name": name, "received": received}


@router.post(
    "/runs/{run_id}/complete",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="run_complete",
    summary="Finish the upload and start processing",
)
def complete_run(request, run_id: UUID):
    """Checks every file against its sha256 and submits the job that computes the signals (202 with the job;
    200 with the same job when called again)."""
    run = run_get_for_user(user=request.auth, run_id=run_id)
    job, created = run_complete(storage=_storage(run.owner), run=run)
    return (HTTPStatus.ACCEPTED if created else HTTPStatus.OK), job


@router.get(
    "/runs/{run_id}/summary", response={200: dict, **ERRORS}, url_name="run_summary", summary="Summary of a run"
)
def summary(request, run_id: UUID):
    """Per split: accuracy, bands, likely mislabelled, boundary, coverage and drift; per class and metadata slice
    error rates; clusters with top words."""
    run = run_get_for_user(user=request.auth, run_id=run_id)
    return results.read_summary(run_results(storage=_storage(run.owner), run=run))


@router.get("/runs/{run_id}/samples", response={200: SamplesOut, **ERRORS}, url_name="run_samples", summary="Samples")
def samples(request, run_id: UUID, query: Query[SamplesQuery]):
    """Per-sample signals of one split, filtered, sorted and paged; e.g. `filter=likely_mislabelled,label:sports`
    with `sort=dep` gives the likely mislabelled samples of class sports, worst first."""
    run = run_get_for_user(user=request.auth, run_id=run_id)
    folder = run_results(storage=_storage(run.owner), run=run)
    return results.samples(
        folder,
        query.split,
        filter=query.filter,
        sort=query.sort,
        descending=query.descending,
        page=query.page,
        page_size=query.page_size,
    )


@router.get("/runs/{run_id}/export", response={200: None, **ERRORS}, url_name="run_export", summary="Export to relabel")
def export(request, run_id: UUID, query: Query[ExportQuery]):
    """The selected samples (likely mislabelled by default), worst first, as CSV or as Label Studio import JSON
    with the suggested label as a pre-annotation."""
    run = run_get_for_user(user=request.auth, run_id=run_id)
    folder = run_results(storage=_storage(run.owner), run=run)
    table = results.order(results.select(results.split_table(folder, query.split), query.filter), query.sort, True)
    table = table.slice(0, query.limit)
    stem = f"{run.project}-{run.name}-{query.split}"
    if query.format == "csv":
        body, content_type, ext = results.export_csv(table), "text/csv; charset=utf-8", "csv"
    else:
        body = results.export_label_studio(table, run_name=f"{run.project}/{run.name}")
        content_type, ext = "application/json", "json"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{stem}.{ext}"'
    return response


@router.get(
    "/runs/{run_id}/compare/{other_id}",
    response={200: dict, **ERRORS},
    url_name="run_compare",
    summary="Compare two runs",
)
def compare(request, run_id: UUID, other_id: UUID, query: Query[CompareQuery]):
    """The same split of two runs, joined by sample id: which problems (likely mislabelled or hard) got fixed,
    which remain, which are new, and which labels changed."""
    base = run_get_for_user(user=request.auth, run_id=run_id)
    other = run_get_for_user(user=request.auth, run_id=other_id)
    out = results.compare(
        results.split_table(run_results(storage=_storage(base.owner), run=base), query.split),
        results.split_table(run_results(storage=_storage(other.owner), run=other), query.split),
        limit=query.limit,
    )
    return {"base": str(base.id), "other": str(other.id), "split": query.split, **out}
