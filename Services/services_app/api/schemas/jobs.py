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
    workspace: str | None = Field(None, alias="workspace.slug", description="The workspace the job belongs to")
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


class DemoJobIn(Schema):
    seconds: float = Field(2.0, ge=0, le=600, description="How long the job runs")
    steps: int = Field(10, ge=1, le=1000, description="How many progress reports it makes")
    message: str = Field("", max_length=200)
    fail: bool = Field(False, description="End with a structured error instead")
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    model_config = {"json_schema_extra": {"examples": [{"seconds": 5, "steps": 5, "message": "hello"}]}}
