"""HTTP door of the models and data capability (`services_app.capabilities.model_sync`)."""

from django.conf import settings
from ninja import Query, Router
from ninja.pagination import paginate

from ...capabilities.model_sync import core
from ...capabilities.model_sync.request import ModelDownloadRequest, ModelSyncRequest, ModelUploadRequest
from ...capabilities.model_sync.submit import model_download_submit, model_sync_submit, model_upload_submit
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.models import ModelFilters, ModelVersionOut

router = Router(tags=["Models and data"])


@router.get("/models", response={200: list[ModelVersionOut], **ERRORS}, url_name="model_list", summary="List models")
@paginate
def list_models(request, filters: Query[ModelFilters]):
    """Every model version in the models bucket (`GCS_MODELS_BUCKET`) and under the local models
    root, with sizes, checksums and whether the local copy is in sync (decided from the bucket's
    md5 sums, without downloading)."""
    storage = request_storage(request)
    bucket = settings.GCS_MODELS_BUCKET
    storage.check_bucket(bucket)
    rows = core.list_models(storage, bucket)
    return [
        r
        for r in rows
        if (not filters.name or r["name"] == filters.name) and (not filters.status or r["status"] == filters.status)
    ]


@router.post(
    "/models/download",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="model_download",
    summary="Download a model version",
)
def download_model(request, payload: ModelDownloadRequest):
    """A job that brings `gs://<bucket>/<name>/<version>/` to `<MODELS_ROOT>/<name>/<version>`:
    only changed files move, each verified by md5, and the folder is replaced atomically.
    A copy already identical is not downloaded again."""
    return accepted(
        *model_download_submit(
            owner=request.auth,
            request=payload,
            storage=request_storage(request),
            bucket=settings.GCS_MODELS_BUCKET,
            **job_scope(request),
        )
    )


@router.post(
    "/models/upload",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="model_upload",
    summary="Upload a model version",
)
def upload_model(request, payload: ModelUploadRequest):
    """A job that publishes a local folder as `gs://<bucket>/<name>/<version>/` (each object
    verified and written with a generation precondition). An existing version with other
    content is refused unless `overwrite` is set."""
    return accepted(
        *model_upload_submit(
            owner=request.auth,
            request=payload,
            storage=request_storage(request),
            bucket=settings.GCS_MODELS_BUCKET,
            **job_scope(request),
        )
    )


@router.post(
    "/models/sync",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="model_sync",
    summary="Sync models with the bucket",
)
def sync_models(request, payload: ModelSyncRequest):
    """The job behind `make sync models-local` / `make sync models-gcp`: every model (or one name or
    version) moves in one direction, only what changed by checksum, in parallel. With `dry_run` the
    result lists what would move. Always runs (never reuses an earlier sync's result)."""
    return accepted(
        *model_sync_submit(
            owner=request.auth,
            request=payload,
            storage=request_storage(request),
            bucket=settings.GCS_MODELS_BUCKET,
            **job_scope(request),
        )
    )
