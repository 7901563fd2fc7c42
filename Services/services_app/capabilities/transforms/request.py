"""The transforms' one request model: router body, stored Job params, job input, command and DVC stage options.

Shape and types are checked by pydantic (422 naming the field); what needs the
meaning of several fields (split fractions summing to 1, an output name) is
checked by `TransformRequest.check` (400 with a code of its own), at submit time
and again at job time."""

from __future__ import annotations

import math
from typing import Any, Literal, Self

from pydantic import Field, field_validator

from ...errors import ServiceError
from ...params import RequestModel

KIND = "transforms.dataset"
SPLITS = ("train", "validation", "test")


class Splits(RequestModel):
    """Fractions of the rows per split; they sum to 1 and train is above 0."""

    train: float = Field(0.8, ge=0, le=1)
    validation: float = Field(0.1, ge=0, le=1)
    test: float = Field(0.1, ge=0, le=1)

    def __getitem__(self, split: str) -> float:
        return float(getattr(self, split))


class TransformRequest(RequestModel):
    """Turn one csv/tsv/parquet/jsonl file into a training-ready dataset for a job type."""

    job_type: str = Field(
        min_length=1,
        description="classification, multilabel, ner or language_modeling (see GET /api/transforms/job-types)",
        examples=["classification"],
    )
    source: str = Field(
        min_length=1,
        max_length=4096,
        description="csv, tsv, parquet or jsonl under the data root or in an allowed bucket (gs://bucket/key), "
        "or an upload's location from POST /api/datasets/inspect",
        examples=["jobs/classification/source/reviews.csv"],
    )
    text_columns: list[str] = Field(
        default_factory=list, description="One or several columns, joined with text_separator"
    )
    text_separator: str = Field("\n", max_length=16, description="Joins several text columns")
    label_columns: list[str] = Field(
        default_factory=list,
        description="Classification: one column. Multi-label: one delimited column, or one 0/1 column per label",
    )
    label_delimiter: str | None = Field(
        None, max_length=16, description="Multi-label: separator inside the label column (default ',')"
    )
    spans_column: str | None = Field(
        None, max_length=256, description="NER: JSON list of {start, end, label} character spans"
    )
    tokens_column: str | None = Field(
        None, max_length=256, description="NER: tokens (list, JSON list or space-separated)"
    )
    tags_column: str | None = Field(None, max_length=256, description="NER: one tag per token (BIO, IOB or BIOES)")
    id_column: str | None = Field(
        None, max_length=256, description="Stable row id to hash for the split (default: the normalised text)"
    )
    splits: Splits = Field(default_factory=lambda: Splits())
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
        max_length=100,
        description="Output folder name under jobs/<job_type>/target/ (default: the job id)",
        examples=["reviews-v1"],
    )
    output: str | None = Field(
        None,
        max_length=4096,
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

    @field_validator("text_columns", "label_columns", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None or value == "":
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("label_delimiter", "spans_column", "tokens_column", "tags_column", "id_column", "name", "output")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @classmethod
    def from_params(cls, params: Any) -> Self:
        request = super().from_params(params)
        request.check()
        return request

    def check(self) -> None:
        """The checks that need several fields: split fractions, formats, the output name (400)."""
        values = {k: self.splits[k] for k in SPLITS}
        if any(math.isnan(v) for v in values.values()):
            raise ServiceError("split fractions must be between 0 and 1", code="invalid_splits", details=values)
        total = sum(values.values())
        if abs(total - 1.0) > 1e-6:
            raise ServiceError(
                f"split fractions must sum to 1 (got {total:g}: {values})", code="invalid_splits", details=values
            )
        if values["train"] <= 0:
            raise ServiceError("the train fraction must be above 0", code="invalid_splits", details=values)
        if not self.formats:
            raise ServiceError("formats must be a non-empty subset of parquet, jsonl", code="invalid_params")
        if any(not c for c in self.text_columns + self.label_columns):
            raise ServiceError("column names must not be empty", code="invalid_params")
        if self.name is not None and not self.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ServiceError("name may hold letters, digits, '-', '_' and '.' only", code="invalid_params")

    @property
    def fractions(self) -> tuple[float, float, float]:
        return (self.splits["train"], self.splits["validation"], self.splits["test"])

    def as_dict(self) -> dict[str, Any]:
        """The parameters as recorded in the dataset's manifest and card."""
        return self.job_params()


class InspectRequest(RequestModel):
    """Inspect a file already under the data root or in an allowed bucket (the JSON form of the inspect call)."""

    location: str = Field(min_length=1, max_length=4096, examples=["jobs/classification/source/reviews.csv"])
    sample_rows: int = Field(5, ge=0, le=100, description="How many rows to show")
