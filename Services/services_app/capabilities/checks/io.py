"""Reading the tables a check runs on, behind one small function.

csv/tsv, Parquet, JSON(L) and Excel are read here with pyarrow/pandas, keeping
what the integrity checks look at (a numeric column with stray strings stays
an object column, "N/A" stays a string). Every other format the parquet
conversion reads (``.gz`` text files, ``.xlsm``, ``.tab``, ``.pdf`` ...), and
csv files this reader cannot parse (another encoding, ``;`` or ``|`` as the
delimiter), go through the conversion's `read_table`, with its encoding,
delimiter and header detection. No deepchecks, no torch: the API validates a
request with these functions before it queues a job.
"""

from __future__ import annotations

import os
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


def _conversion_reads(path: Path) -> bool:
    from ..conversion.detect import detect_format

    return detect_format(path) is not None


def parquet_files(folder: Path) -> list[str]:
    """The Parquet files of a folder, listed by the confined walk: links out of the folder are not read."""
    from ...walk import walk

    return [os.fsdecode(e.path) for e in walk(folder, data_root=folder) if e.ext == ".parquet"]


def table_format(path: Path) -> str:
    if path.is_dir():
        if parquet_files(path):
            return "parquet"
        raise ServiceError(
            f"{path.name!r} is a folder without Parquet files: give a csv, parquet, jsonl, json or xlsx file",
            code="not_tabular",
        )
    fmt = TABULAR_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        if _conversion_reads(path):
            return "conversion"
        from ..conversion.detect import EXTENSIONS

        known = sorted(set(TABULAR_SUFFIXES) | set(EXTENSIONS))
        raise ServiceError(
            f"{path.name!r} is not a tabular file: give one of {', '.join(known)} (or their .gz variants)",
            code="not_tabular",
            details={"suffix": path.suffix},
        )
    return fmt


def _read_with_conversion(path: Path, *, first_error: Exception | None = None) -> pd.DataFrame:
    """The parquet conversion's reader (format, encoding, delimiter and header detection)."""
    from ..conversion import read_table as conversion_read_table

    try:
        table = conversion_read_table(path)
    except ServiceError as exc:
        if first_error is not None:
            raise _not_readable(path, "csv", first_error) from exc
        raise ServiceError(
            f"could not read {path.name!r}: {exc.message}", code="not_tabular", details={"reason": exc.code}
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a reader's own error types
        raise _not_readable(path, path.suffix.lstrip(".") or "file", first_error or exc) from exc
    return table.to_pandas().pipe(_plain)


def _delimiter_elsewhere(path: Path, columns: list[str]) -> bool:
    """One column whose name holds ``;``, ``|`` or a tab: the file uses another delimiter."""
    return len(columns) == 1 and any(d in str(columns[0]) for d in (";", "|", "\t"))


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
    if fmt == "conversion":
        return _select(_read_with_conversion(path), columns)
    try:
        if fmt in ("csv", "tsv"):
            import pyarrow as pa
            from pyarrow import csv

            if path.stat().st_size == 0:
                return pd.DataFrame()
            read, parse, convert = _csv_options(fmt, None)
            try:
                table = csv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:  # another encoding, a ragged delimiter ...
                return _select(_read_with_conversion(path, first_error=exc), columns)
            # Bytes that are not UTF-8 come back as binary columns: another encoding.
            if _delimiter_elsewhere(path, table.column_names) or any(
                pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types
            ):
                return _select(_read_with_conversion(path), columns)
            if columns is not None:
                table = _select_arrow(table, columns)
            # Object dtype keeps the mixed-type information checks look at
            # (a "numeric" column with stray strings stays visible as such).
            return table.to_pandas(types_mapper={pa.large_string(): pd.ArrowDtype(pa.string())}.get).pipe(_plain)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            source = parquet_files(path) if path.is_dir() else path
            return pq.read_table(source, columns=columns).to_pandas().pipe(_plain)
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
    return _select(df, columns)


def _select(df: pd.DataFrame, columns: list[str] | None) -> pd.DataFrame:
    if columns is None:
        return df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ServiceError(f"columns {missing} not found", code="missing_columns")
    return df[columns]


def _select_arrow(table, columns: list[str]):
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ServiceError(f"columns {missing} not found", code="missing_columns")
    return table.select(columns)


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

            dataset = ds.dataset(parquet_files(path) if path.is_dir() else path, format="parquet")
            return TableInfo(columns=list(dataset.schema.names), rows=dataset.count_rows())
        if fmt in ("csv", "tsv"):
            if path.stat().st_size == 0:
                return TableInfo(columns=[], rows=0)
            import pyarrow as pa
            from pyarrow import csv

            read, parse, convert = _csv_options(fmt, None)
            read.block_size = 1 << 20
            try:
                with csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
                    names = list(reader.schema.names)
                    try:
                        first = reader.read_next_batch()
                        rows = None if first.num_rows else 0
                    except StopIteration:
                        rows = 0
            except (pa.ArrowInvalid, UnicodeDecodeError):
                names = []  # read in full below, through the conversion's detection
            if names and not _delimiter_elsewhere(path, names):
                return TableInfo(columns=names, rows=rows)
    except ServiceError:
        raise
    except Exception as exc:
        raise _not_readable(path, fmt, exc) from exc
    df = read_table(path)
    return TableInfo(columns=[str(c) for c in df.columns], rows=len(df))
