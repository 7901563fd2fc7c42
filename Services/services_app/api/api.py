"""The one NinjaAPI of the project: auth, error shape, routers.

Every endpoint needs an ``X-API-Key`` except `/api/health` and the docs.
Every error, ours or ninja's, answers ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from ..errors import ServiceError
from .auth import ApiKeyAuth
from .routers import (
    build_knowledgebase,
    data_download,
    data_processor_classification_job,
    health,
    incoming_data_deepcheck,
    jobs,
    language_models,
    model_downloader,
    parquet_conversion,
    pipelines,
    training_runs,
)

log = logging.getLogger(__name__)


class ServicesAPI(NinjaAPI):
    """The NinjaAPI, with every operation documenting the statuses it can answer.

    401 on every operation that needs a key; 422 on every operation that takes parameters or a body (ninja
    validates them); both in the one error shape. Written once here so no router can forget them."""

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
        if "ErrorOut" not in schema.get("components", {}).get("schemas", {}):
            return schema
        for operations in schema["paths"].values():
            for op in operations.values():
                responses = op.setdefault("responses", {})
                codes = {int(c) for c in responses}
                if op.get("security") and 401 not in codes:
                    responses[401] = {"description": "No API key, or an unknown or revoked one", **ref}
                if (op.get("parameters") or op.get("requestBody")) and 422 not in codes:
                    responses[422] = {"description": "A parameter or the body is not valid", **ref}
        return schema


api = ServicesAPI(
    title="Services",
    version="1.0",
    description=(
        "ML data operations: Parquet conversion, knowledge bases, incoming data checks, training datasets, "
        "language models, and model sync. Long operations answer 202 with a job; poll `GET /api/jobs/{id}`. "
        "Click **Authorize** and paste your API key (`make run` prints one).\n\n"
        "**Workspaces**: every request acts in a workspace; name it with the `X-Workspace` header or the "
        "`workspace` query parameter, else your default workspace is used. Locations are paths inside the "
        "workspace's folder or `gs://` objects in its buckets; you reach only your workspaces' jobs and data. "
        "Any job-creating request may ask for a shorter time limit with `?time_limit=<seconds>`."
    ),
    auth=ApiKeyAuth(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request, status: int, code: str, message: str, details=None):
    return api.create_response(
        request, {"error": {"code": code, "message": message, "details": details}}, status=status
    )


@api.exception_handler(ServiceError)
def on_service_error(request, exc: ServiceError):
    return _error(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    fields = []
    for err in exc.errors:
        loc = [str(p) for p in err.get("loc", ())]
        fields.append({"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type", "")})
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    return _error(request, 422, "validation_error", f"the request is not valid: {summary}", fields)


@api.exception_handler(AuthenticationError)
def on_auth_error(request, exc):
    return _error(request, 401, "unauthorized", "a valid API key is required in the X-API-Key header")


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(MultiPartParserError)
def on_bad_multipart(request, exc):
    return _error(
        request, 400, "bad_multipart", f"the multipart body cannot be read ({exc}); send multipart/form-data with files"
    )


@api.exception_handler(RequestDataTooBig)
def on_too_big(request, exc):
    return _error(request, 413, "too_large", str(exc) or "the request body is too large")


@api.exception_handler(TooManyFilesSent)
def on_too_many_files(request, exc):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
    return _error(
        request,
        400,
        "too_many_files",
        f"the request holds more than {limit} files; send at most {limit} per request (SERVICES_MAX_UPLOAD_FILES)",
        {"max_files": limit},
    )


@api.exception_handler(TooManyFieldsSent)
def on_too_many_fields(request, exc):
    limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
    return _error(request, 400, "too_many_fields", f"the request holds more than {limit} form fields")


@api.exception_handler(SuspiciousOperation)
def on_suspicious(request, exc):
    log.warning("suspicious request on %s: %s", request.path, exc)
    return _error(request, 400, "bad_request", "the request cannot be processed as sent")


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    cause = exc.__cause__  # django-ninja wraps a body it cannot parse as "Cannot parse request body"
    if isinstance(cause, json.JSONDecodeError):
        return _error(
            request,
            400,
            "invalid_json",
            f"the request body is not valid JSON: {cause.msg} at line {cause.lineno}, column {cause.colno}; "
            "send one JSON object with Content-Type: application/json",
            {"line": cause.lineno, "column": cause.colno},
        )
    if isinstance(cause, UnicodeDecodeError):
        return _error(
            request, 400, "invalid_json", f"the request body is not UTF-8 text (byte {cause.start}); send UTF-8 JSON"
        )
    return _error(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(Exception)
def on_unexpected(request, exc: Exception):
    log.exception("unhandled error on %s", request.path)
    return _error(request, 500, "internal_error", "an unexpected error occurred; it has been logged")


api.add_router("", health.router)
api.add_router("", jobs.router)
api.add_router("", parquet_conversion.router)
api.add_router("", build_knowledgebase.router)
api.add_router("", incoming_data_deepcheck.router)
api.add_router("", data_processor_classification_job.router)
api.add_router("", model_downloader.router)
api.add_router("", data_download.router)
api.add_router("", pipelines.router)
api.add_router("", language_models.router)
api.add_router("", training_runs.router)
