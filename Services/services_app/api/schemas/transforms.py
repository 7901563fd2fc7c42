from typing import Any, Literal

from ninja import Field, Schema


class SplitsIn(Schema):
    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)


class TransformIn(Schema):
    job_type: str = Field(
        description="classification, multilabel, ner or language_modeling (see GET /api/transforms/job-types)",
        examples=["classification"],
    )
    source: str = Field(
        description="csv, tsv, parquet or jsonl under the data root or in an allowed bucket (gs://bucket/key), "
        "or an upload's location from POST /api/datasets/inspect",
        examples=["jobs/classification/source/reviews.csv"],
    )
    text_columns: list[str] = Field(
        default_factory=list, description="One or several columns, joined with text_separator"
    )
    text_separator: str = "\n"
    label_columns: list[str] = Field(
        default_factory=list,
        description="Classification: one column. Multi-label: one delimited column, or one 0/1 column per label",
    )
    label_delimiter: str | None = Field(
        None, description="Multi-label: separator inside the label column (default ',')"
    )
    spans_column: str | None = Field(None, description="NER: JSON list of {start, end, label} character spans")
    tokens_column: str | None = Field(None, description="NER: tokens (list, JSON list or space-separated)")
    tags_column: str | None = Field(None, description="NER: one tag per token (BIO, IOB or BIOES)")
    id_column: str | None = Field(
        None, description="Stable row id to hash for the split (default: the normalised text)"
    )
    splits: SplitsIn = Field(default_factory=SplitsIn)
    stratify: bool | None = Field(None, description="Default: true for classification and multilabel")
    seed: int = 42
    deduplicate: bool = True
    min_text_length: int = Field(1, ge=0)
    drop_empty: bool = True
    keep_empty_labels: bool = False
    on_rare_class: Literal["warn", "error"] = "warn"
    on_invalid_row: Literal["drop", "fail"] = "drop"
    formats: list[Literal["parquet", "jsonl"]] = Field(default_factory=lambda: ["parquet", "jsonl"])
    name: str | None = Field(
        None,
        description="Output folder name under jobs/<job_type>/target/ (default: the job id)",
        examples=["reviews-v1"],
    )
    output: str | None = Field(
        None,
        description="Output folder under the data root or in an allowed bucket (overrides name)",
        examples=["gs://my-bucket/datasets/reviews-v1"],
    )
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "job_type": "classification",
                    "source": "jobs/classification/source/reviews.csv",
                    "text_columns": ["title", "body"],
                    "label_columns": ["sentiment"],
                    "splits": {"train": 0.8, "validation": 0.1, "test": 0.1},
                    "stratify": True,
                    "seed": 42,
                    "name": "reviews-v1",
                }
            ]
        }
    }


class ColumnOut(Schema):
    name: str
    type: str
    nulls: int = Field(description="Nulls among the sampled rows")
    distinct: int = Field(description="Distinct values among the sampled rows")
    looks_like: list[str] = Field(description="text, label, multilabel, label_indicator, spans, tokens, tags, id")
    examples: list[Any]


class InspectOut(Schema):
    location: str = Field(description="Use it as `source` in POST /api/transforms")
    format: str
    rows: int
    sampled_rows: int
    columns: list[ColumnOut]
    sample: list[dict[str, Any]]
    text_columns: list[str]
    label_columns: list[str]
    suggested_job_types: list[str]
    suggested_params: dict[str, Any]


class JobTypeOut(Schema):
    name: str
    title: str
    description: str
    stratify_default: bool
    output_columns: list[str]
