"""The pipelines' request models: the body of a run request, and the run as stored on its Job.

``force`` is part of the run here (it reruns unchanged stages), so unlike other
capabilities it is kept in the job's params."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ...params import RequestModel


class PipelineRunRequest(RequestModel):
    """Run a DVC pipeline (``dvc repro``) with parameter overrides."""

    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameter overrides by dotted key (every key must exist in the pipeline's params.yaml)",
        examples=[{"train.C": 2.0, "featurize.method": "tfidf"}],
    )
    stages: list[str] = Field(
        default_factory=list, description="Run only these stages (and what they need); empty: the whole pipeline"
    )
    force: bool = Field(False, description="Rerun every stage even when nothing changed, and run a new job")
    require_pass: bool = Field(False, description="End the job failed when a model test fails")
    time_limit_seconds: int = Field(3600, ge=10, le=6 * 3600, description="Stop the run after this many seconds")

    model_config = {"json_schema_extra": {"examples": [{"params": {"train.C": 2.0}, "stages": [], "force": False}]}}


class PipelineRun(PipelineRunRequest):
    """A run request with the pipeline it names (the path parameter of the API): what the job receives."""

    pipeline: str = Field(min_length=1, max_length=200)

    def job_params(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
