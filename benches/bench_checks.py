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
"""

from __future__ import annotations

import json
import os
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
        run_all(root)


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
