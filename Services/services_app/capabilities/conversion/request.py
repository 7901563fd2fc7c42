"""The Parquet conversion's one request model: router body, stored Job params, job input, command options.

`ConversionJob` is what a job holds: the same request, or uploaded files (``files``) instead of a ``source``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ...params import RequestModel

KIND = "conversion.parquet"

Format = Literal["csv", "tsv", "txt", "json", "jsonl", "ndjson", "xlsx", "xlsm", "xls", "ods", "pdf", "parquet"]


class ConversionOptions(RequestModel):
    """Every option is optional; leave it out to detect or use the default. Unknown options are refused
    (422 naming them and listing the known ones), never silently dropped."""

    format: Format | None = Field(None, description="Read every file as this format (default: from the extension)")
    format_overrides: dict[str, Format] = Field(
        default_factory=dict,
        description='Per-file format by glob on the relative path, e.g. {"*.dat": "csv"}',
        examples=[{"*.dat": "csv"}],
    )
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"] = Field(
        "snappy",
        description="Parquet codec. snappy: the fastest to write and read (DuckDB's and pyarrow's default); zstd: "
        "files about a third smaller for about a tenth more time",
        examples=["zstd"],
    )
    compression_level: int | None = Field(None, ge=-7, le=22, description="zstd level (default: 1)")
    row_group_size: int = Field(61_440, ge=1_000, le=10_000_000, description="Rows per Parquet row group")
    parquet_version: Literal["v1", "v2"] = Field(
        "v1",
        description="v1: readable everywhere. v2: delta and byte-stream-split encodings, smaller and faster "
        "to write, for readers from about 2022 on (pyarrow, DuckDB, Polars, Spark 3.2+)",
    )
    delimiter: str | None = Field(None, description="Field delimiter (default: detected); \\t for tab", examples=[";"])
    quote: str | None = Field(None, description='Quote character (default: ")')
    encoding: str | None = Field(None, description="Text encoding (default: detected)", examples=["cp1252"])
    header: bool | None = Field(None, description="First row is a header (default: detected)")
    skip_rows: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Lines to skip before the header (default: a preamble is detected and skipped; 0 keeps every line)",
        examples=[1],
    )
    comment: str | None = Field(None, description="Skip lines starting with this character", examples=["#"])
    decimal: Literal[".", ","] | None = Field(
        None, description="Decimal separator of numbers written as text (default: detected per column)", examples=[","]
    )
    thousands: Literal["", ",", ".", " ", "'", "\u00a0", "\u202f"] | None = Field(
        None, description='Thousands separator ("" for none; default: detected per column)', examples=["."]
    )
    date_format: str | None = Field(
        None,
        max_length=40,
        description="How text dates are written, as a strftime pattern (default: detected; when no value shows "
        "whether the day or the month comes first, day-first is assumed and the report says so)",
        examples=["%m/%d/%Y"],
    )
    formulas: Literal["values", "text"] = Field(
        "values",
        description="Workbooks: the cached result of each formula (values) or the formula itself (text, e.g. =A2+30)",
    )
    null_values: list[str] = Field(
        default_factory=list, description="Values read as null besides empty fields", examples=[["N/A", "-"]]
    )
    column_types: dict[str, str] = Field(
        default_factory=dict,
        description="Type overrides: string, int, float, bool, date, timestamp, decimal, ...",
        examples=[{"zip_code": "string", "amount": "float"}],
    )
    sheets: list[str] | None = Field(None, description="Workbook sheets to convert (default: every sheet)")
    columns: list[str] | None = Field(None, description="Columns to keep (default: all)")
    max_line_size: int = Field(2 * 1024 * 1024, ge=1024, description="Longest line / JSON record, in bytes")
    pdf_timeout_seconds: float = Field(120.0, gt=0, le=86_400, description="Stop a PDF extraction after this")
    pdf_password: str | None = Field(None, description="Password of an encrypted PDF (never stored in outputs)")
    max_uncompressed_bytes: int = Field(1024**3, ge=1024, description="Refuse workbooks that inflate beyond this")
    max_compression_ratio: int = Field(200, ge=2, description="Refuse workbook parts that inflate more than this")


class ConversionRequest(RequestModel):
    """Convert a file or a folder tree (or uploaded files) to Parquet."""

    source: str = Field(
        min_length=1,
        max_length=4096,
        description="A file or folder under the data root (relative path), or gs://bucket/prefix",
        examples=["raw/sales.csv", "raw/batch-2024-11"],
    )
    output: str | None = Field(
        None,
        description="Output location: a .parquet file for one source file, else a folder "
        "(default: parquet/<source without extension>)",
        examples=["parquet/sales.parquet"],
    )
    options: ConversionOptions = Field(default_factory=ConversionOptions)
    batch_files: int | None = Field(
        None, ge=1, le=100_000, description="A local folder of more files than this fans out in batches (default 250)"
    )
    force: bool = Field(False, description="Run again even if an identical conversion already succeeded")

    def job_params(self) -> dict[str, Any]:
        """Stored on the Job: the options the caller gave (defaults are the reader's and the writer's own)."""
        params = super().job_params()
        params["options"] = self.options.model_dump(mode="json", exclude_unset=True)
        return params

    model_config = {
        "json_schema_extra": {
            "examples": [
                {"source": "raw/sales.csv"},
                {"source": "raw/batch", "output": "parquet/batch", "options": {"null_values": ["N/A"]}},
            ]
        }
    }


class ConversionJob(ConversionRequest):
    """The params of a ``conversion.parquet`` job: a ``source``, or the locations of uploaded ``files``."""

    source: str | None = Field(None, max_length=4096)
    files: list[str] = Field(default_factory=list, description="Uploaded files (their locations in the upload store)")

    @model_validator(mode="after")
    def _one_input(self) -> ConversionJob:
        if not self.source and not self.files:
            raise ValueError("give a source, or upload files")
        return self
