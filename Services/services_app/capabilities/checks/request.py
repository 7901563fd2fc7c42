"""The one request model of the incoming data checks: the router's body, the Job's stored params
(``job_params()``, without ``force``), what the job function validates (``ChecksRequest.from_params``)
and what the command builds. Unknown fields are refused, naming the known ones.

    ChecksRequest(dataset="incoming/b.csv", reference="train.csv", label="y")
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ...params import RequestModel

KIND = "checks.incoming"
TASKS = ("tabular", "text_classification")
SUITES = ("integrity", "drift")


def _columns(value: Any) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError("give a column name or a list of column names")


class EmbeddingsRequest(RequestModel):
    enabled: bool = Field(True, description="Compute embeddings for the text checks (drift, label issues, duplicates)")
    provider: Literal["local", "openai"] | None = Field(
        None, description="Default: EMBEDDINGS_PROVIDER (local: all-MiniLM-L6-v2 on this machine)"
    )
    model: str | None = Field(None, description="Default: EMBEDDINGS_MODEL, else the provider's default")


class ChecksRequest(RequestModel):
    """What to check, against what, and how strictly."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "dataset": "incoming/esg_batch_2024_06.parquet",
                    "reference": "training/esg_train.parquet",
                    "label": "label",
                    "text": "sentence",
                    "task": "text_classification",
                    "conditions": {"embedding_drift": {"max_drift": 0.3}},
                    "max_rows": 20000,
                    "fix_budget": 200,
                },
                {"dataset": "incoming/loans.csv", "reference": "training/loans.csv", "label": "default"},
                {
                    "dataset": "gs://esg-data/incoming/2024-06/",
                    "reference": "gs://esg-data/training/esg_train.parquet",
                    "label": "label",
                    "text": "sentence",
                },
            ]
        },
    )

    dataset: str = Field(
        min_length=1,
        description="The new batch: a location under the data root or gs://<bucket>/<key> (an allowed bucket); "
        "a file (csv, tsv, parquet, jsonl, json, xlsx/xls, ...) or a folder/prefix of Parquet files",
    )
    reference: str | None = Field(
        None, description="What the model was trained on (same kinds of location); needed for the drift suite"
    )
    label: str = Field(min_length=1, description="The label column")
    text: list[str] = Field(
        default_factory=list, description="Text column(s) (a name, a comma-separated string or a list)"
    )
    task: Literal["tabular", "text_classification"] | None = Field(
        None, description="Default: text_classification when text is given, else tabular"
    )
    suites: list[Literal["integrity", "drift"]] = Field(
        default_factory=list, description="Default: integrity, and drift when a reference is given"
    )
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description='Per check id, settings over the defaults, e.g. {"feature_drift": {"max_wasserstein": 0.2}, '
        '"text_duplicates": {"enabled": false}}. GET /api/checks/conditions lists them.',
    )
    ignore_columns: list[str] = Field(default_factory=list, description="Columns left out of every check")
    max_rows: int | None = Field(
        None, ge=10, description="Check a reproducible sample of this many rows, stratified by label"
    )
    seed: int = Field(42, description="Seed of every sample and cross-validation split")
    embeddings: EmbeddingsRequest = Field(default_factory=EmbeddingsRequest)
    fix_budget: int = Field(
        100, ge=1, le=100_000, description="Rows in the ranked fix-first list and the relabelling exports"
    )
    wandb: bool = Field(True, description="Record a wandb run (offline unless WANDB_API_KEY is set)")
    output: str | None = Field(None, description="Output folder under the data root (default checks/<job id>)")
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    @field_validator("text", "ignore_columns", "suites", mode="before")
    @classmethod
    def _split(cls, value: Any) -> list[str]:
        return _columns(value)

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> dict:
        return value or {}

    @field_validator("embeddings", mode="before")
    @classmethod
    def _embeddings(cls, value: Any) -> Any:
        return value or {}

    @model_validator(mode="after")
    def _defaults(self) -> ChecksRequest:
        if self.task is None:
            self.task = "text_classification" if self.text else "tabular"
        if self.task == "text_classification" and not self.text:
            raise ValueError("task text_classification needs text: the text column(s)")
        if not self.suites:
            self.suites = list(SUITES) if self.reference else ["integrity"]
        if "drift" in self.suites and not self.reference:
            raise ValueError("the drift suite needs a reference dataset to compare with")
        return self

    def settings(self, defaults_file=None) -> dict[str, dict]:
        """Per check id, the settings that apply: defaults, the project file, then ``conditions``
        (ServiceError ``invalid_conditions`` with the valid names and settings)."""
        from .conditions import resolve_conditions

        return resolve_conditions(self.task, self.conditions, defaults_file=defaults_file)
