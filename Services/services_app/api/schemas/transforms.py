from typing import Any

from ninja import Field, Schema


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
