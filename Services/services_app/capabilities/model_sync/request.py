"""Model sync's request models (download, upload, sync): router body, stored Job params, job input, command.

The bucket is the deployment's (``GCS_MODELS_BUCKET``), not the caller's: the
submit functions record it beside the request as ``bucket``, and the job
functions read it from there."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, model_validator

from ...params import RequestModel

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}$"


class _InBucket(RequestModel):
    @classmethod
    def from_job(cls, params: dict[str, Any]) -> tuple[Self, str | None]:
        """The request and the bucket recorded beside it."""
        params = dict(params)
        bucket = params.pop("bucket", None)
        return cls.from_params(params), bucket


class ModelDownloadRequest(_InBucket):
    name: str = Field(pattern=NAME_PATTERN, description="Model name (first folder in the bucket)")
    version: str = Field(pattern=NAME_PATTERN, description="Model version (second folder)")
    workers: int = Field(8, ge=1, le=64, description="Parallel transfers")
    force: bool = Field(False, description="Run a new job even if an identical one already succeeded")

    model_config = {"json_schema_extra": {"examples": [{"name": "esg-classifier", "version": "v3"}]}}


class ModelUploadRequest(_InBucket):
    name: str = Field(pattern=NAME_PATTERN, description="Model name in the bucket")
    version: str = Field(pattern=NAME_PATTERN, description="Model version in the bucket")
    path: str | None = Field(
        None,
        description="Local folder to upload (absolute inside the models or data root, or relative to the data "
        "root); default `<MODELS_ROOT>/<name>/<version>`",
    )
    overwrite: bool = Field(False, description="Replace a version that exists in the bucket with other content")
    workers: int = Field(8, ge=1, le=64, description="Parallel transfers")
    force: bool = Field(False, description="Run a new job even if an identical one already succeeded")

    model_config = {
        "json_schema_extra": {"examples": [{"name": "esg-classifier", "version": "v4", "path": "training/out/model"}]}
    }


class ModelSyncRequest(_InBucket):
    direction: Literal["models-local", "models-gcp"] = Field(
        description="models-local: bucket to the local models root; models-gcp: local models root to the bucket"
    )
    name: str | None = Field(None, pattern=NAME_PATTERN, description="Only this model (default: every model)")
    version: str | None = Field(None, pattern=NAME_PATTERN, description="Only this version of `name`")
    dry_run: bool = Field(False, description="List what would move; move nothing")
    delete: bool = Field(False, description="Also delete what the source side lacks")
    workers: int = Field(8, ge=1, le=64, description="Parallel transfers")

    model_config = {"json_schema_extra": {"examples": [{"direction": "models-local", "dry_run": True}]}}

    @model_validator(mode="after")
    def _version_needs_name(self) -> ModelSyncRequest:
        if self.version and not self.name:
            raise ValueError("give `name` together with `version`")
        return self
