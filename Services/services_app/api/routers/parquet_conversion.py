"""HTTP door of the Parquet conversion capability (`services_app.capabilities.conversion`); previews of any Parquet."""

import json

from ninja import File, Form, Query, Router, Schema
from ninja.files import UploadedFile
from pydantic import Field, ValidationError

from ...capabilities.conversion.options import ConvertOptions
from ...capabilities.conversion.preview import preview_parquet
from ...errors import ServiceError
from ...workspaces import request_storage
from ..jobs import submit
from ..schemas.common import ERRORS
from ..schemas.conversion import ConversionIn, ConversionOptionsIn, DatasetPreviewOut
from ..schemas.jobs import JobOut

router = Router(tags=["Parquet conversion"])

KIND = "conversion.parquet"


def _options(options: ConversionOptionsIn) -> dict:
    data = options.dict(exclude_unset=True)
    ConvertOptions.from_dict(data)  # 400 now for a bad option, not a failed job later
    return data


def _check_output(storage, output: str) -> None:
    """A 4xx now for an output outside the data root or on a bucket not allowed."""
    if output.startswith("gs://"):
        from ...storage import parse_gcs

        storage.check_bucket(parse_gcs(output)[0])
    else:
        storage.resolve_output(output)


@router.post(
    "/conversions",
    response={200: JobOut, 202: JobOut, **ERRORS},
    url_name="conversion_create",
    summary="Convert a file or folder under the data root to Parquet",
)
def create_conversion(request, payload: ConversionIn):
    """Answers 202 with a `conversion.parquet` job; poll `GET /api/jobs/{id}`. A folder converts recursively
    and keeps its subfolders; the job result has one entry per file (status, rows, columns, schema, bytes in
    and out, seconds, warnings or the error). An identical earlier conversion of unchanged input is
    returned with 200 unless `force`."""
    storage = request_storage(request)
    options = _options(payload.options)
    inputs = [storage.fingerprint(payload.source)]
    if payload.output:
        _check_output(storage, payload.output)
    params = {"source": payload.source, "output": payload.output, "options": options}
    return submit(request, kind=KIND, params=params, inputs=inputs, force=payload.force)


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
        parsed = ConversionOptionsIn(**json.loads(options)) if options else ConversionOptionsIn()
    except (json.JSONDecodeError, TypeError) as exc:
        raise ServiceError(f"options: not a JSON object ({exc})", code="invalid_option") from None
    except ValidationError as exc:
        fields = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg", "")} for e in exc.errors()]
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:3])
        raise ServiceError(f"options: {summary}", code="invalid_option", details=fields) from None
    storage = request_storage(request)
    if output:
        _check_output(storage, output)
    stored = [storage.store_upload(f, f.name or "upload") for f in files]
    params = {"files": [s.location for s in stored], "output": output, "options": _options(parsed)}
    inputs = [{"location": s.location, "sha256": s.sha256} for s in stored]
    return submit(request, kind=KIND, params=params, inputs=inputs, force=force)


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
