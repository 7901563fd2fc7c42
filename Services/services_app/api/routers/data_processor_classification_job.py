"""HTTP door of the job transforms capability (`services_app.capabilities.transforms`): inspect, then transform."""

from ninja import File, Form, Router
from ninja.errors import ValidationError as NinjaValidationError
from ninja.files import UploadedFile
from pydantic import ValidationError as PydanticValidationError

from ...capabilities.transforms.base import all_job_types
from ...capabilities.transforms.inspect import inspect_dataset
from ...capabilities.transforms.request import InspectRequest, TransformRequest
from ...capabilities.transforms.submit import transform_submit
from ...errors import ServiceError
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.jobs import JobOut
from ..schemas.transforms import InspectOut, JobTypeOut

router = Router(tags=["Job transforms"])


@router.post(
    "/datasets/inspect",
    response={200: InspectOut, **ERRORS},
    url_name="dataset_inspect",
    summary="Inspect a dataset before transforming it",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": InspectRequest.model_json_schema(),
                    "example": {"location": "jobs/classification/source/reviews.csv", "sample_rows": 5},
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "location": {"type": "string"},
                            "sample_rows": {"type": "integer", "default": 5},
                        },
                    }
                },
            }
        }
    },
)
def inspect(request, file: File[UploadedFile] = None, location: Form[str] = None, sample_rows: Form[int] = 5):
    """Upload a file (multipart `file`), or name one under the data root or in an allowed bucket (`location`, as a
    JSON body like every other endpoint, or as a form field). Answers its columns, types, row count, sample rows,
    and which columns look like text and like labels. An upload is stored and its `location` can be used as
    `source` in `POST /api/transforms`."""
    storage = request_storage(request)
    if request.content_type == "application/json":
        try:
            body = InspectRequest.model_validate_json(request.body or b"{}")
        except PydanticValidationError as exc:
            raise NinjaValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        location, sample_rows = body.location, body.sample_rows
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
def create_transform(request, payload: TransformRequest):
    """Checks the request against the source's columns at once (4xx listing the columns), then answers 202 with a
    job. The job writes `train`/`validation`/`test` Parquet and JSONL, `label_map.json`, `stats.json`, a dataset
    card `README.md` and `manifest.json` under `jobs/<job_type>/target/<name or job id>/`."""
    return accepted(
        *transform_submit(owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request))
    )
