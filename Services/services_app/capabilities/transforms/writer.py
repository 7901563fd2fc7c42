"""Writing split files: Parquet with pyarrow, JSONL with DuckDB (multi-threaded, handles lists and structs)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def dictionary_columns(table: pa.Table, sample: int = 10_000) -> list[str]:
    """Columns worth dictionary encoding: those with few distinct values in a sample (labels, categories).

    Parquet writers try a dictionary for every column by default and fall back to plain encoding once it
    grows too large; for free text and ids that attempt is wasted work (it more than doubled the time to
    write a million-row split) and the result is no smaller."""
    head = table.slice(0, sample)
    wanted = []
    for name in head.column_names:
        column = head.column(name)
        if pa.types.is_nested(column.type) or len(column) == 0:
            continue
        if pc.count_distinct(column).as_py() <= max(1, len(column) // 4):
            wanted.append(name)
    return wanted


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=128 * 1024, use_dictionary=dictionary_columns(table))


def write_jsonl(table: pa.Table, path: Path) -> None:
    if table.num_rows == 0:
        path.write_text("")
        return
    con = duckdb.connect()
    try:
        con.register("split_rows", table)
        target = str(path).replace("'", "''")
        con.execute(f"COPY split_rows TO '{target}' (FORMAT JSON)")  # noqa: S608 - our own temp path
    finally:
        con.close()


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
