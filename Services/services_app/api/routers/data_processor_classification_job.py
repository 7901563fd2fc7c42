"""Training datasets: inspect a file, then transform it for a job type."""

from ninja import File, Form, Router
from ninja.files import UploadedFile

from ...capabilities.transforms.base import all_job_types
from ...capabilities.transforms.inspect import inspect_dataset
from ...capabilities.transforms.jobs import validate_request
from ...errors import ServiceError
from ...workspaces import request_storage
from ..jobs import submit
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.transforms import InspectOut, JobTypeOut, TransformIn

router = Router(tags=["data-processor-classification-job"])


@router.post(
    "/datasets/inspect",
    response={200: InspectOut, **ERRORS},
    url_name="dataset_inspect",
    summary="Inspect a dataset before transforming it",
)
def inspect(request, file: File[UploadedFile] = None, location: Form[str] = None, sample_rows: Form[int] = 5):
    """Upload a file (multipart `file`) or name one under the data root (`location`). Answers its columns, types,
    row count, sample rows, and which columns look like text and like labels. An upload is stored and its
    `location` can be used as `source` in `POST /api/transforms`."""
    storage = request_storage(request)
    if file is not None:
        location = storage.store_upload(file, file.name).location
    if not location:
        raise ServiceError(
            "give a file (multipart field 'file') or a location under the data root", code="missing_source"
        )
    return inspect_dataset(storage=storage, location=location, sample_rows=max(0, min(sample_rows, 100)))


@router.get(
    "/transforms/job-types",
    response=list[JobTypeOut],
    url_name="transform_job_types",
    summary="List the job types a dataset can be transformed for",
)
def list_job_types(request):
    return [cls().describe() for cls in all_job_types().values()]


@router.post(
    "/transforms",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="transform_create",
    summary="Transform a file into a training-ready dataset",
)
def create_transform(request, payload: TransformIn):
    """Checks the request against the source's columns at once (4xx listing the columns), then answers 202 with a
    job. The job writes `train`/`validation`/`test` Parquet and JSONL, `label_map.json`, `stats.json`, a dataset
    card `README.md` and `manifest.json` under `jobs/<job_type>/target/<name or job id>/`."""
    params = payload.dict(exclude={"force"}, exclude_none=True)
    storage = request_storage(request)
    validate_request(storage, params)
    return submit(
        request,
        kind="transforms.dataset",
        params=params,
        inputs=[storage.fingerprint(payload.source)],
        force=payload.force,
    )
