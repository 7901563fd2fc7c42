"""HTTP door of the Parquet conversion capability (`services_app.capabilities.conversion`); previews of any Parquet."""

from ninja import File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from pydantic import Field, ValidationError

from ...capabilities.conversion.preview import preview_parquet
from ...capabilities.conversion.request import ConversionOptions, ConversionRequest
from ...capabilities.conversion.submit import conversion_submit
from ...errors import ServiceError
from ...params import summarize
from ...workspaces import request_storage
from ..jobs import accepted, job_scope
from ..schemas.common import ERRORS
from ..schemas.conversion import DatasetPreviewOut
from ..schemas.jobs import JobOut

router = Router(tags=["Parquet conversion"])


@router.post(
    "/conversions",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="conversion_create",
    summary="Convert a file or folder under the data root to Parquet",
)
def create_conversion(request, payload: ConversionRequest):
    """Answers 202 with a `conversion.parquet` job; poll `GET /api/jobs/{id}`. A folder converts recursively
    and keeps its subfolders; the job result has one entry per file (status, rows, columns, schema, bytes in
    and out, seconds, warnings or the error). An identical earlier conversion of unchanged input is
    returned with 200 unless `force`."""
    return accepted(
        *conversion_submit(owner=request.auth, request=payload, storage=request_storage(request), **job_scope(request))
    )


@router.post(
    "/conversions/upload",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="conversion_upload",
    summary="Upload files and convert them to Parquet",
)
def upload_conversion(
    request,
    files: File[list[UploadedFile]],
    output: str = Form(None, description="Output folder (default: parquet/uploads/<job id>)"),
    options: str = Form(None, description='Conversion options as JSON, e.g. {"null_values": ["N/A"]}'),
    force: bool = Form(False, description="Run again even if an identical conversion already succeeded"),
):
    """Multipart upload of one or more files (csv, tsv, txt, json, jsonl, xlsx, xls, pdf, parquet, or .gz of the
    text formats). Same job and result as `POST /api/conversions`."""
    if not files:
        raise ServiceError("upload at least one file in the `files` field", code="invalid_request")
    try:
        parsed = ConversionOptions.model_validate_json(options) if options else ConversionOptions()
    except ValidationError as exc:
        fields = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors()]
        raise ServiceError(f"options: {summarize(exc, 3)}", code="invalid_option", details=fields) from None
    payload = ConversionRequest(source="uploads", output=output or None, options=parsed, force=force)
    storage = request_storage(request)
    if output:  # before the upload is stored
        from ...storage import check_output

        check_output(storage, output)
    stored = [storage.store_upload(f, f.name or "upload") for f in files]
    return accepted(
        *conversion_submit(owner=request.auth, request=payload, storage=storage, uploads=stored, **job_scope(request))
    )


class PreviewQuery(Schema):
    location: str = Field(description="A Parquet file under the data root", examples=["parquet/sales.parquet"])
    rows: int = Field(20, ge=0, le=1000, description="How many rows to show")


@router.get(
    "/datasets/preview",
    response={200: DatasetPreviewOut, **ERRORS},
    url_name="dataset_preview",
    summary="Schema, row count and first rows of a Parquet file",
)
def dataset_preview(request, query: Query[PreviewQuery]):
    return preview_parquet(request_storage(request), query.location, rows=query.rows)
