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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import ServiceError
from ...jobs.context import JobContext
from .conditions import resolve_conditions
from .io import read_table
from .validation import (
    check_columns,
    check_label,
    check_same_columns,
    input_path,
    normalise_params,
    required_columns,
)

CATEGORICAL_MAX_UNIQUE = 100


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


def _tabular_features(frames: list[pd.DataFrame], p: dict, notes: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(features, categorical features, numeric-like object columns) shared by every frame."""
    excluded = {p["label"], *p["text"], *p["ignore_columns"]}
    features, cats, numeric_like = [], [], []
    for col in frames[0].columns:
        if col in excluded:
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
    return features, cats, numeric_like


def _run(spec, check, *datasets) -> Any:
    from deepchecks.core import CheckFailure

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check.run(*datasets)
    except Exception as exc:  # noqa: BLE001 - a failing check is reported, not fatal
        return CheckFailure(check, exc)


def run_checks(ctx: JobContext, params: dict) -> dict:
    started = time.monotonic()
    timings: dict[str, Any] = {}
    p = normalise_params(params)
    conditions = resolve_conditions(p["task"], p["conditions"], defaults_file=params.get("defaults_file"))
    needed = required_columns(p)
    ctx.progress(0.01, "reading the data", force=True)
    new_raw, new_path = _load(ctx, p, "dataset", needed)
    ref_raw = None
    if p.get("reference"):
        ref_raw, _ = _load(ctx, p, "reference", needed)
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
    if p.get("max_rows"):
        for role, frame in (("dataset", new_raw), ("reference", ref_raw)):
            if frame is not None and len(frame) > p["max_rows"]:
                notes.append(
                    f"The {role} has {len(frame):,} rows: a sample of {p['max_rows']:,} rows, stratified by "
                    f"{p['label']!r} (seed {p['seed']}), was checked."
                )
        new_raw = stratified_sample(new_raw, label=p["label"], max_rows=p["max_rows"], seed=p["seed"])
        if ref_raw is not None:
            ref_raw = stratified_sample(ref_raw, label=p["label"], max_rows=p["max_rows"], seed=p["seed"])
    rows.update(dataset_checked=len(new_raw), reference_checked=len(ref_raw) if ref_raw is not None else None)
    timings["read"] = round(time.monotonic() - started, 2)
    ctx.progress(0.05, "preparing the datasets", force=True)
    mark = time.monotonic()

    import deepchecks  # noqa: F401 - imported here only: the worker pays its start-up, the web server never does

    from .suites import CATALOG

    timings["import"] = round(time.monotonic() - mark, 2)
    mark = time.monotonic()

    specs = [s for s in CATALOG[p["task"]] if conditions[s.id]["enabled"] and s.stage in p["suites"]]
    embeddings_info = None
    emb_pair = None
    if p["task"] == "tabular":
        new_ds, ref_ds, integrity_ds = _tabular_datasets(new_raw, ref_raw, p, notes)
    else:
        use_embeddings = p["embeddings"]["enabled"] and any(s.id == "embedding_drift" for s in specs)
        if not use_embeddings:
            specs = [s for s in specs if s.id != "embedding_drift"]
        sample_size = conditions["embedding_drift"]["sample_size"]
        new_ds, ref_ds, emb_pair, embeddings_info = _text_datasets(
            ctx, new_raw, ref_raw, p, use_embeddings, sample_size=sample_size, notes=notes
        )
        integrity_ds = new_ds

    timings["prepare"] = round(time.monotonic() - mark, 2)
    if embeddings_info:
        timings["embeddings"] = embeddings_info.pop("seconds")
        timings["prepare"] = round(timings["prepare"] - timings["embeddings"], 2)
    timings["checks"] = {}
    results, entries = [], []
    base, span = (0.5, 0.4) if p["task"] == "text_classification" else (0.1, 0.8)
    from .report import check_entry

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

    failed = [e["id"] for e in entries if not e["passed"]]
    passed = not failed
    out_loc = params.get("output") or f"checks/{ctx.job_id if ctx.job_id != 'local' else _local_id()}"
    out_dir = ctx.storage.resolve_output(out_loc)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "passed": passed,
        "verdict": "passed" if passed else "failed",
        "failed_checks": failed,
        "task": p["task"],
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
        "conditions": {s.id: conditions[s.id] for s in specs},
        "checks": entries,
    }

    ctx.progress(0.92, "writing the report", force=True)
    mark = time.monotonic()
    report = out_dir / "report.html"
    title = (
        f"Incoming data checks: {Path(p['dataset']).name} - {'PASSED' if passed else 'FAILED: ' + ', '.join(failed)}"
    )
    from .report import save_html

    with ctx.storage.atomic_file(report) as tmp:
        save_html(results, title=title, notes=notes, target=tmp)
    summary["report"] = ctx.storage.relative(report)
    ctx.add_output(summary["report"])
    timings["report"] = round(time.monotonic() - mark, 2)

    if params.get("wandb", True):
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


def _local_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]


def _tabular_datasets(new_raw: pd.DataFrame, ref_raw: pd.DataFrame | None, p: dict, notes: list[str]):
    from deepchecks.tabular import Dataset

    frames = [new_raw] + ([ref_raw] if ref_raw is not None else [])
    features, cats, numeric_like = _tabular_features(frames, p, notes)
    label = p["label"]
    # Integrity checks see the batch exactly as read (mixed types and all).
    integrity = Dataset(
        new_raw[[*features, label]], label=label, features=features, cat_features=cats, dataset_name="dataset"
    )
    if ref_raw is None:
        return None, None, integrity

    def coerce(df: pd.DataFrame) -> pd.DataFrame:
        df = df[[*features, label]].copy()
        for col in numeric_like:
            df[col] = pd.to_numeric(df[col].where(df[col].notna(), None).map(_strip), errors="coerce")
        for col in cats:
            df[col] = df[col].astype(str).where(df[col].notna(), None)
        return df

    if numeric_like:
        notes.append(f"Columns {numeric_like} hold numbers and strings; drift checks read them as numbers.")
    new_df, ref_df = coerce(new_raw), coerce(ref_raw)
    # Labels as strings on both sides: an int label in one file and a str label in the other is one label.
    # A missing label stays missing (never the class "None"): those rows are left out of the label-based
    # drift checks and reported on their own (`missing_labels`).
    new_df[label] = label_text(new_df[label])
    ref_df[label] = label_text(ref_df[label])
    new_df, ref_df = new_df[new_df[label].notna()], ref_df[ref_df[label].notna()]
    kw = {"label": label, "features": features, "cat_features": cats, "label_type": "multiclass"}
    return Dataset(new_df, dataset_name="dataset", **kw), Dataset(ref_df, dataset_name="reference", **kw), integrity


def _texts(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    if len(columns) == 1:
        return df[columns[0]].fillna("").astype(str)
    return df[columns].fillna("").astype(str).agg("\n".join, axis=1)


def _text_datasets(
    ctx: JobContext, new_raw, ref_raw, p: dict, use_embeddings: bool, *, sample_size: int, notes: list[str]
):
    """TextData for the dataset and the reference (with the text properties), and for embedding drift
    a pair holding only the embedded texts: up to ``sample_size`` per side, stratified by label.

    Embedding drift is a domain classifier's AUC; a few thousand texts per side estimate it to about
    +-0.01, so texts beyond ``sample_size`` are not embedded (embedding is most of a cold run)."""
    from deepchecks.nlp import TextData

    from .properties import text_properties

    frames = {"dataset": new_raw, "reference": ref_raw}
    texts = {k: _texts(v, p["text"]) for k, v in frames.items() if v is not None}
    labels = {
        role: frames[role][p["label"]].astype(str).where(frames[role][p["label"]].notna(), None) for role in texts
    }
    info = None
    emb_pair = None
    if use_embeddings and ref_raw is not None:
        from ...embeddings import get_embedder

        emb = p["embeddings"]
        cache_dir = Path(os.environ.get("EMBEDDINGS_CACHE_DIR") or ctx.storage.data_root / ".cache" / "embeddings")
        ctx.progress(0.06, "loading the embedding model", force=True)
        embed_started = time.monotonic()
        embedder = get_embedder(provider=emb.get("provider"), model=emb.get("model"), cache_dir=cache_dir)
        picked = {
            role: stratified_indices(frames[role][p["label"]], size=sample_size, seed=p["seed"]) for role in texts
        }
        sampled = [role for role in texts if len(picked[role]) < len(texts[role])]
        if sampled:
            notes.append(
                "Embedding drift: "
                + "; ".join(f"{len(picked[r]):,} of {len(texts[r]):,} {r} texts" for r in texts)
                + f" were embedded and compared (a sample stratified by {p['label']!r}, seed {p['seed']}; "
                "set embedding_drift.sample_size to change it)."
            )
        total = sum(len(ix) for ix in picked.values())
        offset = 0
        pair = {}
        for role in ("reference", "dataset"):
            ix = picked[role]

            def report(done: int, _total: int, offset=offset) -> None:
                ctx.progress(0.08 + 0.4 * (offset + done) / max(1, total), f"embedding texts {offset + done}/{total}")

            chosen = texts[role].iloc[ix]
            vectors = embedder.embed(chosen.tolist(), progress=report)
            offset += len(ix)
            pair[role] = TextData(
                raw_text=chosen.tolist(),
                label=labels[role].iloc[ix].tolist(),
                task_type="text_classification",
                name=role,
                embeddings=vectors,
            )
        emb_pair = (pair["reference"], pair["dataset"])
        info = {
            "provider": embedder.provider,
            "model": embedder.model_name,
            "dim": embedder.dim,
            **embedder.stats,
            "texts_per_side": {role: len(ix) for role, ix in picked.items()},
            "seconds": round(time.monotonic() - embed_started, 2),
        }
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
