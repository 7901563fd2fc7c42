from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from ...params import redacted

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobSummaryOut(Schema):
    """A job in a list: everything but its inputs, outputs and result (read those with GET /api/jobs/{id})."""

    id: UUID
    kind: str = Field(description="What the job does, e.g. conversion.parquet or checks.incoming")
    status: JobStatus
    queue: str
    owner: str = Field(alias="owner.username")
    workspace: str | None = Field(None, alias="workspace.slug", description="The workspace the job belongs to")
    progress: float = Field(description="Fraction done, 0..1")
    progress_message: str
    params: dict[str, Any]
    outputs_count: int = Field(description="How many outputs the job wrote")
    error: dict[str, Any] | None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_params(obj) -> dict[str, Any]:
        return redacted(obj.params or {})

    @staticmethod
    def resolve_outputs_count(obj) -> int:
        return len(obj.outputs or [])


class JobOut(JobSummaryOut):
    """A job with its inputs (and their content hashes), its outputs and its result."""

    inputs: list[dict[str, Any]]
    outputs: list[str]
    result: dict[str, Any] | None


class JobFilters(Schema):
    kind: str | None = Field(None, description="Only jobs of this kind", examples=["conversion.parquet"])
    status: JobStatus | None = None
