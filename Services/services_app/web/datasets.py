"""Reads behind the dataset pages: folder listings and per-column statistics of a Parquet file.

Statistics are computed with pyarrow.compute over the first ``STATS_MAX_ROWS``
rows (whole row groups); the page says when that is fewer than the file holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..storage import Storage
from .access import HIDDEN_TOP

STATS_MAX_ROWS = 200_000
HISTOGRAM_BINS = 10
LISTING_MAX = 500


@dataclass
class Entry:
    name: str
    location: str
    is_dir: bool
    size: int
    is_parquet: bool


def list_folder(storage: Storage, location: str) -> tuple[list[Entry], bool]:
    """Entries of a folder under the data root, folders first; (entries, truncated).

    Dot files and the platform's own areas at the top are left out."""
    path, _ = storage.lookup(location or ".")
    entries: list[Entry] = []
    truncated = False
    for name, is_dir, size in sorted(storage.children(path), key=lambda c: (not c[1], c[0].lower())):
        if not location and name in HIDDEN_TOP:
            continue
        if len(entries) >= LISTING_MAX:
            truncated = True
            break
        entries.append(
            Entry(
                name=name,
                location=storage.relative(path / name),
                is_dir=is_dir,
                size=size,
                is_parquet=name.lower().endswith(".parquet"),
            )
        )
    return entries, truncated


@dataclass
class ColumnStats:
    name: str
    type: str
    nulls: int
    distinct: int | None
    minimum: str | None
    maximum: str | None
    histogram: list[int] = field(default_factory=list)  # counts per equal-width bin (numbers only)
    bin_edges: list[float] = field(default_factory=list)
    note: str = ""


def _short(value) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def column_stats(path: Path) -> tuple[list[ColumnStats], int, int]:
    """(stats per column, rows the stats cover, rows in the file)."""
    pf = pq.ParquetFile(path)
    total = pf.metadata.num_rows
    groups, covered = [], 0
    for i in range(pf.metadata.num_row_groups):
        if covered >= STATS_MAX_ROWS and groups:
            break
        groups.append(i)
        covered += pf.metadata.row_group(i).num_rows
    table = pf.read_row_groups(groups) if groups else pf.schema_arrow.empty_table()
    return [_one(name, table.column(name)) for name in table.column_names], table.num_rows, total


def _one(name: str, col: pa.ChunkedArray) -> ColumnStats:
    typ = col.type
    stats = ColumnStats(name=name, type=str(typ), nulls=col.null_count, distinct=None, minimum=None, maximum=None)
    if pa.types.is_nested(typ) or pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
        stats.note = "no statistics for nested or binary columns"
        return stats
    try:
        stats.distinct = pc.count_distinct(col, mode="only_valid").as_py()
        mm = pc.min_max(col)
        stats.minimum, stats.maximum = _short(mm["min"].as_py()), _short(mm["max"].as_py())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        stats.note = f"statistics not available for {typ}: {exc}"
        return stats
    is_number = pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_decimal(typ)
    if is_number and col.null_count < len(col):
        values = pc.cast(pc.drop_null(col), pa.float64()).to_numpy()
        values = values[~np.isnan(values)]
        if len(values):
            lo, hi = float(values.min()), float(values.max())
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(lo, hi if hi > lo else lo + 1))
            stats.histogram = [int(c) for c in counts]
            stats.bin_edges = [float(e) for e in edges]
    return stats


def histogram_bars(counts: list[int], *, width: int = 120, height: int = 32) -> list[dict]:
    """Bar rectangles of a small SVG histogram (x, y, w, h in px)."""
    if not counts:
        return []
    top = max(counts) or 1
    bar_w = width / len(counts)
    bars = []
    for i, c in enumerate(counts):
        h = 0 if c == 0 else max(1.0, height * c / top)
        bars.append({"x": round(i * bar_w, 2), "y": round(height - h, 2), "w": round(bar_w - 1, 2), "h": round(h, 2)})
    return bars
