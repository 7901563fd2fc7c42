"""Reading a source table (anything the platform's table reader reads but PDF) as a `pyarrow.Table`.

Every read goes through the one table reader (`services_app.tables`): the same
encoding, delimiter, preamble, number-locale and type decisions as the Parquet
conversion and the checks. Column names, row counts and the first rows come
from the reader's sniff (no whole read), so the API can validate a request
before it queues a job.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from ... import tables
from ...errors import ServiceError

SUFFIXES = {ext: fmt for ext, fmt in tables.EXTENSIONS.items() if fmt != "pdf"}


def _format(path: Path) -> str:
    kind = tables.detect_format(path)
    if kind is None or kind.format == "pdf":
        raise ServiceError(
            f"cannot read {path.name!r}: give a csv, tsv, parquet, jsonl, json or workbook file "
            "(or a .gz of a text format)",
            code="unsupported_format",
            details={"supported": sorted(SUFFIXES)},
        )
    return kind.format


def _resolve_source(path: Path) -> Path:
    """A folder holding a single data file (e.g. a conversion output) reads as that file."""
    if path.is_dir():
        from ...walk import walk  # the confined walk: links out of the folder are not read

        found = sorted(Path(os.fsdecode(e.path)) for e in walk(path, data_root=path))
        files = [p for p in found if tables.detect_format(p) is not None]
        files = [p for p in files if p.name != "manifest.json"]
        files = [p for p in files if tables.detect_format(p).format != "pdf"]
        if len(files) != 1:
            raise ServiceError(
                f"{path.name!r} is a folder with {len(files)} data files: point at one file",
                code="invalid_source",
                details={"files": [p.name for p in files[:50]]},
            )
        return files[0]
    return path


def _reading(path: Path, fn, *args, **kwargs):
    fmt = _format(path)
    try:
        return fn(path, *args, **kwargs)
    except tables.TableError as exc:
        raise ServiceError(
            f"cannot read {path.name!r} as {fmt}: {exc.message}", code="unreadable_source", details={"reason": exc.code}
        ) from exc


def read_table(path: Path) -> pa.Table:
    """The whole source as an Arrow table."""
    path = _resolve_source(Path(path))
    return _reading(path, tables.read_table)


def read_schema(path: Path) -> pa.Schema:
    """The columns of a source without reading it all."""
    path = _resolve_source(Path(path))
    return _reading(path, tables.sniff)[0].schema


def count_rows(path: Path) -> int:
    """Row count: from Parquet metadata, else as the reader reads the file."""
    path = _resolve_source(Path(path))
    return _reading(path, tables.count_rows)


def read_head(path: Path, rows: int) -> tuple[pa.Table, int]:
    """The first ``rows`` rows and the total row count, without holding a large file in memory."""
    path = _resolve_source(Path(path))
    head = _reading(path, tables.sniff, rows=rows)[0]
    return head, count_rows(path)
