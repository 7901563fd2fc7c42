from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from .jobs import JobStatus


class RunFileOut(Schema):
    name: str
    size: int
    sha256: str
    received: int = Field(description="Bytes the server has; resume the upload from here")


class UploadOut(Schema):
    run_id: UUID
    status: Literal["uploading", "submitted"]
    part_bytes: int = Field(description="The largest part the server accepts")
    files: list[RunFileOut]


class RunJobOut(Schema):
    id: UUID
    status: JobStatus
    progress: float
    progress_message: str
    error: dict[str, Any] | None


class RunOut(Schema):
    id: UUID
    project: str
    name: str
    task_type: str
    labels: list[str]
    owner: str = Field(alias="owner.username")
    status: str = Field(description="uploading, then the job's status: queued, running, succeeded, failed or cancelled")
    job: RunJobOut | None
    splits: dict[str, Any] | None = Field(None, description="Per-split summary once processed")
    created_at: datetime

    @staticmethod
    def resolve_status(obj) -> str:
        return obj.job.status if obj.job is not None else "uploading"

    @staticmethod
    def resolve_splits(obj):
        if obj.job is None or not obj.job.result:
            return None
        return obj.job.result.get("splits")


class RunFilters(Schema):
    project: str | None = Field(None, description="Only runs of this project", examples=["esg"])


class PartOut(Schema):
    name: str
    received: int


class SamplesQuery(Schema):
    split: str = Field("training", examples=["training", "validation", "inference_new_topic"])
    filter: str | None = Field(
        None,
        description="Comma-separated; all must hold: likely_mislabelled, on_boundary, out_of_coverage, wrong, "
        "correct, or <column>:<value> (label, predicted, suggested_label, band, cluster, metadata columns)",
        examples=["likely_mislabelled,label:sports"],
    )
    sort: Literal["dep", "aum", "margin", "label_quality", "knn_distance", "confidence", "forgotten", "id"] = Field(
        "dep", description="Column to sort by"
    )
    descending: bool = Field(True, description="Worst first for dep and knn_distance")
    page: int = Field(1, ge=1)
    page_size: int = Field(50, ge=1, le=1000)


class SamplesOut(Schema):
    split: str
    filter: str
    sort: str
    descending: bool
    total: int = Field(description="Samples that pass the filter")
    page: int
    page_size: int
    items: list[dict[str, Any]]


class ExportQuery(Schema):
    split: str = "training"
    format: Literal["csv", "label_studio"] = Field("csv", description="CSV, or Label Studio import JSON")
    filter: str | None = Field("likely_mislabelled", description="As for /samples; empty for every sample")
    sort: str = "dep"
    limit: int = Field(100_000, ge=1, le=1_000_000)


class CompareQuery(Schema):
    split: str = "training"
    limit: int = Field(1000, ge=0, le=100_000, description="At most this many ids per list")
