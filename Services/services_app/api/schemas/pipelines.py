from typing import Any

from ninja import Field, Schema


class StageOut(Schema):
    name: str = Field(examples=["train"])
    desc: str
    cmd: str
    deps: list[str]
    params: list[str]
    outs: list[str]
    metrics: list[str]
    plots: list[str]
    gpu: bool = Field(description="Can use a GPU: runs that include it go to the gpu queue")


class CheckOut(Schema):
    metric: str = Field(examples=["accuracy"])
    value: float | None
    min: float | None
    max: float | None
    passed: bool
    message: str


class LatestRunOut(Schema):
    job_id: str
    finished_at: str
    seconds: float | None
    params_overrides: dict[str, Any]
    stages_run: list[str]
    location: str = Field(description="Folder with the run's metrics, plots, params and report.md")


class PipelineOut(Schema):
    name: str = Field(examples=["text_classification"])
    description: str
    stages: list[StageOut]
    params: dict[str, Any] = Field(description="The pipeline's params.yaml")
    metrics: dict[str, dict[str, Any]] = Field(description="Latest metrics per file, nested keys dotted")
    metrics_source: str | None = Field(
        description="'run': from the latest run through the API; 'repository': the committed metrics; null: none",
        examples=["run"],
    )
    checks: list[CheckOut] = Field(description="The latest metrics against model_tests.yaml")
    passed: bool | None
    latest_run: LatestRunOut | None
