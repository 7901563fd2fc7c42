from typing import Any

from ninja import Field, Schema


class ConditionsOut(Schema):
    tabular: dict[str, dict[str, Any]]
    text_classification: dict[str, dict[str, Any]]


class RowsOut(Schema):
    total: int = Field(description="Rows matching the filter")
    offset: int
    limit: int
    rows: list[dict[str, Any]] = Field(
        description="Per row: row (position in the source file), label, label_quality, suggested_label, "
        "suggested_label_probability, duplicate_set (-1: none), duplicate_of_reference, outlier_score, issues, priority"
    )
