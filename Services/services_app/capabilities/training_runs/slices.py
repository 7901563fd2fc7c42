"""Error rates per class and per metadata slice.

For each group of samples: rows, error rate (final-epoch prediction differs from the given label), share of
likely mislabelled, share of hard samples, mean data error potential. Metadata columns are sliced by value
when they have at most ``max_values`` distinct values; other columns are listed as skipped, with the reason.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def _stats(mask: np.ndarray, correct: np.ndarray, flagged: np.ndarray, band: np.ndarray, dep: np.ndarray) -> dict:
    rows = int(mask.sum())
    if rows == 0:
        return {"rows": 0}
    return {
        "rows": rows,
        "error_rate": round(float(1 - correct[mask].mean()), 4),
        "likely_mislabelled_share": round(float(flagged[mask].mean()), 4),
        "hard_share": round(float((band[mask] == "hard").mean()), 4),
        "mean_dep": round(float(np.nanmean(dep[mask])), 4),
    }


def per_class(label_names: list[str], labels: np.ndarray, multi: bool, **signals) -> list[dict]:
    out = []
    for j, name in enumerate(label_names):
        mask = labels[:, j] if multi else labels == j
        out.append({"label": name, **_stats(mask, **signals)})
    return out


def per_metadata(table: pa.Table, columns: list[str], max_values: int, **signals) -> tuple[dict, list[dict]]:
    """({column: [{"value", stats...}]}, [{"column", "reason"}] for columns not sliced)."""
    slices, skipped = {}, []
    for column in columns:
        values = table.column(column).to_pandas()
        distinct = values.astype("string").fillna("<null>")
        uniques = distinct.unique()
        if len(uniques) > max_values:
            skipped.append({"column": column, "reason": f"{len(uniques)} distinct values (limit {max_values})"})
            continue
        arr = distinct.to_numpy()
        rows = [{"value": str(v), **_stats(arr == v, **signals)} for v in sorted(uniques)]
        slices[column] = sorted(rows, key=lambda r: -r.get("error_rate", 0))
    return slices, skipped
