"""Conversion options: one validated, JSON-serialisable set per job.

Every option is optional; `ConvertOptions.from_dict` checks names, types and
ranges and raises `ServiceError` naming the option to fix. The same object is
recorded (as `as_dict()`) in every output's Parquet key-value metadata.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ...errors import ServiceError

FORMATS = ("csv", "tsv", "txt", "json", "jsonl", "xlsx", "xls", "pdf", "parquet")
COMPRESSIONS = ("zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed")

# Friendly type names users may give in `column_types`, mapped to DuckDB types.
TYPE_ALIASES: dict[str, str] = {
    "string": "VARCHAR",
    "str": "VARCHAR",
    "text": "VARCHAR",
    "varchar": "VARCHAR",
    "int": "BIGINT",
    "integer": "BIGINT",
    "int64": "BIGINT",
    "bigint": "BIGINT",
    "int32": "INTEGER",
    "int16": "SMALLINT",
    "int8": "TINYINT",
    "float": "DOUBLE",
    "float64": "DOUBLE",
    "double": "DOUBLE",
    "float32": "FLOAT",
    "decimal": "DECIMAL(38,10)",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP",
    "datetime": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ",
    "json": "JSON",
}


def duckdb_type(name: str, *, column: str) -> str:
    t = TYPE_ALIASES.get(str(name).strip().lower())
    if t is None:
        raise ServiceError(
            f"column_types: unknown type {name!r} for column {column!r}; use one of {sorted(TYPE_ALIASES)}",
            code="invalid_option",
            details={"option": "column_types", "column": column},
        )
    return t


@dataclass
class ConvertOptions:
    format: str | None = None  # force one input format for every file
    format_overrides: dict[str, str] = field(default_factory=dict)  # glob on the relative path -> format
    compression: str = "zstd"
    compression_level: int | None = None
    row_group_size: int = 61_440
    parquet_version: str = "v1"  # v2: newer encodings (smaller, faster to write) that older readers lack
    delimiter: str | None = None
    quote: str | None = None
    encoding: str | None = None
    header: bool | None = None  # None: detect
    null_values: list[str] = field(default_factory=list)
    column_types: dict[str, str] = field(default_factory=dict)
    sheets: list[str] | None = None  # None: every sheet
    columns: list[str] | None = None  # None: every column
    max_line_size: int = 2 * 1024 * 1024  # DuckDB reads in buffers of 16x this: keep it modest
    pdf_timeout_seconds: float = 120.0
    pdf_password: str | None = None
    max_uncompressed_bytes: int = 1024**3  # for xlsx (zip) parts
    max_compression_ratio: int = 200

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ConvertOptions:
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ServiceError(
                f"unknown conversion option(s) {unknown}; known options: {sorted(known)}",
                code="invalid_option",
                details={"unknown": unknown},
            )
        data = {k: v for k, v in data.items() if v is not None or k in ("header",)}
        try:
            opts = cls(**data)
        except TypeError as exc:  # pragma: no cover - dataclass guards names above
            raise ServiceError(str(exc), code="invalid_option") from None
        opts.validate()
        return opts

    def validate(self) -> None:
        def bad(option: str, message: str) -> ServiceError:
            return ServiceError(f"{option}: {message}", code="invalid_option", details={"option": option})

        if self.format is not None:
            self.format = normalise_format(self.format, option="format")
        if not isinstance(self.format_overrides, dict):
            raise bad("format_overrides", "give an object of {glob: format}")
        self.format_overrides = {
            str(k): normalise_format(v, option="format_overrides") for k, v in self.format_overrides.items()
        }
        self.compression = str(self.compression).lower()
        if self.compression not in COMPRESSIONS:
            raise bad("compression", f"use one of {list(COMPRESSIONS)}")
        if self.compression_level is not None and not (
            isinstance(self.compression_level, int) and -7 <= self.compression_level <= 22
        ):
            raise bad("compression_level", "give an integer (zstd: 1..22)")
        if not isinstance(self.row_group_size, int) or not 1_000 <= self.row_group_size <= 10_000_000:
            raise bad("row_group_size", "give an integer between 1000 and 10000000")
        self.parquet_version = str(self.parquet_version).lower()
        if self.parquet_version not in ("v1", "v2"):
            raise bad("parquet_version", 'use "v1" (every reader) or "v2" (newer encodings)')
        for name in ("delimiter", "quote"):
            value = getattr(self, name)
            if value is not None:
                if value in ("\\t", "tab"):
                    value = "\t"
                if not isinstance(value, str) or len(value) != 1:
                    raise bad(name, "give exactly one character (use \\t for tab)")
                setattr(self, name, value)
        if self.encoding is not None:
            import codecs

            try:
                self.encoding = codecs.lookup(self.encoding).name
            except LookupError:
                raise bad("encoding", f"unknown encoding {self.encoding!r}") from None
        if self.header is not None and not isinstance(self.header, bool):
            raise bad("header", "give true, false or leave it out to detect")
        if not isinstance(self.null_values, list) or not all(isinstance(v, str) for v in self.null_values):
            raise bad("null_values", 'give a list of strings, e.g. ["N/A", "-"]')
        if not isinstance(self.column_types, dict):
            raise bad("column_types", "give an object of {column: type}")
        self.column_types = {str(c): duckdb_type(t, column=str(c)) for c, t in self.column_types.items()}
        for name in ("sheets", "columns"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise bad(name, "give a list of names")
            if value is not None and not value:
                raise bad(name, "give at least one name, or leave the option out for all")
        if not isinstance(self.max_line_size, int) or self.max_line_size < 1024:
            raise bad("max_line_size", "give a number of bytes >= 1024")
        if not isinstance(self.pdf_timeout_seconds, int | float) or not 0 < self.pdf_timeout_seconds <= 24 * 3600:
            raise bad("pdf_timeout_seconds", "give a number of seconds > 0")
        if not isinstance(self.max_uncompressed_bytes, int) or self.max_uncompressed_bytes < 1024:
            raise bad("max_uncompressed_bytes", "give a number of bytes")
        if not isinstance(self.max_compression_ratio, int) or self.max_compression_ratio < 2:
            raise bad("max_compression_ratio", "give an integer >= 2")

    def format_for(self, relative_path: str) -> str | None:
        """The format forced for this file by `format_overrides` or `format`, if any."""
        for pattern, fmt in self.format_overrides.items():
            if fnmatch.fnmatch(relative_path, pattern) or fnmatch.fnmatch(relative_path.rsplit("/", 1)[-1], pattern):
                return fmt
        return self.format

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("pdf_password", None)  # never recorded in outputs
        return d


def normalise_format(value: str, *, option: str) -> str:
    v = str(value).lower().lstrip(".")
    v = {"ndjson": "jsonl", "xlsm": "xlsx", "tab": "tsv"}.get(v, v)
    if v not in FORMATS:
        raise ServiceError(
            f"{option}: unknown format {value!r}; use one of {list(FORMATS)}",
            code="invalid_option",
            details={"option": option},
        )
    return v
