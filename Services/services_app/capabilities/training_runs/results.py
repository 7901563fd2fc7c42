"""Reading a processed run: samples with filters, sorting and pages; exports to relabel; run comparison.

Filters (``filter=``, comma-separated, all must hold):
``likely_mislabelled``, ``on_boundary``, ``out_of_coverage``, ``wrong`` (prediction differs from the label),
``correct``, and ``<column>:<value>`` for ``label``, ``predicted``, ``suggested_label``, ``band``, ``cluster`` and
the run's metadata columns (e.g. ``label:sports``, ``band:hard``, ``source:web``). For multi-label runs,
``label:x`` matches samples that have label x.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import NotFound, ServiceError

FLAGS = ("likely_mislabelled", "on_boundary", "out_of_coverage", "correct")
SORTS = ("dep", "aum", "margin", "label_quality", "knn_distance", "confidence", "forgotten", "id")
SIGNAL_COLUMNS = {
    "id",
    "text",
    "label",
    "predicted",
    "confidence",
    "correct",
    "margin",
    "aum",
    "dep",
    "band",
    "forgotten",
    "likely_mislabelled",
    "confident_learning",
    "suggested_label",
    "label_quality",
    "on_boundary",
    "knn_distance",
    "out_of_coverage",
    "cluster",
}


def read_summary(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "summary.json").read_text())


def split_table(folder: Path, split: str) -> pa.Table:
    path = folder / f"{split}.parquet"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.parquet"))
        raise NotFound(f"the run has no split {split!r}; it has {', '.join(known)}", code="split_not_found")
    return pq.read_table(path)


def _term(table: pa.Table, term: str) -> pa.ChunkedArray:
    term = term.strip()
    if term == "wrong":
        term_col = "correct"
        if term_col not in table.column_names:
            raise ServiceError("filter 'wrong' needs a labelled split", code="invalid_filter")
        return pc.invert(pc.fill_null(table.column(term_col), True))
    if term in FLAGS:
        if term not in table.column_names:
            raise ServiceError(f"filter {term!r} does not apply to this split", code="invalid_filter")
        return pc.fill_null(table.column(term), False)
    column, sep, value = term.partition(":")
    if not sep or column not in table.column_names or column in ("id", "text"):
        usable = sorted(set(table.column_names) - {"id", "text"} - set(FLAGS) - {"correct"})
        raise ServiceError(
            f"filter {term!r} is not known: use {', '.join(FLAGS)}, wrong, or <column>:<value> with a column of "
            f"{', '.join(usable)}",
            code="invalid_filter",
        )
    col = table.column(column)
    if pa.types.is_list(col.type):
        return _list_contains(col, value)
    if pa.types.is_integer(col.type):
        try:
            return pc.fill_null(pc.equal(col, int(value)), False)
        except ValueError:
            raise ServiceError(f"filter {term!r}: {column} holds integers", code="invalid_filter") from None
    return pc.fill_null(pc.equal(pc.cast(col, pa.string()), value), False)


def _list_contains(col: pa.ChunkedArray, value: str) -> pa.Array:
    return pa.array([value in (row or ()) for row in col.to_pylist()], pa.bool_())


def select(table: pa.Table, filter: str | None) -> pa.Table:
    if not filter:
        return table
    mask = None
    for term in filter.split(","):
        if not term.strip():
            continue
        m = _term(table, term)
        mask = m if mask is None else pc.and_(mask, m)
    return table if mask is None else table.filter(mask)


def order(table: pa.Table, sort: str, descending: bool) -> pa.Table:
    if sort not in SORTS:
        raise ServiceError(f"sort {sort!r} is not known: use one of {', '.join(SORTS)}", code="invalid_sort")
    if sort not in table.column_names:
        raise ServiceError(f"sort {sort!r} does not apply to this split", code="invalid_sort")
    direction = "descending" if descending else "ascending"
    return table.sort_by([(sort, direction), ("id", "ascending")])


def samples(
    folder: Path, split: str, *, filter: str | None, sort: str, descending: bool, page: int, page_size: int
) -> dict[str, Any]:
    table = order(select(split_table(folder, split), filter), sort, descending)
    total = table.num_rows
    items = table.slice((page - 1) * page_size, page_size).to_pylist()
    return {
        "split": split,
        "filter": filter or "",
        "sort": sort,
        "descending": descending,
        "total": total,
        "page": page,
        "page_size": page_size,
        "items": [_clean(row) for row in items],
    }


def _clean(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not np.isfinite(v):
            v = None
        out[k] = v
    return out


def export_csv(table: pa.Table) -> bytes:
    buffer = io.StringIO()
    columns = [c for c in table.column_names]
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in table.to_pylist():
        writer.writerow({k: ("|".join(v) if isinstance(v, list) else v) for k, v in row.items()})
    return buffer.getvalue().encode()


def export_label_studio(table: pa.Table, *, run_name: str) -> bytes:
    """Label Studio import JSON: one task per sample with the suggested label as a prediction
    (labelling config: ``<Text name="text" value="$text"/><Choices name="label" toName="text" .../>``)."""
    tasks = []
    for row in table.to_pylist():
        data = {k: v for k, v in row.items() if k not in ("suggested_label",)}
        task: dict[str, Any] = {"data": _clean(data)}
        suggestion = row.get("suggested_label")
        if suggestion:
            choices = suggestion if isinstance(suggestion, list) else [suggestion]
            task["predictions"] = [
                {
                    "model_version": run_name,
                    "score": row.get("dep"),
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": choices},
                        }
                    ],
                }
            ]
        tasks.append(task)
    return json.dumps(tasks, indent=1, default=str).encode()


def _flagged(table: pa.Table) -> np.ndarray:
    mis = pc.fill_null(table.column("likely_mislabelled"), False).to_numpy(zero_copy_only=False)
    hard = pc.fill_null(pc.equal(table.column("band"), "hard"), False).to_numpy(zero_copy_only=False)
    return mis | hard


def compare(base: pa.Table, other: pa.Table, *, limit: int = 1000) -> dict[str, Any]:
    """Samples (by id) of the same split in two runs: which problems got fixed.

    A sample is a problem when it is likely mislabelled or hard. ``fixed``: a problem in the base run and not
    in the other; ``still``: a problem in both; ``new``: a problem only in the other; ``relabelled``: its
    given label changed."""
    if "likely_mislabelled" not in base.column_names or "likely_mislabelled" not in other.column_names:
        raise ServiceError("compare needs a labelled split in both runs", code="invalid_compare")
    base_ids = base.column("id").to_numpy(zero_copy_only=False)
    other_ids = other.column("id").to_numpy(zero_copy_only=False)
    common, bi, oi = np.intersect1d(base_ids, other_ids, return_indices=True)
    before, after = _flagged(base)[bi], _flagged(other)[oi]
    base_labels = [str(x) for x in np.asarray(base.column("label").to_pylist(), dtype=object)[bi]]
    other_labels = [str(x) for x in np.asarray(other.column("label").to_pylist(), dtype=object)[oi]]
    relabelled = np.array([a != b for a, b in zip(base_labels, other_labels, strict=True)], dtype=bool)

    def ids(mask):
        return [int(x) if isinstance(x, np.integer) else x for x in common[mask][:limit]]

    return {
        "common_samples": int(len(common)),
        "only_in_base": int(len(base_ids) - len(common)),
        "only_in_other": int(len(other_ids) - len(common)),
        "problems_before": int(before.sum()),
        "problems_after": int(after.sum()),
        "fixed": int((before & ~after).sum()),
        "still": int((before & after).sum()),
        "new": int((~before & after).sum()),
        "relabelled": int(relabelled.sum()),
        "fixed_and_relabelled": int((before & ~after & relabelled).sum()),
        "ids": {
            "fixed": ids(before & ~after),
            "still": ids(before & after),
            "new": ids(~before & after),
            "relabelled": ids(relabelled),
        },
        "ids_limit": limit,
    }
