"""Reading the tables a check runs on, behind one small function.

Every file goes through the platform's one table reader (`services_app.tables`):
the same encoding, delimiter, preamble, number-locale and type decisions as the
Parquet conversion, so a CSV and the Parquet converted from it give the same
frame (dates as dates, numbers as numbers) and the same verdict. A folder of
Parquet files (a dataset written by the conversion or a transform) reads as one
table. Missing values stay missing (None / NaN / NaT), never the string "None".
No deepchecks, no torch: the API validates a request with these functions
before it queues a job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ...errors import ServiceError
from ...tables import EXTENSIONS, TableError, detect_format, sniff
from ...tables import read as read_any


def parquet_files(folder: Path) -> list[str]:
    """The Parquet files of a folder, listed by the confined walk: links out of the folder are not read."""
    from ...walk import walk

    return [os.fsdecode(e.path) for e in walk(folder, data_root=folder) if e.ext == ".parquet"]


def table_format(path: Path) -> str:
    """``parquet`` for a folder of Parquet files, else the reader's format of the file."""
    if path.is_dir():
        if parquet_files(path):
            return "parquet"
        raise ServiceError(
            f"{path.name!r} is a folder without Parquet files: give a csv, parquet, jsonl, json or xlsx file",
            code="not_tabular",
        )
    kind = detect_format(path)
    if kind is None or kind.format == "pdf":
        known = sorted(set(EXTENSIONS) - {".pdf"})
        raise ServiceError(
            f"{path.name!r} is not a tabular file: give one of {', '.join(known)} (or their .gz variants)",
            code="not_tabular",
            details={"suffix": path.suffix},
        )
    return kind.format


def _not_readable(path: Path, exc: ServiceError) -> ServiceError:
    return ServiceError(
        f"could not read {path.name!r}: {exc.message}", code="not_tabular", details={"reason": exc.code}
    )


def to_frame(table) -> pd.DataFrame:
    """An Arrow table as the frame checks expect: numpy dtypes, strings as objects with None for
    missing, dates as datetime64 (like timestamps), whatever the source format."""
    df = table.to_pandas(date_as_object=False)
    for col in df.columns:
        if isinstance(df[col].dtype, pd.ArrowDtype) or str(df[col].dtype) == "string":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def read_table(path: Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """A file (anything the table reader reads but PDF) or a folder of Parquet as a DataFrame.

    Bad files raise `ServiceError` (400, ``not_tabular``) that names the file and the reason."""
    fmt = table_format(path)
    if path.is_dir():
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(parquet_files(path), columns=columns)
        except Exception as exc:  # noqa: BLE001 - pyarrow's own error types
            raise ServiceError(
                f"could not read {path.name!r} as parquet: {str(exc).splitlines()[0][:300]}", code="not_tabular"
            ) from exc
        return to_frame(table)
    if path.stat().st_size == 0 and fmt in ("csv", "tsv", "txt"):
        return pd.DataFrame()
    try:
        table, report = read_any(path)
    except TableError as exc:
        raise _not_readable(path, exc) from exc
    df = to_frame(table)
    df.attrs["date_formats"] = written_date_formats(table, report)
    if columns is None:
        return df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ServiceError(f"columns {missing} not found", code="missing_columns")
    return df[columns]


def written_date_formats(table, report) -> dict[str, str]:
    """How a text file wrote the dates the reader typed: {column: strptime format} (ISO for the dates the reader
    types by themselves). A date format change between two CSV batches is then still a change, although both
    arrive typed. Empty for formats that store dates as dates (Parquet, workbooks)."""
    import pyarrow as pa

    if report.format not in ("csv", "tsv", "txt"):
        return {}
    out = {}
    for f in table.schema:
        if f.name in report.date_formats:
            out[f.name] = report.date_formats[f.name]["format"]
        elif pa.types.is_date(f.type):
            out[f.name] = "%Y-%m-%d"
    return out


@dataclass
class TableInfo:
    columns: list[str]
    rows: int | None  # None when counting would mean reading the whole file


def table_columns(path: Path) -> TableInfo:
    """Column names (and the row count where it is cheap) without reading the data."""
    table_format(path)
    if path.is_dir():
        import pyarrow.dataset as ds

        dataset = ds.dataset(parquet_files(path), format="parquet")
        return TableInfo(columns=list(dataset.schema.names), rows=dataset.count_rows())
    if path.stat().st_size == 0:
        return TableInfo(columns=[], rows=0)
    try:
        head, report = sniff(path)
    except TableError as exc:
        raise _not_readable(path, exc) from exc
    rows = None
    if report.format == "parquet":
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(path).metadata.num_rows
    return TableInfo(columns=[str(c) for c in head.column_names], rows=rows)
