"""Reading a source table (csv, tsv, parquet, jsonl) as a `pyarrow.Table`.

Whole reads go through the conversion capability's `read_table` (it knows
encodings, delimiters and whole-file type inference). Column names, row
counts and the first rows are read cheaply here with pyarrow (schema or
first block only), so the API can validate a request before it queues a job.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ...errors import ServiceError
from ..conversion import read_table as read_any_table

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet", ".pq": "parquet"}
SUFFIXES |= {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


def _format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ServiceError(
            f"cannot read {path.name!r}: give a csv, tsv, parquet or jsonl file (convert other formats to Parquet first)",
            code="unsupported_format",
            details={"supported": sorted(SUFFIXES)},
        )
    return fmt


def _csv_options(fmt: str) -> tuple[pacsv.ReadOptions, pacsv.ParseOptions, pacsv.ConvertOptions]:
    return (
        pacsv.ReadOptions(block_size=16 << 20),
        pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True),
        pacsv.ConvertOptions(strings_can_be_null=True),
    )


def _resolve_source(path: Path) -> Path:
    """A folder holding a single data file (e.g. a conversion output) reads as that file."""
    if path.is_dir():
        from ...walk import walk  # the confined walk: links out of the folder are not read

        files = [Path(os.fsdecode(e.path)) for e in walk(path, data_root=path) if e.ext in SUFFIXES]
        files = sorted(p for p in files if p.name != "manifest.json")
        if len(files) != 1:
            raise ServiceError(
                f"{path.name!r} is a folder with {len(files)} data files: point at one file",
                code="invalid_source",
                details={"files": [p.name for p in files[:50]]},
            )
        return files[0]
    return path


def read_table(path: Path) -> pa.Table:
    """The whole source as an Arrow table."""
    path = _resolve_source(Path(path))
    fmt = _format(path)
    try:
        return read_any_table(path)
    except ServiceError:
        raise
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path.name!r} as {fmt}: {exc}", code="unreadable_source") from exc


def read_schema(path: Path) -> pa.Schema:
    """The columns of a source without reading it all (first block for csv/jsonl)."""
    path = _resolve_source(Path(path))
    fmt = _format(path)
    try:
        if fmt == "parquet":
            return pq.read_schema(path)
        if fmt == "jsonl":
            return pajson.read_json(path, read_options=pajson.ReadOptions(block_size=1 << 20)).schema
        ro, po, co = _csv_options(fmt)
        ro = pacsv.ReadOptions(block_size=1 << 20)
        with pacsv.open_csv(path, read_options=ro, parse_options=po, convert_options=co) as reader:
            return reader.schema
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path.name!r} as {fmt}: {exc}", code="unreadable_source") from exc


def count_rows(path: Path) -> int:
    """Row count: from Parquet metadata, or by streaming a csv (bounded memory)."""
    path = _resolve_source(Path(path))
    fmt = _format(path)
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "jsonl":
        return read_table(path).num_rows
    ro, po, co = _csv_options(fmt)
    n = 0
    with pacsv.open_csv(path, read_options=ro, parse_options=po, convert_options=co) as reader:
        for batch in reader:
            n += batch.num_rows
    return n


def read_head(path: Path, rows: int) -> tuple[pa.Table, int]:
    """The first ``rows`` rows and the total row count, without holding a large csv or Parquet file in memory."""
    path = _resolve_source(Path(path))
    fmt = _format(path)
    if fmt == "parquet":
        pf = pq.ParquetFile(path)
        batches = []
        for batch in pf.iter_batches(batch_size=rows):
            batches.append(batch)
            break
        head = pa.Table.from_batches(batches, schema=pf.schema_arrow) if batches else pf.schema_arrow.empty_table()
        return head, pf.metadata.num_rows
    if fmt == "jsonl":
        table = read_table(path)
        return table.slice(0, rows), table.num_rows
    ro, po, co = _csv_options(fmt)
    head, n = None, 0
    try:
        with pacsv.open_csv(path, read_options=ro, parse_options=po, convert_options=co) as reader:
            for batch in reader:
                if head is None:
                    head = pa.Table.from_batches([batch]).slice(0, rows)
                n += batch.num_rows
            schema = reader.schema
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise ServiceError(f"cannot read {path.name!r} as {fmt}: {exc}", code="unreadable_source") from exc
    return (head if head is not None else schema.empty_table()), n
