from typing import Literal

from ninja import Field, Schema

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}$"


class ModelSideOut(Schema):
    files: int = Field(description="Number of files in the version")
    size: int = Field(description="Total bytes")
    checksum: str = Field(description="md5 of the version's manifest (sorted `path<TAB>md5` lines)")
    location: str | None = Field(None, description="gs:// prefix of the version in the bucket")
    path: str | None = Field(None, description="Local folder of the version")


class ModelVersionOut(Schema):
    name: str = Field(examples=["esg-classifier"])
    version: str = Field(examples=["v3"])
    status: Literal["in_sync", "differs", "remote_only", "local_only"]
    in_sync: bool
    remote: ModelSideOut | None
    local: ModelSideOut | None


class ModelFilters(Schema):
    name: str | None = Field(None, description="Only this model", examples=["esg-classifier"])
    status: Literal["in_sync", "differs", "remote_only", "local_only"] | None = None


class ModelDownloadIn(Schema):
    name: str = Field(pattern=NAME_PATTERN, description="Model name (first folder in the bucket)")
    version: str = Field(pattern=NAME_PATTERN, description="Model version (second folder)")
    workers: int = Field(8, ge=1, le=64, description="Parallel transfers")
    force: bool = Field(False, description="Run a new job even if an identical one already succeeded")

    model_config = {"json_schema_extra": {"examples": [{"name": "esg-classifier", "version": "v3"}]}}


class ModelUploadIn(Schema):
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


class ModelSyncIn(Schema):
    direction: Literal["models-local", "models-gcp"] = Field(
        description="models-local: bucket to the local models root; models-gcp: local models root to the bucket"
    )
    name: str | None = Field(None, description="Only this model (default: every model)")
    version: str | None = Field(None, description="Only this version of `name`")
    dry_run: bool = Field(False, description="List what would move; move nothing")
    delete: bool = Field(False, description="Also delete what the source side lacks")
    workers: int = Field(8, ge=1, le=64, description="Parallel transfers")

    model_config = {"json_schema_extra": {"examples": [{"direction": "models-local", "dry_run": True}]}}
