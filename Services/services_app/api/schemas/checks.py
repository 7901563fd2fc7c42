from typing import Any, Literal

from ninja import Field, Schema


class EmbeddingsIn(Schema):
    enabled: bool = Field(True, description="Compute embeddings for the text checks (embedding drift)")
    provider: Literal["local", "openai"] | None = Field(
        None, description="Default: EMBEDDINGS_PROVIDER (local: all-MiniLM-L6-v2 on this machine)"
    )
    model: str | None = Field(None, description="Default: EMBEDDINGS_MODEL, else the provider's default")


class ChecksIn(Schema):
    dataset: str = Field(
        description="The new batch: a location under the data root or gs://<bucket>/<key> (an allowed bucket); "
        "a file (csv, tsv, parquet, jsonl, json, xlsx/xls, ...) or a folder/prefix of Parquet files"
    )
    reference: str | None = Field(
        None, description="What the model was trained on (same kinds of location); needed for the drift suite"
    )
    label: str = Field(description="The label column")
    text: str | list[str] | None = Field(None, description="Text column(s); joined by a newline when several")
    task: Literal["tabular", "text_classification"] | None = Field(
        None, description="Default: text_classification when text is given, else tabular"
    )
    suites: list[Literal["integrity", "drift"]] | None = Field(
        None, description="Default: integrity, and drift when a reference is given"
    )
    conditions: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per check id, settings that override the defaults, e.g. {"feature_drift": '
        '{"max_numeric_drift": 0.3}, "text_duplicates": {"enabled": false}}. GET /api/checks/conditions lists them.',
    )
    ignore_columns: list[str] = Field(default_factory=list, description="Columns left out of every check")
    max_rows: int | None = Field(
        None, ge=10, description="Check a reproducible sample of this many rows, stratified by label"
    )
    seed: int = Field(42, description="Seed of the sample")
    embeddings: EmbeddingsIn = Field(default_factory=EmbeddingsIn)
    wandb: bool = Field(True, description="Record a wandb run (offline unless WANDB_API_KEY is set)")
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "dataset": "incoming/esg_batch_2024_06.parquet",
                    "reference": "training/esg_train.parquet",
                    "label": "label",
                    "text": "sentence",
                    "task": "text_classification",
                    "conditions": {"embedding_drift": {"max_drift": 0.3}},
                    "max_rows": 20000,
                },
                {"dataset": "incoming/loans.csv", "reference": "training/loans.csv", "label": "default"},
                {
                    "dataset": "gs://esg-data/incoming/2024-06/",
                    "reference": "gs://esg-data/training/esg_train.parquet",
                    "label": "label",
                    "text": "sentence",
                },
            ]
        }
    }


class ConditionsOut(Schema):
    tabular: dict[str, dict[str, Any]]
    text_classification: dict[str, dict[str, Any]]
