"""Benchmark of the incoming data checks: tabular (100k vs 100k rows; 50k rows; 1M rows with
max_rows=50000) and text (20k new vs 20k reference texts with embeddings, cold and warm cache).

Peers on the same tabular data, each in its own process, time and verdict side by side:
- deepchecks' own default suites, as its docs run them: ``data_integrity()`` on the new batch and
  ``train_test_validation()`` on reference vs new (both run offline; the NLP default suites do not:
  they load a tokenizer from the hub, so the text runs have no peer);
- Evidently's ``DataDriftPreset`` (reference vs new): its verdict is the share of drifted columns
  (dataset drift when at least half drifted, its default).
Each peer sees two pairs of batches: one where the new batch comes from the reference's distribution
(verdicts should say "no problem"), and one with a planted shift of ``income`` (x1.5) and ``region``
(one value takes 60%), which every tool should flag.

Figures: whole process (the child from start to exit, imports included: deepchecks and Evidently
import in 10-25 s here) and in-process (around the check calls only), peak RSS of the child.

    .venv/bin/python benches/bench_checks.py            # full size (make bench)
    .venv/bin/python benches/bench_checks.py --quick    # smoke run: 2,000 rows, 200 texts
    BENCH_SCALE=0.1 .venv/bin/python benches/bench_checks.py

Then the row stages alone (label issues, near-duplicates, coverage on 20k vs 20k texts with a warm
embedding cache) and near-duplicate scaling (20k new vs 20k and vs 100k reference vectors).
BENCH_STAGES_ONLY=1 runs only those; BENCH_EMBED_ROWS=1000 embeds only that many texts per side and fills
the other rows with noisy copies of their vectors (a machine too slow to embed 40,000 texts cold; the
warm-cache read is then measured on the embedded rows only).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
QUICK = "--quick" in sys.argv[1:]
SCALE = 0.02 if QUICK else float(os.environ.get("BENCH_SCALE", "1"))
CAT_FEATURES = ["region", "channel"]

CHILD = r"""
import json, resource, sys, time
t = time.monotonic()
sys.path.insert(0, {services!r}); sys.path.insert(0, {tests!r})
from services_app.storage import Storage
from services_app.jobs.context import JobContext
from services_app.capabilities.checks.jobs import run_checks
t_in = time.monotonic()
r = run_checks(JobContext(storage=Storage(data_root={root!r})), json.loads({params!r}))
print(json.dumps({{"seconds": time.monotonic() - t, "in_process": time.monotonic() - t_in, "passed": r["passed"],
                  "embeddings": r["embeddings"], "rows": r["rows"], "timings": r["timings"],
                  "failed": r["failed_checks"],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def child(root: Path, params: dict) -> dict:
    code = CHILD.format(
        services=str(ROOT / "Services"),
        tests=str(ROOT / "Services/tests/checks"),
        root=str(root),
        params=json.dumps(params),
    )
    m = benchlib.measure(
        [sys.executable, "-W", "ignore", "-c", code],
        env={k: v for k, v in os.environ.items() if k != "EMBEDDINGS_CACHE_DIR"} | {"WANDB_MODE": "disabled"},
    )
    if m["rc"]:
        raise SystemExit(m["output"][-3000:])
    out = json.loads(m["output"].strip().splitlines()[-1])
    out["wall"] = m["wall_s"]  # whole process; peak_rss_mb: the child's own ru_maxrss
    return out


def peer(name: str, ref: str, new: str) -> None:
    """Run a peer tool on reference vs new (in this child process); print its verdict as JSON."""
    import resource
    import time
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd

    if name == "deepchecks":
        from deepchecks.tabular import Dataset
        from deepchecks.tabular.suites import data_integrity, train_test_validation

        started = time.monotonic()
        r, n = pd.read_parquet(ref), pd.read_parquet(new)
        ref_ds = Dataset(r, label="risk", cat_features=CAT_FEATURES)
        new_ds = Dataset(n, label="risk", cat_features=CAT_FEATURES)
        results = [data_integrity().run(new_ds), train_test_validation().run(train_dataset=ref_ds, test_dataset=new_ds)]
        failed = sorted({c.get_header() for res in results for c in res.get_not_passed_checks()})
        verdict = {"passed": all(res.passed() for res in results), "failed": failed}
    elif name == "evidently":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        started = time.monotonic()
        r, n = pd.read_parquet(ref), pd.read_parquet(new)
        snapshot = Report([DataDriftPreset()]).run(reference_data=r, current_data=n)
        metrics = snapshot.dict()["metrics"]
        count = next(m for m in metrics if m["metric_name"].startswith("DriftedColumnsCount"))
        share, drift_share = count["value"]["share"], count["config"].get("drift_share", 0.5)
        columns = [m["config"]["column"] for m in metrics if m["metric_name"].startswith("ValueDrift") and _drifted(m)]
        # its dataset verdict: drift when at least drift_share of the columns drifted
        verdict = {"passed": share < drift_share, "failed": sorted(columns), "drifted_share": share}
    else:
        raise SystemExit(f"unknown peer {name}")
    verdict["in_process"] = time.monotonic() - started
    verdict["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(verdict))


def _drifted(metric: dict) -> bool:
    """Evidently's per-column verdict: a p-value below the threshold (statistical tests, used on
    samples up to 1,000 rows), or a distance at or above it (Wasserstein, Jensen-Shannon, above that)."""
    cfg, value = metric["config"], metric["value"]
    if value is None or cfg.get("threshold") is None:
        return False
    return value < cfg["threshold"] if "p_value" in str(cfg.get("method", "")) else value >= cfg["threshold"]


def run_peer(name: str, ref: Path, new: Path) -> dict:
    m = benchlib.measure([sys.executable, "-W", "ignore", __file__, "--peer", name, str(ref), str(new)])
    line = next((x for x in m["output"].splitlines() if x.startswith("RESULT ")), None)
    if m["rc"] or line is None:
        return {"error": f"exit {m['rc']}: {m['output'][-500:].strip()}"}
    return {**json.loads(line[7:]), "wall": m["wall_s"], "peak_rss_mb": m["peak_rss_mb"]}


def main() -> None:
    benchlib.parse_args(__doc__)
    sys.path.insert(0, str(ROOT / "Services/tests/checks"))
    with benchlib.workspace("checks") as root:
        if not os.environ.get("BENCH_STAGES_ONLY"):
            run_all(root)
        run_stages(root)


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


def shifted(df):
    """The planted problem: income x1.5 and 60% of the rows in one region."""
    import numpy as np

    df = df.copy()
    df["income"] = (df["income"] * 1.5).round(2)
    rng = np.random.default_rng(99)
    df.loc[rng.random(len(df)) < 0.6, "region"] = "north"
    return df


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
    if QUICK:
        # the smoke run: one tabular run of ours and the peers (each process imports deepchecks or
        # Evidently, 10-25 s here); the max_rows and text runs go through the same code with other params
        runs = runs[:1]
    results = []
    for name, params in runs:
        r = child(root, params)
        results.append((name, r))
        print(
            f"{name:45s} {r['wall']:8.1f} s whole process  peak RSS {r['peak_rss_mb']:7.0f} MB  passed={r['passed']}"
            f"  failed={r['failed']}",
            flush=True,
        )
        print(f"    timings: {json.dumps(r['timings'])}", flush=True)
        if r["embeddings"]:
            print(f"    embeddings: {json.dumps(r['embeddings'])}", flush=True)
    print("(whole process: the child from start to exit; timings: in-process, per step)")
    if not QUICK:
        print()
        print(f"{n_big:,} rows with max_rows / {cap:,} rows: {results[2][1]['wall'] / results[1][1]['wall']:.2f}x")
        print(f"text warm / cold: {results[4][1]['wall'] / results[3][1]['wall']:.2f}x")

    # --- peers, side by side on the same tabular batches -----------------------------------
    shifted(tabular_batch(n_tab, 2)).to_parquet(root / "tab_shifted.parquet")
    print(f"\n## tabular {n_tab:,} vs {n_tab:,} rows: ours against deepchecks' default suites and Evidently")
    print(f"{'data':<10} {'contender':<40} {'whole s':>8} {'in-proc s':>10} {'peak RSS MB':>12}  verdict (what failed)")
    side: dict[tuple[str, str], dict] = {}
    for data, new in (("same", "tab_new.parquet"), ("shifted", "tab_shifted.parquet")):
        ours = dict(results[0][1] if data == "same" else child(root, {**base, "dataset": new}))
        # in-process like the peers: without importing deepchecks (which run_checks does lazily)
        ours["in_process"] -= ours["timings"].get("import", 0)
        side[(data, "ours")] = ours
        rows = [("ours (integrity + drift)", ours)]
        for name, label in (
            ("deepchecks", "deepchecks data_integrity + train_test"),
            ("evidently", "Evidently DataDriftPreset"),
        ):
            side[(data, name)] = run_peer(name, root / "tab_ref.parquet", root / new)
            rows.append((label, side[(data, name)]))
        for label, r in rows:
            if "error" in r:
                print(f"{data:<10} {label:<40} {'-':>8} {'-':>10} {'-':>12}  {r['error']}")
                continue
            verdict = "passed" if r["passed"] else "FAILED"
            print(
                f"{data:<10} {label:<40} {r['wall']:>8.1f} {r['in_process']:>10.1f} {r['peak_rss_mb']:>12.0f}"
                f"  {verdict} {r['failed']}"
            )
    print(
        "(whole s: the process from start to exit, imports included; in-proc s: reading the data and the "
        "check calls, without imports)"
    )
    for name in ("deepchecks", "evidently"):
        a, b = side[("same", "ours")], side[("same", name)]
        if "wall" in b:
            print(
                f"{name} / ours, same-distribution batches: {benchlib.ratio(b['wall'], a['wall'])} whole process, "
                f"{benchlib.ratio(b['in_process'], a['in_process'])} in-process"
            )
    flagged = {k: (not v.get("passed", True)) for k, v in side.items() if k[0] == "shifted" and "error" not in v}
    print(f"planted shift flagged: {flagged}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peer":
        peer(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
