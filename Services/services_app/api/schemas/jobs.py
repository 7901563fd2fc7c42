from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobOut(Schema):
    id: UUID
    kind: str = Field(examples=["demo.sleep"])
    status: JobStatus
    queue: str
    owner: str = Field(alias="owner.username")
    progress: float = Field(description="Fraction done, 0..1")
    progress_message: str
    params: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[str]
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobFilters(Schema):
    kind: str | None = Field(None, description="Only jobs of this kind", examples=["conversion.parquet"])
    status: JobStatus | None = None
