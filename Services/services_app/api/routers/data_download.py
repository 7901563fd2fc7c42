"""HTTP door of the data download capability (`services_app.capabilities.downloads`)."""

from ninja import Router

from ...capabilities.downloads.connectors import CONNECTORS
from ...capabilities.downloads.request import DatasetDownloadRequest
from ...capabilities.downloads.submit import download_submit
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.downloads import ConnectorOut
from ..schemas.jobs import JobOut

router = Router(tags=["Data download"])


@router.get("/datasets/connectors", response=list[ConnectorOut], url_name="dataset_connectors", summary="Connectors")
def list_connectors(request):
    """The connectors `POST /api/datasets/download` accepts."""
    return [
        {"name": n, "description": next(iter((fn.__doc__ or "").strip().splitlines()), "")}
        for n, fn in sorted(CONNECTORS.items())
    ]


@router.post(
    "/datasets/download",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="dataset_download",
    summary="Download external data",
)
def download_dataset(request, payload: DatasetDownloadRequest):
    """A job that fetches into `raw/<connector>/...` under the data root, records sha256 sums,
    and with `convert` turns the result into Parquet under `parquet/<connector>/...`.
    HTTP 5xx and 429 answers are retried with backoff (honouring Retry-After); a size cap,
    content type and checksum are checked when given; nothing partial is ever left behind."""
    return accepted(
        *download_submit(owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request))
    )
