"""The `checks.incoming` job: deepchecks on a new batch, alone and against a reference.

    run_checks(ctx, {"dataset": "...", "reference": "...", "label": "y", "text": ["body"],
                     "task": "tabular" | "text_classification", "suites": ["integrity", "drift"],
                     "conditions": {...}, "max_rows": 50000, "embeddings": {"provider": "local"}})

Writes ``checks/<job id>/report.html`` (self-contained), ``summary.json`` and
a wandb run, and returns the summary: overall ``passed`` and one entry per
check with its measured value and the condition that judged it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ServiceError
from ...jobs.context import JobContext
from . import drift_stats, near_duplicates
from .features import limited_threads, reduce, tabular_matrices
from .io import read_table
from .report import describe_problems
from .request import ChecksRequest
from .row_checks import (
    CLASSIFICATION_ONLY,
    RowData,
    error_entry,
    not_applicable,
    run_column_types,
    run_coverage,
    run_date_columns,
    run_feature_drift,
    run_label_issues,
    run_language_mix,
    run_near_duplicates,
    run_share_check,
    timed,
)
from .row_results import row_frame, write_exports
from .text_checks import empty_rows, markup_rows
from .validation import (
    check_columns,
    check_label,
    check_same_columns,
    check_text_columns,
    input_path,
    normalise_params,
    required_columns,
)

CATEGORICAL_MAX_UNIQUE = 100
REGRESSION_MIN_VALUES = 20  # a numeric label with more distinct values than this (and 5% of rows) is continuous

# Our checks (row_checks.py) per task, with their stage.
OWN_CHECKS = {
    "tabular": {
        "label_issues": "integrity",
        "near_duplicates": "integrity",
        "near_duplicate_conflicts": "integrity",
        "feature_drift": "drift",
        "column_types": "drift",
        "date_columns": "drift",
        "coverage": "drift",
    },
    "text_classification": {
        "label_issues": "integrity",
        "near_duplicates": "integrity",
        "near_duplicate_conflicts": "integrity",
        "markup": "integrity",
        "empty_texts": "integrity",
        "coverage": "drift",
        "language_mix": "drift",
    },
}


def is_regression(new: pd.Series, ref: pd.Series | None) -> bool:
    """A label of numbers with many distinct values: a regression target, not classes."""
    values = new if ref is None else pd.concat([new, ref], ignore_index=True)
    values = values.dropna()
    if values.empty or pd.api.types.is_bool_dtype(values.dtype):
        return False
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().mean() < 0.99:
        return False
    distinct = numbers.nunique()
    return bool(distinct > REGRESSION_MIN_VALUES and distinct >= 0.05 * len(numbers))


def stratified_indices(labels: pd.Series, *, size: int, seed: int) -> np.ndarray:
    """Sorted positions of ``size`` rows with the label's class shares kept (largest remainder), reproducible.

    Every class keeps at least one row; all positions when there are not more than ``size``."""
    n = len(labels)
    if n <= size:
        return np.arange(n)
    counts = labels.value_counts(dropna=False)
    exact = counts / counts.sum() * size
    quota = np.floor(exact).astype(int).clip(lower=1)
    short = size - int(quota.sum())
    if short > 0:
        for cls in (exact - np.floor(exact)).sort_values(ascending=False).index[:short]:
            quota[cls] += 1
    rng = np.random.default_rng(seed)
    values = labels.to_numpy()
    parts = []
    for cls, k in quota.items():
        idx = np.flatnonzero(labels.isna().to_numpy() if pd.isna(cls) else values == cls)
        parts.append(rng.choice(idx, size=min(int(k), len(idx)), replace=False))
    return np.sort(np.concatenate(parts))


def stratified_sample(df: pd.DataFrame, *, label: str, max_rows: int, seed: int) -> pd.DataFrame:
    """``max_rows`` rows with the label's class shares kept (largest remainder), reproducible by ``seed``."""
    if len(df) <= max_rows:
        return df
    return df.iloc[stratified_indices(df[label], size=max_rows, seed=seed)].reset_index(drop=True)


def _load(ctx: JobContext, p: dict, role: str, needed: list[str]) -> tuple[pd.DataFrame, Path]:
    path = input_path(ctx.storage, p[role])  # gs:// objects and prefixes come through the storage cache
    df = read_table(path)
    if df.empty or len(df.columns) == 0:
        raise ServiceError(f"{role} {p[role]!r} is empty: it has no rows", code="empty_dataset")
    df.columns = [str(c) for c in df.columns]
    check_columns(path, list(df.columns), needed, role=role)
    check_label(df[p["label"]], role=role, label=p["label"])
    check_text_columns(df, p["text"], role=role)
    return df, path


def label_text(labels: pd.Series) -> pd.Series:
    """Labels as strings, missing ones left missing (``astype(str)`` alone turns None into "None")."""
    return labels.astype(str).where(labels.notna(), None)


def missing_labels(frame: pd.DataFrame, label: str, *, limit: int = 20) -> dict[str, Any]:
    """{count, rows: the first row numbers (0-based, as read)} of rows whose label is missing."""
    missing = frame[label].isna().to_numpy().nonzero()[0]
    return {"count": int(len(missing)), "rows": [int(i) for i in missing[:limit]]}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _numeric_like(series: pd.Series) -> bool:
    if series.dtype != object:
        return False
    values = series.dropna()
    if values.empty:
        return False
    parsed = pd.to_numeric(values.astype(str).str.strip(), errors="coerce")
    return parsed.notna().mean() >= 0.5


@dataclass
class TabularPrep:
    """The tables as the checks see them: typed columns, deepchecks datasets, coerced frames."""

    integrity: Any
    new_ds: Any
    ref_ds: Any
    new_df: pd.DataFrame  # features (numbers parsed, units dropped) and the label
    ref_df: pd.DataFrame | None
    ref_rows_df: pd.DataFrame | None  # the reference rows the row engines use (a sample when large)
    numeric: list[str]
    cats: list[str]
    date_cols: list[str]
    types_new: dict[str, drift_stats.ColumnType]
    types_ref: dict[str, drift_stats.ColumnType] | None
    type_changes: dict[str, dict]
    new_raw: pd.DataFrame
    ref_raw: pd.DataFrame | None

    def date_results(self, cfg: dict) -> dict[str, dict]:
        return {
            col: drift_stats.date_checks(
                None if self.ref_raw is None else self.ref_raw[col],
                self.new_raw[col],
                ref_type=None if self.types_ref is None else self.types_ref[col],
                new_type=self.types_new[col],
                cfg=cfg,
            )
            for col in self.date_cols
            if self.types_new[col].kind == "date"
        }


def _tabular_features(frames: list[pd.DataFrame], p: dict, notes: list[str], types: list[dict]):
    """(features, categorical features, numeric-like object columns, columns with units, date columns).

    Column types come first (drift_stats.column_type): dates are checked by date_columns, numbers with a
    unit are compared as numbers; then text columns of numbers are numeric, other text columns with
    up to 100 distinct values categorical, the rest free text (left out, and said so)."""
    excluded = {p["label"], *p["text"], *p["ignore_columns"]}
    features, cats, numeric_like, units, dates = [], [], [], [], []
    for col in frames[0].columns:
        if col in excluded:
            continue
        kinds = {t[col].kind for t in types}
        if "date" in kinds:
            dates.append(col)
            notes.append(f"Column {col!r} holds dates: checked by date_columns (format, range), not as a feature.")
            continue
        if "number_with_unit" in kinds and kinds <= {"number_with_unit", "numeric"}:
            unit = next(t[col].unit for t in types if t[col].kind == "number_with_unit")
            units.append(col)
            features.append(col)
            notes.append(f"Column {col!r} holds numbers with a unit ({unit!r}): the drift checks compare the numbers.")
            continue
        series = [f[col] for f in frames]
        if all(s.dtype == bool or s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype) for s in series):
            if all(_numeric_like(s) for s in series if s.dtype == object):
                numeric_like.append(col)
                features.append(col)
                continue
            unique = pd.concat([s.dropna().astype(str) for s in series]).nunique()
            if unique > CATEGORICAL_MAX_UNIQUE:
                notes.append(f"Column {col!r} has {unique} distinct strings: left out as free text / identifier.")
                continue
            cats.append(col)
        elif any(s.dtype == object for s in series):
            numeric_like.append(col)
        features.append(col)
    return features, cats, numeric_like, units, dates


def _run(spec, check, *datasets) -> Any:
    from deepchecks.core import CheckFailure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check.run(*datasets)
    except Exception as exc:  # noqa: BLE001 - a failing check is reported, not fatal
        return CheckFailure(check, exc)


def run_checks(ctx: JobContext, params: dict, *, defaults_file: str | Path | None = None) -> dict:
    """The job: read, sample, type the columns, run deepchecks' checks and ours, write the per-row results,
    the report, the summary and the wandb run. ``params``: a `ChecksRequest` as a dict."""
    started = time.monotonic()
    timings: dict[str, Any] = {}
    request = ChecksRequest.from_params(params)
    p = normalise_params(request)
    conditions = request.settings(defaults_file)
    ctx.progress(0.01, "reading the data", force=True)
    new_raw, ref_raw, source_rows, rows, notes, unlabelled = _read_inputs(ctx, p)
    timings["read"] = round(time.monotonic() - started, 2)
    ctx.progress(0.05, "preparing the datasets", force=True)
    mark = time.monotonic()

    import deepchecks  # noqa: F401 - imported here only: the worker pays its start-up, the web server never does

    from .suites import CATALOG

    timings["import"] = round(time.monotonic() - mark, 2)
    mark = time.monotonic()
    regression = p["task"] == "tabular" and is_regression(
        new_raw[p["label"]], None if ref_raw is None else ref_raw[p["label"]]
    )
    if regression:
        notes.append(
            f"Label {p['label']!r} is continuous (a regression target): checks about classes are not applicable."
        )
    enabled = {cid for cid, cfg in conditions.items() if cfg["enabled"]}
    specs = [s for s in CATALOG[p["task"]] if s.id in enabled and s.stage in p["suites"]]
    own = {cid for cid, stage in OWN_CHECKS[p["task"]].items() if cid in enabled and stage in p["suites"]}
    if ref_raw is None:
        own -= {"coverage"}
    embeddings_info = None
    emb_pair = None
    data = RowData(n_new=len(new_raw), seed=p["seed"])
    entries: list[dict] = []
    if p["task"] == "tabular":
        tab = _tabular_datasets(new_raw, ref_raw, p, notes, regression=regression)
        new_ds, ref_ds, integrity_ds = tab.new_ds, tab.ref_ds, tab.integrity
        _tabular_row_data(data, tab, p, regression=regression, cap=conditions["label_issues"]["max_reference_rows"])
    else:
        wants_vectors = bool(
            {"embedding_drift"} & {s.id for s in specs} or {"label_issues", "near_duplicates", "coverage"} & own
        )
        use_embeddings = p["embeddings"]["enabled"] and wants_vectors
        if not use_embeddings:
            specs = [s for s in specs if s.id != "embedding_drift"]
        new_ds, ref_ds, emb_pair, embeddings_info = _text_datasets(
            ctx,
            new_raw,
            ref_raw,
            p,
            use_embeddings,
            sample_size=conditions["embedding_drift"]["sample_size"],
            notes=notes,
            data=data,
            reference_cap=conditions["label_issues"]["max_reference_rows"],
        )
        integrity_ds = new_ds
    timings["prepare"] = round(time.monotonic() - mark, 2)
    if embeddings_info:
        timings["embeddings"] = embeddings_info.pop("seconds")
        timings["prepare"] = round(timings["prepare"] - timings["embeddings"], 2)
    timings["checks"] = {}
    results = _run_deepchecks(ctx, specs, p, conditions, new_ds, ref_ds, integrity_ds, emb_pair, entries, timings)
    if regression:
        entries = [
            not_applicable(e["id"], e["stage"], e["name"], "the label is continuous (regression)")
            if e["id"] in CLASSIFICATION_ONLY
            else e
            for e in entries
        ]
    ctx.progress(0.85, "label issues, near-duplicates, coverage", force=True)
    with limited_threads():
        entries += _run_own_checks(own, conditions, p, data, tab if p["task"] == "tabular" else None, regression, notes)
    timings["checks"].update(data.timings)

    failed = [e["id"] for e in entries if not e["passed"]]
    passed = not failed
    out_loc = params.get("output") or f"checks/{ctx.job_id if ctx.job_id != 'local' else _local_id()}"
    out_dir = ctx.storage.resolve_output(out_loc)
    out_dir.mkdir(parents=True, exist_ok=True)

    ctx.progress(0.9, "writing the per-row results", force=True)
    mark = time.monotonic()
    frame = row_frame(source_rows=source_rows, labels=new_raw[p["label"]], rows=data.rows, issues=data.issues)
    content_cols = p["text"] or [c for c in new_raw.columns if c != p["label"]]
    content = new_raw[content_cols].copy()
    if len(p["text"]) > 1:
        content = pd.DataFrame({"text": _texts(new_raw, p["text"])})
    exports = write_exports(
        ctx.storage,
        out_dir,
        frame,
        content=content,
        text_column=(p["text"][0] if len(p["text"]) == 1 else "text") if p["text"] else None,
        budget=p["fix_budget"],
    )
    for key in ("rows.parquet", "fix_first.csv", "label_studio.json"):
        ctx.add_output(exports[key])
    timings["row_results"] = round(time.monotonic() - mark, 2)
    problems = describe_problems(entries, frame)
    summary: dict[str, Any] = {
        "passed": passed,
        "verdict": "passed" if passed else "failed",
        "failed_checks": failed,
        "problems": problems,
        "task": p["task"],
        "label_type": "regression" if regression else "classification",
        "dataset": p["dataset"],
        "reference": p.get("reference"),
        "label": p["label"],
        "text": p["text"],
        "suites": p["suites"],
        "max_rows": p.get("max_rows"),
        "rows": rows,
        "missing_labels": unlabelled,
        "sampling": notes,
        "embeddings": embeddings_info,
        "conditions": {cid: conditions[cid] for cid in [s.id for s in specs] + sorted(own)},
        "checks": entries,
        "row_results": {
            **exports,
            "issues": {name: int(np.asarray(v, dtype=bool).sum()) for name, v in data.issues.items()},
        },
    }

    ctx.progress(0.92, "writing the report", force=True)
    mark = time.monotonic()
    report = out_dir / "report.html"
    title = (
        f"Incoming data checks: {Path(p['dataset']).name} - {'PASSED' if passed else 'FAILED: ' + ', '.join(failed)}"
    )
    from .report import save_html

    with ctx.storage.atomic_file(report) as tmp:
        save_html(results, title=title, notes=notes, target=tmp, problems=problems, entries=entries, exports=exports)
    summary["report"] = ctx.storage.relative(report)
    ctx.add_output(summary["report"])
    timings["report"] = round(time.monotonic() - mark, 2)

    if p["wandb"]:
        ctx.progress(0.96, "recording the wandb run", force=True)
        from .tracking import log_to_wandb

        try:
            summary["wandb"] = log_to_wandb(summary=summary, run_dir=out_dir / "wandb", name=f"checks-{out_dir.name}")
        except Exception as exc:  # noqa: BLE001 - tracking must not lose the verdict
            ctx.warn(f"wandb logging failed: {exc}")
            summary["wandb"] = {"mode": "failed", "error": str(exc)[:300]}
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["timings"] = timings
    summary_path = out_dir / "summary.json"
    with ctx.storage.atomic_file(summary_path) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    summary["summary"] = ctx.storage.relative(summary_path)
    ctx.add_output(summary["summary"])
    summary["outputs"] = list(ctx.outputs)
    summary["warnings"] = list(ctx.warnings)
    ctx.progress(1.0, "passed" if passed else f"failed: {', '.join(failed)}", force=True)
    return summary


def _read_inputs(ctx: JobContext, p: dict):
    """Both sides read and validated, sampled to ``max_rows``; the new rows' source positions kept."""
    needed = required_columns(p)
    new_raw, _ = _load(ctx, p, "dataset", needed)
    # Positions, not the file's own index (a Parquet file may carry a non-unique pandas index).
    new_raw = new_raw.reset_index(drop=True)
    ref_raw = None
    if p.get("reference"):
        ref_raw, _ = _load(ctx, p, "reference", needed)
        ref_raw = ref_raw.reset_index(drop=True)
        check_same_columns(list(new_raw.columns), list(ref_raw.columns), p["ignore_columns"])
    notes: list[str] = []
    rows = {"dataset": len(new_raw), "reference": len(ref_raw) if ref_raw is not None else None}
    unlabelled = {
        role: missing_labels(frame, p["label"])
        for role, frame in (("dataset", new_raw), ("reference", ref_raw))
        if frame is not None
    }
    for role, found in unlabelled.items():
        if found["count"]:
            notes.append(
                f"The {role} has {found['count']:,} row(s) without a {p['label']!r} label (first rows: "
                f"{found['rows'][:10]}): they are left out of the label checks, not counted as a class."
            )
    source_rows = np.arange(len(new_raw))
    if p.get("max_rows"):
        for role, frame in (("dataset", new_raw), ("reference", ref_raw)):
            if frame is not None and len(frame) > p["max_rows"]:
                notes.append(
                    f"The {role} has {len(frame):,} rows: a sample of {p['max_rows']:,} rows, stratified by "
                    f"{p['label']!r} (seed {p['seed']}), was checked."
                )
        source_rows = stratified_indices(new_raw[p["label"]], size=p["max_rows"], seed=p["seed"])
        new_raw = new_raw.iloc[source_rows].reset_index(drop=True)
        if ref_raw is not None:
            ref_raw = stratified_sample(ref_raw, label=p["label"], max_rows=p["max_rows"], seed=p["seed"])
    rows.update(dataset_checked=len(new_raw), reference_checked=len(ref_raw) if ref_raw is not None else None)
    return new_raw, ref_raw, source_rows, rows, notes, unlabelled


def _run_deepchecks(ctx, specs, p, conditions, new_ds, ref_ds, integrity_ds, emb_pair, entries, timings) -> list:
    from .report import check_entry

    results = []
    base, span = (0.5, 0.3) if p["task"] == "text_classification" else (0.1, 0.7)
    for i, spec in enumerate(specs):
        ctx.progress(base + span * i / max(1, len(specs)), f"running {spec.id}", force=True)
        mark = time.monotonic()
        check = spec.build(conditions[spec.id])
        if spec.stage == "integrity":
            result = _run(spec, check, integrity_ds)
            dataset = "dataset"
        elif spec.id == "embedding_drift" and emb_pair is not None:
            result = _run(spec, check, *emb_pair)
            dataset = "reference vs dataset (embedded texts)"
        else:
            result = _run(spec, check, ref_ds, new_ds)
            dataset = "reference vs dataset"
        results.append(result)
        entries.append(check_entry(spec, result, dataset))
        timings["checks"][spec.id] = round(time.monotonic() - mark, 2)
    return results


def _run_own_checks(
    own: set[str], conditions: dict, p: dict, data: RowData, tab, regression: bool, notes
) -> list[dict]:
    """Our checks, in a fixed order; a crash in one is that check's error, not the job's."""
    out: list[dict] = []
    tabular = p["task"] == "tabular"

    def step(check_id: str, fn, *args, stage: str = "integrity"):
        if check_id not in own:
            return
        if regression and check_id in CLASSIFICATION_ONLY:
            out.append(not_applicable(check_id, stage, check_id, "the label is continuous (regression)"))
            return
        try:
            result = timed(data, check_id, fn, *args)
        except Exception as exc:  # noqa: BLE001 - reported as the check's error
            out.append(error_entry(check_id, stage, exc))
            return
        out.extend(result if isinstance(result, list) else [result])

    if tabular and tab.ref_df is not None:
        step("column_types", lambda: run_column_types(tab.type_changes), stage="drift")
        step("date_columns", lambda: run_date_columns(tab.date_results(conditions["date_columns"])), stage="drift")
        step(
            "feature_drift",
            lambda: run_feature_drift(tab.ref_df, tab.new_df, tab.numeric, tab.cats, conditions["feature_drift"]),
            stage="drift",
        )
    elif tabular and tab.date_cols:
        step("date_columns", lambda: run_date_columns(tab.date_results(conditions["date_columns"])), stage="drift")
    if not tabular:
        step(
            "empty_texts",
            lambda: run_share_check(
                "empty_texts",
                empty_rows(data.texts_new),
                None if data.texts_ref is None else empty_rows(data.texts_ref),
                conditions["empty_texts"],
                "empty texts",
                data,
                "empty_text",
            ),
        )
        step(
            "markup",
            lambda: run_share_check(
                "markup",
                markup_rows(data.texts_new),
                None if data.texts_ref is None else markup_rows(data.texts_ref),
                conditions["markup"],
                "texts with markup",
                data,
                "markup",
            ),
        )
        step(
            "language_mix",
            lambda: run_language_mix(data.texts_ref, data.texts_new, conditions["language_mix"], p["seed"]),
            stage="drift",
        )
    if data.X_new is not None and len(data.X_new) > 1:
        if not regression:
            step("label_issues", lambda: run_label_issues(data, conditions["label_issues"], tabular=tabular))
        elif "label_issues" in own:
            out.append(
                not_applicable("label_issues", "integrity", "Label Issues", "the label is continuous (regression)")
            )
        if regression and "near_duplicate_conflicts" in own:
            out.append(
                not_applicable(
                    "near_duplicate_conflicts",
                    "integrity",
                    "Near Duplicates With Conflicting Labels",
                    "the label is continuous (regression)",
                )
            )
        if "near_duplicates" in own:
            dup_cfg = conditions["near_duplicates"]
            conf_cfg = (
                conditions["near_duplicate_conflicts"] if "near_duplicate_conflicts" in own and not regression else None
            )
            step(
                "near_duplicates",
                lambda: run_near_duplicates(data, dup_cfg, conf_cfg, _duplicate_sets(data, tab, dup_cfg)),
            )
        if data.X_ref is not None:
            step("coverage", lambda: run_coverage(data, conditions["coverage"]), stage="drift")
    return out


def _duplicate_sets(data: RowData, tab, cfg: dict):
    if tab is not None:
        frames = [tab.ref_rows_df, tab.new_df] if tab.ref_rows_df is not None else [tab.new_df]
        return near_duplicates.table_sets(
            frames,
            numeric=tab.numeric,
            categorical=tab.cats,
            n_ref=0 if tab.ref_rows_df is None else len(tab.ref_rows_df),
            tolerance=cfg["tolerance"],
        )
    texts = (
        data.texts_new
        if data.texts_ref_rows is None
        else pd.concat([data.texts_ref_rows, data.texts_new], ignore_index=True)
    )
    vectors = None
    if data.vectors_new is not None:
        vectors = data.vectors_new if data.vectors_ref is None else np.vstack([data.vectors_ref, data.vectors_new])
    n_ref = 0 if data.texts_ref_rows is None else len(data.texts_ref_rows)
    return near_duplicates.text_sets(texts, vectors, n_ref=n_ref, min_similarity=cfg["min_similarity"], seed=data.seed)


def _local_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _tabular_datasets(
    new_raw: pd.DataFrame, ref_raw: pd.DataFrame | None, p: dict, notes: list[str], *, regression: bool
) -> TabularPrep:
    from deepchecks.tabular import Dataset

    frames = [new_raw] + ([ref_raw] if ref_raw is not None else [])
    columns = [c for c in new_raw.columns if c not in {p["label"], *p["text"], *p["ignore_columns"]}]
    types = [{c: drift_stats.column_type(f[c]) for c in columns} for f in frames]
    for f, ftypes in zip(frames, types, strict=True):  # dates the reader typed from text: how they were written
        for c, written in f.attrs.get("date_formats", {}).items():
            if c in ftypes and ftypes[c].kind == "date" and ftypes[c].date_format == "typed":
                ftypes[c].written_as = written
    features, cats, numeric_like, units, dates = _tabular_features(frames, p, notes, types)
    label = p["label"]
    # Integrity checks see the batch exactly as read (mixed types and all).
    label_type = "regression" if regression else None
    integrity = Dataset(
        new_raw[[*features, *dates, label]],
        label=label,
        features=[*features, *dates],
        cat_features=cats,
        dataset_name="dataset",
        label_type=label_type,
    )

    def coerce(df: pd.DataFrame) -> pd.DataFrame:
        df = df[[*features, label]].copy()
        for col in units:
            df[col] = drift_stats.parse_units(df[col]) if df[col].dtype == object else df[col]
        for col in numeric_like:
            df[col] = pd.to_numeric(df[col].where(df[col].notna(), None).map(_strip), errors="coerce")
        for col in cats:
            df[col] = df[col].astype(str).where(df[col].notna(), None)
        if regression:
            df[label] = pd.to_numeric(df[label], errors="coerce")
        else:
            # Labels as strings on both sides: an int label in one file and a str label in the other is one label.
            df[label] = label_text(df[label])
        return df

    if numeric_like:
        notes.append(f"Columns {numeric_like} hold numbers and strings; drift checks read them as numbers.")
    new_df = coerce(new_raw)
    ref_df = coerce(ref_raw) if ref_raw is not None else None
    numeric = [c for c in features if c not in cats]
    types_ref = types[1] if ref_raw is not None else None
    changes = drift_stats.type_changes(types_ref, types[0]) if types_ref is not None else {}
    new_ds = ref_ds = None
    if ref_df is not None:
        # A column empty on one side (nothing parsed) breaks deepchecks' drift checks: left out, and said so.
        empty = [c for c in features if new_df[c].isna().all() or ref_df[c].isna().all()]
        if empty:
            notes.append(f"Columns {empty} are empty on one side: left out of deepchecks' drift checks.")
        kept = [c for c in features if c not in empty]
        kw = {
            "label": label,
            "features": kept,
            "cat_features": [c for c in cats if c in kept],
            "label_type": "regression" if regression else "multiclass",
        }
        # A missing label stays missing (never the class "None"): those rows are left out of the label-based
        # drift checks and reported on their own (`missing_labels`).
        new_known, ref_known = new_df[new_df[label].notna()], ref_df[ref_df[label].notna()]
        new_ds = Dataset(new_known[[*kept, label]], dataset_name="dataset", **kw)
        ref_ds = Dataset(ref_known[[*kept, label]], dataset_name="reference", **kw)
    return TabularPrep(
        integrity=integrity,
        new_ds=new_ds,
        ref_ds=ref_ds,
        new_df=new_df,
        ref_df=ref_df,
        ref_rows_df=None,
        numeric=numeric,
        cats=cats,
        date_cols=dates,
        types_new=types[0],
        types_ref=types_ref,
        type_changes=changes,
        new_raw=new_raw,
        ref_raw=ref_raw,
    )


def _tabular_row_data(data: RowData, tab: TabularPrep, p: dict, *, regression: bool, cap: int) -> None:
    """Feature matrices for label issues, near-duplicates and coverage (the reference sampled to ``cap`` rows)."""
    label = p["label"]
    if tab.ref_df is not None:
        ref = tab.ref_df
        if len(ref) > cap:
            ref = ref.iloc[stratified_indices(ref[label].astype(str), size=cap, seed=p["seed"])].reset_index(drop=True)
        tab.ref_rows_df = ref
        X_ref, X_new = tabular_matrices([ref, tab.new_df], numeric=tab.numeric, categorical=tab.cats)
        with limited_threads():
            data.X_ref, data.X_new = reduce([X_ref, X_new], seed=p["seed"])
        data.y_ref = None if regression else ref[label].to_numpy(dtype=object)
    else:
        (X_new,) = tabular_matrices([tab.new_df], numeric=tab.numeric, categorical=tab.cats)
        (data.X_new,) = reduce([X_new], seed=p["seed"])
    data.y_new = None if regression else tab.new_df[label].to_numpy(dtype=object)


def _texts(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    if len(columns) == 1:
        return df[columns[0]].fillna("").astype(str)
    return df[columns].fillna("").astype(str).agg("\n".join, axis=1)


def _text_datasets(
    ctx: JobContext,
    new_raw,
    ref_raw,
    p: dict,
    use_embeddings: bool,
    *,
    sample_size: int,
    notes: list[str],
    data: RowData,
    reference_cap: int,
):
    """TextData for the dataset and the reference (with the text properties); for embedding drift a pair
    holding only the embedded texts (up to ``sample_size`` per side, stratified by label); and in ``data``
    the vectors the row engines use: every new text and up to ``reference_cap`` reference texts.

    Embedding drift is a domain classifier's AUC; a few thousand texts per side estimate it to about
    +-0.01, so it compares a sample. Without embeddings the row engines use TF-IDF vectors reduced
    to 64 dimensions (latent semantic analysis) and near-duplicates are exact after normalising."""
    from deepchecks.nlp import TextData

    from .properties import text_properties

    frames = {"dataset": new_raw, "reference": ref_raw}
    texts = {k: _texts(v, p["text"]) for k, v in frames.items() if v is not None}
    labels = {
        role: frames[role][p["label"]].astype(str).where(frames[role][p["label"]].notna(), None) for role in texts
    }
    data.texts_new, data.texts_ref = texts["dataset"], texts.get("reference")
    data.y_new = labels["dataset"].to_numpy(dtype=object)  # None stays None: a missing label, not a class
    ref_rows = None
    if ref_raw is not None:
        ref_rows = stratified_indices(ref_raw[p["label"]], size=reference_cap, seed=p["seed"])
        if len(ref_rows) < len(ref_raw):
            notes.append(
                f"Label issues, near-duplicates and coverage compare with {len(ref_rows):,} of {len(ref_raw):,} "
                f"reference texts (stratified by {p['label']!r}, seed {p['seed']}; label_issues.max_reference_rows)."
            )
        data.texts_ref_rows = texts["reference"].iloc[ref_rows].reset_index(drop=True)
        data.y_ref = labels["reference"].iloc[ref_rows].to_numpy(dtype=object)
    info = None
    emb_pair = None
    if use_embeddings:
        from ...embeddings import get_embedder

        emb = p["embeddings"]
        cache_dir = Path(os.environ.get("EMBEDDINGS_CACHE_DIR") or ctx.storage.data_root / ".cache" / "embeddings")
        ctx.progress(0.06, "loading the embedding model", force=True)
        embed_started = time.monotonic()
        embedder = get_embedder(provider=emb.get("provider"), model=emb.get("model"), cache_dir=cache_dir)
        total = len(texts["dataset"]) + (0 if ref_rows is None else len(ref_rows))

        def report(offset: int):
            def inner(done: int, _total: int) -> None:
                ctx.progress(0.08 + 0.4 * (offset + done) / max(1, total), f"embedding texts {offset + done}/{total}")

            return inner

        data.vectors_new = embedder.embed(texts["dataset"].tolist(), progress=report(0))
        if ref_rows is not None:
            data.vectors_ref = embedder.embed(data.texts_ref_rows.tolist(), progress=report(len(texts["dataset"])))
            picked = {
                role: stratified_indices(frames[role][p["label"]], size=sample_size, seed=p["seed"]) for role in texts
            }
            if any(len(picked[r]) < len(texts[r]) for r in texts):
                notes.append(
                    "Embedding drift: "
                    + "; ".join(f"{len(picked[r]):,} of {len(texts[r]):,} {r} texts" for r in texts)
                    + f" were compared (a sample stratified by {p['label']!r}, seed {p['seed']}; "
                    "set embedding_drift.sample_size to change it)."
                )
            pair = {}
            for role in ("reference", "dataset"):
                chosen = texts[role].iloc[picked[role]]
                pair[role] = TextData(
                    raw_text=chosen.tolist(),
                    label=labels[role].iloc[picked[role]].tolist(),
                    task_type="text_classification",
                    name=role,
                    embeddings=embedder.embed(chosen.tolist()),  # from the cache: embedded above or before
                )
            emb_pair = (pair["reference"], pair["dataset"])
        info = {
            "provider": embedder.provider,
            "model": embedder.model_name,
            "dim": embedder.dim,
            **embedder.stats,
            "texts_per_side": {
                "dataset": len(texts["dataset"]),
                **({} if ref_rows is None else {"reference": len(ref_rows)}),
            },
            "seconds": round(time.monotonic() - embed_started, 2),
        }
        matrices = [data.vectors_new] if data.vectors_ref is None else [data.vectors_ref, data.vectors_new]
    else:
        matrices = _tfidf_vectors([texts["dataset"]] if ref_rows is None else [data.texts_ref_rows, texts["dataset"]])
        notes.append(
            "No embeddings: label issues and coverage use TF-IDF vectors (64 dimensions); near-duplicates "
            "are exact after normalising case, punctuation and whitespace."
        )
    with limited_threads():
        reduced = reduce(matrices, seed=p["seed"])
    if len(reduced) == 2:
        data.X_ref, data.X_new = reduced
    else:
        (data.X_new,) = reduced
    datasets = {}
    for role, series in texts.items():
        datasets[role] = TextData(
            raw_text=series.tolist(),
            label=labels[role].tolist(),
            task_type="text_classification",
            name=role,
            properties=text_properties(series).reset_index(drop=True),
            categorical_properties=[],
        )
    return datasets["dataset"], datasets.get("reference"), emb_pair, info


def _tfidf_vectors(sides: list[pd.Series]) -> list[np.ndarray]:
    """TF-IDF (fitted on the first side) reduced to 64 dimensions by truncated SVD, unit length."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=50000)
    try:
        first = vectorizer.fit_transform(sides[0].fillna("").astype(str))
    except ValueError:  # no word occurs twice
        vectorizer = TfidfVectorizer(sublinear_tf=True)
        first = vectorizer.fit_transform(sides[0].fillna("").astype(str).where(lambda s: s.str.strip() != "", "empty"))
    mats = [first] + [vectorizer.transform(s.fillna("").astype(str)) for s in sides[1:]]
    dims = max(1, min(64, first.shape[1] - 1, first.shape[0] - 1))
    svd = TruncatedSVD(n_components=dims, random_state=0).fit(first)
    return [normalize(svd.transform(m)).astype(np.float32) for m in mats]
