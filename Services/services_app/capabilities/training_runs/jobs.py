"""``process(ctx, params)``: the job of a training run, as a short sequence of named steps.

1. `open_run`: check the request and every file of the uploaded bundle (shapes against the manifest);
2. `labels_of`: the given labels of a split, checked against the label list;
3. `split_signals`: training dynamics and likely mislabelled samples of each labelled split;
4. `coverage_signals`: the training split's own k-NN distance threshold, then each other split's distances,
   out-of-coverage flags and drift share;
5. `cluster_signals`: clusters of all splits with their top words;
6. `write_results`: one Parquet file per split, ``summary.json`` and ``manifest.json`` (last), atomically.

Memory stays bounded for large runs: probabilities are read an epoch at a time, embeddings are memory-mapped
and searched in blocks; only ``rows x labels`` arrays and the texts are held whole.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ...errors import ServiceError
from ...jobs.context import JobContext
from . import clusters, coverage, dynamics, mislabel, slices
from .bundle import Bundle, SplitData, open_bundle
from .request import ProcessRequest, SignalOptions

KIND = "training_runs.process"


@dataclass
class SplitResult:
    split: SplitData
    inputs: pa.Table
    labels: np.ndarray | None
    dyn: dynamics.Dynamics
    mis: mislabel.Mislabel | None = None
    knn_distance: np.ndarray | None = None
    out_of_coverage: np.ndarray | None = None
    cluster: np.ndarray | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def parse_request(params: dict) -> ProcessRequest:
    return ProcessRequest.from_params(params)


def open_run(ctx: JobContext, req: ProcessRequest) -> Bundle:
    folder = ctx.storage.resolve(req.bundle, must_exist=True)
    return open_bundle(folder)


def labels_of(bundle: Bundle, split: SplitData, inputs: pa.Table) -> np.ndarray | None:
    """[n] int32, or [n, C] bool for multi-label; None for an unlabelled split."""
    if not split.labelled:
        return None
    n_labels = len(bundle.labels)
    column = inputs.column("label")
    if bundle.multi_label:
        out = np.zeros((split.rows, n_labels), dtype=bool)
        for i, row in enumerate(column.to_pylist()):
            for j in row or ():
                if not 0 <= j < n_labels:
                    raise ServiceError(
                        f"split {split.key}: label index {j} is outside the {n_labels} labels",
                        code="invalid_run_bundle",
                    )
                out[i, j] = True
        return out
    values = column.to_numpy(zero_copy_only=False)
    if column.null_count or values.min() < 0 or values.max() >= n_labels:
        raise ServiceError(
            f"split {split.key}: every row needs a label index between 0 and {n_labels - 1}",
            code="invalid_run_bundle",
        )
    return values.astype(np.int32)


def split_signals(bundle: Bundle, split: SplitData, opts: SignalOptions, progress) -> SplitResult:
    inputs = split.inputs()
    labels = labels_of(bundle, split, inputs)
    dyn = dynamics.compute(
        split,
        labels,
        multi=bundle.multi_label,
        easy_below=opts.easy_below,
        hard_from=opts.hard_from,
        boundary_margin=opts.boundary_margin,
        progress=progress,
    )
    result = SplitResult(split=split, inputs=inputs, labels=labels, dyn=dyn)
    if labels is not None:
        result.mis = mislabel.find(labels, dyn.mean_probs, dyn.aum, multi=bundle.multi_label, aum_below=opts.aum_below)
    return result


def coverage_signals(results: dict[str, SplitResult], opts: SignalOptions, progress) -> dict[str, Any]:
    training = results["training"].split
    reference = training.embeddings()
    reference_norms = coverage.norms(reference)
    threshold, sample = coverage.training_threshold(
        reference,
        reference_norms,
        k=opts.k,
        percentile=opts.coverage_percentile,
        sample=opts.coverage_reference_sample,
        seed=opts.seed,
    )
    others = [r for key, r in results.items() if key != "training"]
    for i, r in enumerate(others):
        r.knn_distance = coverage.kth_distance(
            r.split.embeddings(),
            reference,
            reference_norms,
            opts.k,
            progress=lambda f, i=i: progress((i + f) / max(1, len(others))),
        )
        r.out_of_coverage = r.knn_distance > threshold
        share = float(r.out_of_coverage.mean())
        r.summary["coverage"] = {
            "out_of_coverage": int(r.out_of_coverage.sum()),
            "drift_share": round(share, 4),
            "drifted": share > opts.drift_share,
            "median_knn_distance": round(float(np.median(r.knn_distance)), 4),
        }
    return {
        "k": opts.k,
        "percentile": opts.coverage_percentile,
        "threshold": round(threshold, 6),
        "reference_sample": sample,
        "drift_share_above": opts.drift_share,
    }


def cluster_signals(results: dict[str, SplitResult], opts: SignalOptions) -> list[dict]:
    rows = sum(r.split.rows for r in results.values())
    n_clusters = opts.clusters or clusters.default_count(rows)
    model = clusters.fit([r.split.embeddings() for r in results.values()], n_clusters, opts.seed)
    n_clusters = model.n_clusters
    texts: list[str] = []
    assigned = []
    for r in results.values():
        r.cluster = clusters.assign(model, r.split.embeddings())
        assigned.append(r.cluster)
        texts.extend("" if t is None else t for t in r.inputs.column("text").to_pylist())
    words = clusters.top_words(texts, np.concatenate(assigned), n_clusters, opts.top_words)
    out = []
    for c in range(n_clusters):
        entry: dict[str, Any] = {"cluster": c, "top_words": words.get(c, []), "rows": {}}
        errors = flagged = labelled = outside = others = 0
        for key, r in results.items():
            mask = r.cluster == c
            entry["rows"][key] = int(mask.sum())
            if r.labels is not None:
                labelled += int(mask.sum())
                errors += int((~r.dyn.correct[mask]).sum())
                flagged += int(r.mis.flagged[mask].sum())
            if r.out_of_coverage is not None:
                others += int(mask.sum())
                outside += int(r.out_of_coverage[mask].sum())
        entry["error_rate"] = round(errors / labelled, 4) if labelled else None
        entry["likely_mislabelled"] = flagged
        entry["out_of_coverage_share"] = round(outside / others, 4) if others else None
        out.append(entry)
    return out


def _names(label_names: list[str], values: np.ndarray, multi: bool) -> list:
    if multi:
        return [[label_names[j] for j in np.flatnonzero(row)] for row in values]
    return [label_names[int(v)] if v >= 0 else None for v in values]


def result_table(bundle: Bundle, r: SplitResult) -> pa.Table:
    """The per-sample Parquet table of a split (column meanings: docs/training_runs.md)."""
    names, multi, n = bundle.labels, bundle.multi_label, r.split.rows
    d = r.dyn
    columns: dict[str, Any] = {"id": r.inputs.column("id"), "text": r.inputs.column("text")}
    if r.labels is not None:
        columns["label"] = _names(names, r.labels, multi)
    columns["predicted"] = _names(names, d.predicted, multi)
    columns["confidence"] = d.final_probs.max(axis=1)
    if r.labels is not None:
        columns["correct"] = d.correct
        columns["margin"] = d.margin
        columns["aum"] = d.aum
        columns["dep"] = d.dep
        columns["band"] = pa.array(list(d.band), pa.string())
        columns["forgotten"] = d.forgotten
        columns["likely_mislabelled"] = r.mis.flagged
        columns["confident_learning"] = r.mis.confident_learning
        if multi:
            columns["suggested_label"] = pa.array(
                [[names[j] for j in s] if s is not None else None for s in r.mis.suggested], pa.list_(pa.string())
            )
        else:
            columns["suggested_label"] = pa.array(_names(names, r.mis.suggested, False), pa.string())
        columns["label_quality"] = r.mis.label_quality
    columns["on_boundary"] = d.on_boundary
    columns["knn_distance"] = (
        pa.nulls(n, pa.float32()) if r.knn_distance is None else pa.array(r.knn_distance, pa.float32())
    )
    columns["out_of_coverage"] = (
        pa.nulls(n, pa.bool_()) if r.out_of_coverage is None else pa.array(r.out_of_coverage, pa.bool_())
    )
    columns["cluster"] = r.cluster
    for column in r.split.metadata:
        if column in columns:
            continue
        columns[column] = r.inputs.column(column)
    return pa.table(columns)


def split_summary(bundle: Bundle, r: SplitResult, opts: SignalOptions) -> dict[str, Any]:
    s: dict[str, Any] = {"rows": r.split.rows, "epochs": r.split.epochs, "labelled": r.labels is not None}
    d = r.dyn
    s["on_boundary"] = int(d.on_boundary.sum())
    if r.labels is not None:
        s["accuracy"] = round(float(d.correct.mean()), 4)
        s["bands"] = {b: int((d.band == b).sum()) for b in ("easy", "ambiguous", "hard")}
        s["likely_mislabelled"] = int(r.mis.flagged.sum())
        s["confident_learning_flags"] = int(r.mis.confident_learning.sum())
        s["mean_dep"] = round(float(d.dep.mean()), 4)
        signals = {"correct": d.correct, "flagged": r.mis.flagged, "band": d.band, "dep": d.dep}
        s["per_class"] = slices.per_class(bundle.labels, r.labels, bundle.multi_label, **signals)
        s["per_metadata"], s["metadata_not_sliced"] = slices.per_metadata(
            r.inputs, r.split.metadata, opts.max_slice_values, **signals
        )
        if r.mis.note:
            s["note"] = r.mis.note
    return {**s, **r.summary}


def write_results(ctx: JobContext, req: ProcessRequest, bundle: Bundle, results, summary: dict) -> str:
    with ctx.storage.output(req.output, folder=True) as tmp:
        files = []
        for key, r in results.items():
            table = result_table(bundle, r)
            pq.write_table(table, tmp / f"{key}.parquet", compression="zstd", row_group_size=65536)
            files.append({"split": key, "file": f"{key}.parquet", "rows": table.num_rows})
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        manifest = {
            "kind": KIND,
            "run_id": req.run_id,
            "job_id": ctx.job_id,
            "created_at": datetime.now(UTC).isoformat(),
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return req.output


def process(ctx: JobContext, params: dict) -> dict:
    started = time.monotonic()
    req = parse_request(params)
    opts = req.options
    ctx.progress(0.01, "checking the uploaded files", force=True)
    bundle = open_run(ctx, req)
    order = ["training"] + sorted(k for k in bundle.splits if k != "training")
    results: dict[str, SplitResult] = {}
    for i, key in enumerate(order):
        base = 0.05 + 0.35 * i / len(order)
        results[key] = split_signals(
            bundle,
            bundle.splits[key],
            opts,
            lambda f, base=base, key=key: ctx.progress(base + 0.35 / len(order) * f, f"training dynamics: {key}"),
        )
    ctx.progress(0.4, "coverage: nearest training neighbours", force=True)
    coverage_info = coverage_signals(results, opts, lambda f: ctx.progress(0.4 + 0.35 * f, "coverage"))
    ctx.progress(0.75, "clusters", force=True)
    cluster_info = cluster_signals(results, opts)
    ctx.progress(0.9, "writing results", force=True)
    warnings = [r.mis.note for r in results.values() if r.mis is not None and r.mis.note]
    summary = {
        "run_id": req.run_id,
        "run_name": req.run_name,
        "task_type": bundle.task_type,
        "labels": bundle.labels,
        "splits": {key: split_summary(bundle, r, opts) for key, r in results.items()},
        "coverage": coverage_info,
        "clusters": cluster_info,
        "options": opts.model_dump(),
        "warnings": warnings,
    }
    location = write_results(ctx, req, bundle, results, summary)
    ctx.add_output(location)
    ctx.progress(1.0, "done", force=True)
    brief = {
        key: {k: v for k, v in s.items() if k not in ("per_class", "per_metadata", "metadata_not_sliced")}
        for key, s in summary["splits"].items()
    }
    return {
        "run_id": req.run_id,
        "results": location,
        "splits": brief,
        "coverage": coverage_info,
        "clusters": len(cluster_info),
        "warnings": warnings,
        "seconds": round(time.monotonic() - started, 3),
    }
