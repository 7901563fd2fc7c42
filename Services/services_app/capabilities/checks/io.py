"""Reading the tables a check runs on, behind one small function.

Only pyarrow and pandas are used here (no deepchecks, no torch), so the API
can call `inspect_table` to validate a request before it queues a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...errors import ServiceError

TABULAR_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".xlsx": "excel",
    ".xls": "excel",
}


def table_format(path: Path) -> str:
    if path.is_dir():
        if any(path.rglob("*.parquet")):
            return "parquet"
        raise ServiceError(
            f"{path.name!r} is a folder without Parquet files: give a csv, parquet, jsonl, json or xlsx file",
            code="not_tabular",
        )
    fmt = TABULAR_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ServiceError(
            f"{path.name!r} is not a tabular file: give one of {', '.join(sorted(TABULAR_SUFFIXES))} "
            "(convert other formats to Parquet first)",
            code="not_tabular",
            details={"suffix": path.suffix},
        )
    return fmt


def _not_readable(path: Path, fmt: str, exc: Exception) -> ServiceError:
    return ServiceError(
        f"could not read {path.name!r} as {fmt}: {str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}",
        code="not_tabular",
        details={"format": fmt},
    )


def _csv_options(fmt: str, columns: list[str] | None):
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", newlines_in_values=True)
    convert = csv.ConvertOptions(strings_can_be_null=True, include_columns=columns)
    read = csv.ReadOptions(block_size=16 << 20)
    return read, parse, convert


def read_table(path: Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A file (csv, tsv, parquet or a folder of it, jsonl, json, xlsx/xls) as a DataFrame.

    Bad files raise `ServiceError` (400) that names the file and the format."""
    fmt = table_format(path)
    try:
        if fmt in ("csv", "tsv"):
            import pyarrow as pa
            from pyarrow import csv

            if path.stat().st_size == 0:
                return pd.DataFrame()
            read, parse, convert = _csv_options(fmt, columns)
            table = csv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
            # Object dtype keeps the mixed-type information checks look at
            # (a "numeric" column with stray strings stays visible as such).
            return table.to_pandas(types_mapper={pa.large_string(): pd.ArrowDtype(pa.string())}.get).pipe(_plain)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path, columns=columns).to_pandas().pipe(_plain)
        if fmt == "jsonl":
            df = pd.read_json(path, lines=True, dtype=False)
        elif fmt == "json":
            df = pd.read_json(path, dtype=False)
        else:
            df = pd.read_excel(path, engine="calamine")
    except ServiceError:
        raise
    except Exception as exc:  # every reader has its own error types
        raise _not_readable(path, fmt, exc) from exc
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise ServiceError(f"columns {missing} not found", code="missing_columns")
        df = df[columns]
    return df


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Arrow-backed string columns to object dtype (deepchecks expects numpy dtypes)."""
    for col in df.columns:
        if isinstance(df[col].dtype, pd.ArrowDtype) or str(df[col].dtype) == "string":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


@dataclass
class TableInfo:
    columns: list[str]
    rows: int | None  # None when counting would mean reading the whole file


def table_columns(path: Path) -> TableInfo:
    """Column names (and the row count where it is cheap) without reading the data."""
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet")
            return TableInfo(columns=list(dataset.schema.names), rows=dataset.count_rows())
        if fmt in ("csv", "tsv"):
            if path.stat().st_size == 0:
                return TableInfo(columns=[], rows=0)
            from pyarrow import csv

            read, parse, convert = _csv_options(fmt, None)
            read.block_size = 1 << 20
            with csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
                names = list(reader.schema.names)
                try:
                    first = reader.read_next_batch()
                    rows = None if first.num_rows else 0
                except StopIteration:
                    rows = 0
            return TableInfo(columns=names, rows=rows)
    except ServiceError:
        raise
    except Exception as exc:
        raise _not_readable(path, fmt, exc) from exc
    df = read_table(path)
    return TableInfo(columns=[str(c) for c in df.columns], rows=len(df))
