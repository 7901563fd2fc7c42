"""Per-row results a person can act on, and the exports for relabelling.

Written next to the report (``checks/<job id>/exports/``):

- ``rows.parquet``: every checked new row: ``row`` (0-based position in the source file, before
  any sampling), ``label``, ``label_quality`` (0..1, the out-of-sample probability of the given
  label; low = suspect), ``suggested_label`` and ``suggested_label_probability`` (rows flagged as
  likely label errors), ``duplicate_set`` (-1: none), ``duplicate_of_reference``,
  ``outlier_score`` (0..1, share of reference rows closer to their neighbours), ``issues``
  (list of names), ``priority`` (higher = fix first).
- ``fix_first.csv``: the rows with issues, highest priority first, cut to ``fix_budget``, with
  the text (or the feature values) to look at.
- ``label_studio.json``: the same rows in Label Studio's import format (one task per row:
  ``data`` holds the text and the row id, ``predictions`` the suggested label as a pre-annotation
  of a ``choices`` control named ``label`` over the object ``text``).

Priority: a likely label error counts 3 (plus how unlikely its label is), a near-duplicate with
another label 2, an empty text or markup 1.5, an outlier 1, a plain near-duplicate 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

WEIGHTS = {
    "label_issue": 3.0,
    "conflicting_near_duplicate": 2.0,
    "empty_text": 1.5,
    "markup": 1.5,
    "outlier": 1.0,
    "near_duplicate": 0.5,
}
EXPORTS = {
    "rows.parquet": "application/vnd.apache.parquet",
    "fix_first.csv": "text/csv",
    "label_studio.json": "application/json",
}


def row_frame(*, source_rows: np.ndarray, labels: pd.Series, rows: dict, issues: dict[str, np.ndarray]) -> pd.DataFrame:
    n = len(source_rows)
    frame = pd.DataFrame(
        {"row": source_rows.astype(np.int64), "label": labels.astype(str).where(labels.notna(), None).to_numpy()}
    )
    for col, default in (
        ("label_quality", np.nan),
        ("suggested_label", None),
        ("suggested_label_probability", np.nan),
        ("duplicate_set", -1),
        ("duplicate_of_reference", False),
        ("outlier_score", np.nan),
    ):
        values = rows.get(col)
        frame[col] = values if values is not None else [default] * n
    names = [name for name in WEIGHTS if name in issues]
    matrix = (
        np.column_stack([np.asarray(issues[name], dtype=bool) for name in names]) if names else np.zeros((n, 0), bool)
    )
    frame["issues"] = [[names[j] for j in np.flatnonzero(r)] for r in matrix]
    weights = np.array([WEIGHTS[name] for name in names])
    priority = matrix.astype(float) @ weights if names else np.zeros(n)
    quality = frame["label_quality"].fillna(1.0).to_numpy()
    if "label_issue" in names:
        priority += np.where(matrix[:, names.index("label_issue")], 1.0 - quality, 0.0)
    frame["priority"] = priority.round(4)
    return frame


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading
    apostrophe, as OWASP's CSV injection guidance advises: the file opens as data, never as formulas.
    Numbers are left alone (a negative number is a number, not a formula)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(_FORMULA_START) else v)
    return out


def fix_first(frame: pd.DataFrame, *, budget: int) -> pd.DataFrame:
    hits = frame[frame["priority"] > 0]
    return hits.sort_values(["priority", "label_quality", "row"], ascending=[False, True, True]).head(budget)


def write_exports(
    storage, out_dir: Path, frame: pd.DataFrame, *, content: pd.DataFrame, text_column: str | None, budget: int
) -> dict:
    """rows.parquet, fix_first.csv and label_studio.json under ``out_dir/exports``; their locations."""
    folder = out_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    top = fix_first(frame, budget=budget)
    shown = content.loc[top.index]
    with storage.atomic_file(folder / "rows.parquet") as tmp:
        frame.to_parquet(tmp, index=False)
    csv = top.assign(issues=top["issues"].map(";".join)).join(shown.drop(columns=[c for c in shown if c in top]))
    with storage.atomic_file(folder / "fix_first.csv") as tmp:
        spreadsheet_safe(csv).to_csv(tmp, index=False)
    tasks = []
    for idx, r in top.iterrows():
        data = {"row": int(r["row"]), "label": r["label"], "issues": list(r["issues"])}
        if text_column:
            data["text"] = str(shown.at[idx, text_column])
        else:
            data.update({str(c): _plain(v) for c, v in shown.loc[idx].items()})
        task = {"data": data}
        choice = r["suggested_label"] if r["suggested_label"] is not None else r["label"]
        if choice is not None:
            score = r["suggested_label_probability"]
            task["predictions"] = [
                {
                    "model_version": "services-checks",
                    "score": None if pd.isna(score) else float(score),
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": [str(choice)]},
                        }
                    ],
                }
            ]
        tasks.append(task)
    with storage.atomic_file(folder / "label_studio.json") as tmp:
        tmp.write_text(json.dumps(tasks, indent=1, default=str))
    return {name: storage.relative(folder / name) for name in EXPORTS} | {"fix_first_rows": len(top)}


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def read_rows(path: Path, *, issue: str | None, limit: int, offset: int) -> dict:
    """A page of ``rows.parquet`` (highest priority first), optionally only rows with ``issue``."""
    frame = pd.read_parquet(path)
    if issue:
        frame = frame[frame["issues"].map(lambda xs: issue in list(xs))]
    frame = frame.sort_values(["priority", "row"], ascending=[False, True])
    page = frame.iloc[offset : offset + limit]
    records = json.loads(page.assign(issues=page["issues"].map(list)).to_json(orient="records"))
    return {"total": int(len(frame)), "offset": offset, "limit": limit, "rows": records}
