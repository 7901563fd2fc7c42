"""How to read a table: one validated, JSON-serialisable set of reading options.

Every option is optional: left out, the reader detects (and reports what it
detected); given, it overrides detection. `ReadOptions.from_dict` checks names,
types and ranges and raises `ServiceError` (``invalid_option``) naming the
option to fix and, for an unknown name, listing the known ones. Capabilities
that write what they read (the Parquet conversion) extend this class with
their own options.
"""

from __future__ import annotations

import codecs
import fnmatch
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from ..errors import ServiceError

FORMATS = ("csv", "tsv", "txt", "json", "jsonl", "xlsx", "xls", "ods", "pdf", "parquet")
DECIMALS = (".", ",")
THOUSANDS = ("", ",", ".", " ", "'", "\u00a0", "\u202f")
FORMULAS = ("values", "text")

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
NUMERIC_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL(38,10)")


def duckdb_type(name: str, *, column: str) -> str:
    t = TYPE_ALIASES.get(str(name).strip().lower())
    if t is None:
        raise ServiceError(
            f"column_types: unknown type {name!r} for column {column!r}; use one of {sorted(TYPE_ALIASES)}",
            code="invalid_option",
            details={"option": "column_types", "column": column},
        )
    return t


def _bad(option: str, message: str) -> ServiceError:
    return ServiceError(f"{option}: {message}", code="invalid_option", details={"option": option})


@dataclass
class ReadOptions:
    """Options of the one table reader (see docs/conversion.md, "Decisions the reader makes")."""

    format: str | None = None  # force one input format for every file
    format_overrides: dict[str, str] = field(default_factory=dict)  # glob on the relative path -> format
    delimiter: str | None = None  # None: detected (",", tab, ";", "|", or runs of spaces)
    quote: str | None = None
    encoding: str | None = None  # None: detected and ranked (see detect.rank_encodings)
    header: bool | None = None  # None: detect
    skip_rows: int | None = None  # None: a preamble is detected and skipped; 0 keeps every line
    comment: str | None = None  # lines starting with this character are skipped
    decimal: str | None = None  # None: detected per column ("." or ",")
    thousands: str | None = None  # None: detected per column; "" for none
    null_values: list[str] = field(default_factory=list)
    column_types: dict[str, str] = field(default_factory=dict)
    sheets: list[str] | None = None  # None: every sheet
    columns: list[str] | None = None  # None: every column
    date_format: str | None = None  # text dates, e.g. "%m/%d/%Y"; None: detected (day-first when undecidable, reported)
    formulas: str = "values"  # workbooks: "values" (cached results) or "text" (the formula itself, =A2+30)
    max_line_size: int = 2 * 1024 * 1024  # the read buffers are twice this (engine.csv_buffer_size)
    pdf_timeout_seconds: float = 120.0
    pdf_password: str | None = None
    max_uncompressed_bytes: int = 1024**3  # for xlsx (zip) parts
    max_compression_ratio: int = 200

    _nullable: ClassVar[tuple[str, ...]] = ("header",)
    _what: ClassVar[str] = "reading option"

    @classmethod
    def known(cls) -> list[str]:
        return sorted(f.name for f in fields(cls))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None):
        data = dict(data or {})
        known = cls.known()
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ServiceError(
                f"unknown {cls._what}(s) {unknown}; known options: {known}",
                code="invalid_option",
                details={"unknown": unknown, "known": known},
            )
        data = {k: v for k, v in data.items() if v is not None or k in cls._nullable}
        opts = cls(**data)
        opts.validate()
        return opts

    def validate(self) -> None:
        if self.format is not None:
            self.format = normalise_format(self.format, option="format")
        if not isinstance(self.format_overrides, dict):
            raise _bad("format_overrides", "give an object of {glob: format}")
        self.format_overrides = {
            str(k): normalise_format(v, option="format_overrides") for k, v in self.format_overrides.items()
        }
        for name in ("delimiter", "quote", "comment"):
            value = getattr(self, name)
            if value is not None:
                if value in ("\\t", "tab"):
                    value = "\t"
                if name == "delimiter" and value in ("space", "whitespace"):
                    value = " "
                if not isinstance(value, str) or len(value) != 1:
                    raise _bad(name, "give exactly one character (use \\t for tab)")
                setattr(self, name, value)
        if self.encoding is not None:
            try:
                self.encoding = codecs.lookup(self.encoding).name
            except (LookupError, TypeError):
                raise _bad("encoding", f"unknown encoding {self.encoding!r}") from None
        if self.header is not None and not isinstance(self.header, bool):
            raise _bad("header", "give true, false or leave it out to detect")
        if self.skip_rows is not None and (
            isinstance(self.skip_rows, bool) or not isinstance(self.skip_rows, int) or not 0 <= self.skip_rows <= 10_000
        ):
            raise _bad("skip_rows", "give a number of lines between 0 and 10000 (0: keep every line)")
        if self.decimal is not None and self.decimal not in DECIMALS:
            raise _bad("decimal", 'use "." or ","')
        if self.thousands is not None:
            if self.thousands in ("none", "None"):
                self.thousands = ""
            if self.thousands not in THOUSANDS:
                raise _bad("thousands", f'use one of {list(THOUSANDS)} ("" for none)')
        if self.decimal is not None and self.thousands and self.decimal == self.thousands:
            raise _bad("thousands", f"the thousands separator cannot be the decimal separator {self.decimal!r}")
        if not isinstance(self.null_values, list) or not all(isinstance(v, str) for v in self.null_values):
            raise _bad("null_values", 'give a list of strings, e.g. ["N/A", "-"]')
        if not isinstance(self.column_types, dict):
            raise _bad("column_types", "give an object of {column: type}")
        self.column_types = {str(c): duckdb_type(t, column=str(c)) for c, t in self.column_types.items()}
        for name in ("sheets", "columns"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                raise _bad(name, "give a list of names")
            if value is not None and not value:
                raise _bad(name, "give at least one name, or leave the option out for all")
        if self.date_format is not None and (
            not isinstance(self.date_format, str)
            or not all(p in self.date_format for p in ("%d", "%m"))
            or not any(p in self.date_format for p in ("%Y", "%y"))
        ):
            raise _bad("date_format", 'give a strftime pattern with %d, %m and %Y (or %y), e.g. "%m/%d/%Y"')
        if self.formulas not in FORMULAS:
            raise _bad("formulas", f"use one of {list(FORMULAS)}")
        if not isinstance(self.max_line_size, int) or self.max_line_size < 1024:
            raise _bad("max_line_size", "give a number of bytes >= 1024")
        if not isinstance(self.pdf_timeout_seconds, int | float) or not 0 < self.pdf_timeout_seconds <= 24 * 3600:
            raise _bad("pdf_timeout_seconds", "give a number of seconds > 0")
        if not isinstance(self.max_uncompressed_bytes, int) or self.max_uncompressed_bytes < 1024:
            raise _bad("max_uncompressed_bytes", "give a number of bytes")
        if not isinstance(self.max_compression_ratio, int) or self.max_compression_ratio < 2:
            raise _bad("max_compression_ratio", "give an integer >= 2")

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
