"""Benchmark of the incoming data checks: tabular (50k rows; 1M rows with max_rows=50000) and
text (20k new vs 20k reference texts with embeddings, cold and warm cache); then the row stages
alone (label issues, near-duplicates, coverage on 20k vs 20k texts with a warm embedding cache)
and near-duplicate scaling (20k new vs 20k and vs 100k reference vectors).

BENCH_STAGES_ONLY=1 runs only the row stages and the scaling; BENCH_EMBED_ROWS=1000 embeds only that many
texts per side and fills the other rows with noisy copies of their vectors (a machine too slow to embed
40,000 texts cold; the warm-cache read is then measured on the embedded rows only).

Each contender runs in a child process (wall time, peak RSS). BENCH_SCALE=0.1 for a smoke run.
    .venv/bin/python benches/bench_checks.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCALE = float(os.environ.get("BENCH_SCALE", "1"))

CHILD = r"""
import json, resource, sys, time
t = time.monotonic()
sys.path.insert(0, {services!r}); sys.path.insert(0, {tests!r})
from services_app.storage import Storage
from services_app.jobs.context import JobContext
from services_app.capabilities.checks.jobs import run_checks
r = run_checks(JobContext(storage=Storage(data_root={root!r})), json.loads({params!r}))
print(json.dumps({{"seconds": time.monotonic() - t, "passed": r["passed"], "embeddings": r["embeddings"],
                  "rows": r["rows"], "timings": r["timings"], "failed": r["failed_checks"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def child(root: Path, params: dict) -> dict:
    code = CHILD.format(
        services=str(ROOT / "Services"),
        tests=str(ROOT / "Services/tests/checks"),
        root=str(root),
        params=json.dumps(params),
    )
    t = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "EMBEDDINGS_CACHE_DIR"} | {"WANDB_MODE": "disabled"},
    )
    wall = time.monotonic() - t
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall  # peak_rss_mb: the child's own ru_maxrss (RUSAGE_CHILDREN would keep the maximum of all)
    return out


def main() -> None:
    sys.path.insert(0, str(ROOT / "Services/tests/checks"))
    root = Path(tempfile.mkdtemp(prefix="bench-checks-"))
    try:
        if not os.environ.get("BENCH_STAGES_ONLY"):
            run_all(root)
        run_stages(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


STAGES = r"""
import json, os, resource, sys, time
sys.path.insert(0, {services!r}); sys.path.insert(0, {tests!r})
import numpy as np, pandas as pd
from datagen import text_batch
from services_app.embeddings import get_embedder
from services_app.capabilities.checks import near_duplicates
from services_app.capabilities.checks.features import free_cores, reduce
from threadpoolctl import threadpool_limits
threadpool_limits(limits=free_cores())  # as the job does
from services_app.capabilities.checks.row_checks import RowData, run_coverage, run_label_issues, run_near_duplicates
n, m = {n}, {embed_n}
ref, new = text_batch(n, 11), text_batch(n, 12)
embedder = get_embedder(provider="local", cache_dir={cache!r})
t = time.monotonic(); embedder.embed(pd.concat([ref.text[:m], new.text[:m]]).tolist()); cold = time.monotonic() - t
out = {{"n": n, "embedded_rows_per_side": m, "cold_embed_s": round(cold, 1), "embedded": embedder.stats["computed"]}}
# The stages as the job runs them, from a warm cache.
embedder = get_embedder(provider="local", cache_dir={cache!r})
t0 = time.monotonic()
v_ref, v_new = embedder.embed(ref.text[:m].tolist()), embedder.embed(new.text[:m].tolist())
out["warm_cache_read_s"] = round(time.monotonic() - t0, 2)
if m < n:
    # Fewer texts embedded than rows (BENCH_EMBED_ROWS): the other rows get noisy copies of embedded vectors
    # (cosine about 0.85 to their source) with their source's text and label.
    rng = np.random.default_rng(1)
    def grow(v, df):
        src = np.concatenate([np.arange(m), rng.integers(0, m, n - m)])
        noisy = v[src] + np.r_[np.zeros((m, v.shape[1])), 0.6 * rng.standard_normal((n - m, v.shape[1])) / np.sqrt(v.shape[1])]
        return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32), df.iloc[src].reset_index(drop=True)
    v_ref, ref = grow(v_ref, ref); v_new, new = grow(v_new, new)
    t0 = time.monotonic() - out["warm_cache_read_s"]
t = time.monotonic()
data = RowData(n_new=n, seed=0, texts_new=new.text, texts_ref=ref.text, texts_ref_rows=ref.text,
               y_new=new.label.to_numpy(), y_ref=ref.label.to_numpy(), vectors_new=v_new, vectors_ref=v_ref)
data.X_ref, data.X_new = reduce([v_ref, v_new])
out["reduce_s"] = round(time.monotonic() - t, 2)
cfg = dict(max_excess=0.02, p_value=0.001, max_label_quality=0.15, max_neighbour_agreement=0.1, k=10, folds=5)
t = time.monotonic(); run_label_issues(data, cfg, tabular=False); out["label_issues_s"] = round(time.monotonic() - t, 2)
t = time.monotonic()
sets = near_duplicates.text_sets(pd.concat([ref.text, new.text], ignore_index=True), np.vstack([v_ref, v_new]),
                                 n_ref=n, min_similarity=0.95)
run_near_duplicates(data, dict(max_excess=0.02), dict(max_excess=0.005), sets)
out["near_duplicates_s"] = round(time.monotonic() - t, 2)
t = time.monotonic(); run_coverage(data, dict(quantile=0.95, max_excess=0.05, p_value=0.001, k=10))
out["coverage_s"] = round(time.monotonic() - t, 2)
out["stages_total_s"] = round(time.monotonic() - t0, 2)
# Near-duplicate scaling: 20k new vectors against 20k and 100k reference vectors. Reference vectors beyond
# the embedded ones are noisy copies (cosine about 0.85 to their source, below the 0.95 threshold), so the
# bigger pool keeps the clustering of real embeddings.
rng = np.random.default_rng(0)
def pool(size):
    base = np.vstack([v_ref, v_new])
    picked = base[rng.integers(0, len(base), size)]
    noisy = picked + 0.6 * rng.standard_normal(picked.shape).astype(np.float32) / np.sqrt(picked.shape[1])
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)
scaling = {{}}
for ref_size in ({n}, 5 * {n}):
    vectors = np.vstack([pool(ref_size), v_new])
    t = time.monotonic()
    pairs, checked = near_duplicates.lsh_pairs(vectors, min_similarity=0.95)
    scaling[ref_size] = {{"pooled_rows": len(vectors), "seconds": round(time.monotonic() - t, 2),
                          "pairs_checked": int(checked), "all_pairs": len(vectors) * (len(vectors) - 1) // 2,
                          "bits_tables": near_duplicates.lsh_plan(len(vectors), 0.95)}}
out["near_duplicate_scaling"] = scaling
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run_stages(root: Path) -> None:
    n = int(20_000 * SCALE)
    embed_n = min(n, int(os.environ.get("BENCH_EMBED_ROWS") or n))
    cache = os.environ.get("BENCH_EMBEDDINGS_CACHE") or str(root / "embeddings-cache")
    services, tests = str(ROOT / "Services"), str(ROOT / "Services/tests/checks")
    code = STAGES.format(services=services, tests=tests, n=n, embed_n=embed_n, cache=cache)
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"row stages, {n:,} vs {n:,} texts, warm embedding cache: {out['stages_total_s']} s "
        f"(cache read {out['warm_cache_read_s']}, reduce {out['reduce_s']}, label issues {out['label_issues_s']}, "
        f"near-duplicates {out['near_duplicates_s']}, coverage {out['coverage_s']}); "
        f"cold embedding of {out['embedded']:,} texts took {out['cold_embed_s']} s"
    )
    scaling = out["near_duplicate_scaling"]
    sizes = sorted(scaling, key=int)
    for size in sizes:
        s = scaling[size]
        print(
            f"near-duplicates, {n:,} new vs {int(size):,} reference: {s['seconds']} s, "
            f"{s['pairs_checked']:,} pairs checked of {s['all_pairs']:,} (bits, tables {s['bits_tables']})"
        )
    a, b = scaling[sizes[0]], scaling[sizes[1]]
    print(
        f"near-duplicates: {b['pooled_rows'] / a['pooled_rows']:.1f}x rows -> {b['seconds'] / max(a['seconds'], 1e-3):.1f}x "
        f"time, {b['pairs_checked'] / max(a['pairs_checked'], 1):.1f}x pairs (all pairs: "
        f"{b['all_pairs'] / a['all_pairs']:.1f}x)"
    )
    print(json.dumps(out), flush=True)


def run_all(root: Path) -> None:
    from datagen import tabular_batch, text_batch

    n_tab, n_big, n_text = int(100_000 * SCALE), int(1_000_000 * SCALE), int(20_000 * SCALE)
    cap = int(50_000 * SCALE)
    tabular_batch(n_tab, 1).to_parquet(root / "tab_ref.parquet")
    tabular_batch(n_tab, 2).to_parquet(root / "tab_new.parquet")
    tabular_batch(cap, 3).to_parquet(root / "tab_50k.parquet")
    tabular_batch(n_big, 4).to_parquet(root / "tab_1m.parquet")
    text_batch(n_text, 11).to_parquet(root / "text_ref.parquet")
    text_batch(n_text, 12).to_parquet(root / "text_new.parquet")
    base = {"label": "risk", "reference": "tab_ref.parquet", "wandb": False}
    text = {
        "label": "label",
        "text": "text",
        "task": "text_classification",
        "reference": "text_ref.parquet",
        "dataset": "text_new.parquet",
        "wandb": False,
    }
    runs = [
        (f"tabular {n_tab:,} vs {n_tab:,}", {**base, "dataset": "tab_new.parquet"}),
        (f"tabular {cap:,} rows", {**base, "dataset": "tab_50k.parquet", "max_rows": cap}),
        (f"tabular {n_big:,} rows, max_rows={cap:,}", {**base, "dataset": "tab_1m.parquet", "max_rows": cap}),
        (f"text {n_text:,} vs {n_text:,}, cold cache", text),
        (f"text {n_text:,} vs {n_text:,}, warm cache", text),
    ]
    results = []
    for name, params in runs:
        r = child(root, params)
        results.append((name, r))
        print(
            f"{name:45s} {r['wall']:8.1f} s  peak RSS {r['peak_rss_mb']:7.0f} MB  passed={r['passed']}"
            f"  failed={r['failed']}",
            flush=True,
        )
        print(f"    timings: {json.dumps(r['timings'])}", flush=True)
        if r["embeddings"]:
            print(f"    embeddings: {json.dumps(r['embeddings'])}", flush=True)
    print()
    print(f"{n_big:,} rows with max_rows / {cap:,} rows: {results[2][1]['wall'] / results[1][1]['wall']:.2f}x")
    print(f"text warm / cold: {results[4][1]['wall'] / results[3][1]['wall']:.2f}x")


if __name__ == "__main__":
    main()
