"""Response shapes of the Parquet conversion (its request model is `capabilities.conversion.request`)."""

from typing import Any

from ninja import Field, Schema


class ColumnOut(Schema):
    name: str
    type: str


class DatasetPreviewOut(Schema):
    location: str = Field(examples=["parquet/sales.parquet"])
    rows: int = Field(description="Row count of the whole file")
    columns: list[ColumnOut]
    row_groups: int
    bytes: int
    metadata: dict[str, Any] = Field(description="Parquet key-value metadata (source, sha256, options, ...)")
    preview: list[dict[str, Any]] = Field(description="The first rows")
