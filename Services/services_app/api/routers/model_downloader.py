from django.conf import settings
from ninja import Query, Router
from ninja.pagination import paginate

from ...capabilities.model_sync import core
from ...errors import ServiceError
from ...storage import get_storage
from ..jobs import submit
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.models import ModelDownloadIn, ModelFilters, ModelSyncIn, ModelUploadIn, ModelVersionOut

router = Router(tags=["model-downloader"])


def _tree_identity(location: str) -> dict:
    storage = get_storage()
    try:
        return storage.fingerprint(location)
    except Exception as exc:  # absent is an identity too: a later copy must run a new job
        if getattr(exc, "status", None) == 404:
            return {"location": location, "fingerprint": "absent"}
        raise


@router.get("/models", response={200: list[ModelVersionOut], **ERRORS}, url_name="model_list", summary="List models")
@paginate
def list_models(request, filters: Query[ModelFilters]):
    """Every model version in the models bucket (`GCS_MODELS_BUCKET`) and under the local models
    root, with sizes, checksums and whether the local copy is in sync (decided from the bucket's
    md5 sums, without downloading)."""
    storage = get_storage()
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
def download_model(request, payload: ModelDownloadIn):
    """A job that brings `gs://<bucket>/<name>/<version>/` to `<MODELS_ROOT>/<name>/<version>`:
    only changed files move, each verified by md5, and the folder is replaced atomically.
    A copy already identical is not downloaded again."""
    storage = get_storage()
    bucket = settings.GCS_MODELS_BUCKET
    storage.check_bucket(bucket)
    core.require_remote(storage, bucket, payload.name, payload.version)
    inputs = [
        _tree_identity(f"gs://{bucket}/{payload.name}/{payload.version}/"),
        _tree_identity(str(storage.models_root / payload.name / payload.version)),
    ]
    params = {"name": payload.name, "version": payload.version, "bucket": bucket, "workers": payload.workers}
    return submit(request, kind="models.download", params=params, inputs=inputs, force=payload.force)


@router.post(
    "/models/upload",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="model_upload",
    summary="Upload a model version",
)
def upload_model(request, payload: ModelUploadIn):
    """A job that publishes a local folder as `gs://<bucket>/<name>/<version>/` (each object
    verified and written with a generation precondition). An existing version with other
    content is refused unless `overwrite` is set."""
    storage = get_storage()
    bucket = settings.GCS_MODELS_BUCKET
    storage.check_bucket(bucket)
    folder = payload.path or str(storage.models_root / payload.name / payload.version)
    local = storage.resolve(folder, must_exist=True)
    inputs = [
        _tree_identity(str(local)),
        _tree_identity(f"gs://{bucket}/{payload.name}/{payload.version}/"),
    ]
    params = {
        "name": payload.name,
        "version": payload.version,
        "bucket": bucket,
        "path": payload.path,
        "overwrite": payload.overwrite,
        "workers": payload.workers,
    }
    return submit(request, kind="models.upload", params=params, inputs=inputs, force=payload.force)


@router.post(
    "/models/sync",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="model_sync",
    summary="Sync models with the bucket",
)
def sync_models(request, payload: ModelSyncIn):
    """The job behind `make sync models-local` / `make sync models-gcp`: every model (or one name or
    version) moves in one direction, only what changed by checksum, in parallel. With `dry_run` the
    result lists what would move. Always runs (never reuses an earlier sync's result)."""
    storage = get_storage()
    bucket = settings.GCS_MODELS_BUCKET
    storage.check_bucket(bucket)
    if payload.version and not payload.name:
        raise ServiceError("give `name` together with `version`", code="invalid_params")
    params = {**payload.dict(), "bucket": bucket}
    return submit(request, kind="models.sync", params=params, force=True)
