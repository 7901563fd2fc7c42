"""Benchmark of the incoming data checks: tabular (50k rows; 1M rows with max_rows=50000) and
text (20k new vs 20k reference texts with embeddings, cold and warm cache).

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
        run_all(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
