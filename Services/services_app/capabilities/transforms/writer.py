"""Writing split files: Parquet with pyarrow, JSONL with DuckDB (multi-threaded, handles lists and structs)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd", row_group_size=128 * 1024)


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
