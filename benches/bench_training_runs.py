"""Benchmark: training runs.

1. Logging overhead. A small PyTorch classifier (384 -> 384 -> 4, ReLU, Adam, one thread) trains on
   batches of 64 x 384 floats; one loop logs each batch's 384-float hidden layer and its logits with
   `log_model_outputs`, the same loop without logging is the reference. The loops alternate (A, B, A, B, ...)
   and the overhead is the median of the paired differences over the reference, per batch; the writer's
   catching up at the end (`flush`) is counted in the logged loop. Target: under 5% of a batch's time.
2. A run of N samples (default 100,000) x 384 dimensions x 5 epochs with 4 labels and 10% flipped labels:
   (a) logging it through the client, (b) `finish()`'s join and validation into the upload bundle,
   (c) the server's job on that bundle (every signal). Each stage runs in its own child process; peak
   memory is that child's ru_maxrss (it counts the pages of memory-mapped files that were touched).

Run: .venv/bin/python benches/bench_training_runs.py [--quick] [--samples N] [--epochs E]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))
sys.path.insert(0, str(ROOT / "clients" / "python"))

DIM, LABELS = 384, ["finance", "sports", "weather", "health"]


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- 1. overhead --------------------------------------------------------------------------------------------
MODELS = {"tiny": [DIM, DIM], "small": [DIM, 1024, 1024, DIM]}


def overhead(batches: int, rounds: int, tmp: Path, size: str = "tiny") -> dict:
    import numpy as np
    import services_client as sc
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    widths = MODELS[size]
    layers = []
    for a, b in zip(widths, widths[1:], strict=False):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    hidden = torch.nn.Sequential(*layers)
    head = torch.nn.Linear(DIM, len(LABELS))
    opt = torch.optim.Adam([*hidden.parameters(), *head.parameters()], lr=1e-3)
    rng = np.random.default_rng(0)
    xs = torch.tensor(rng.normal(size=(batches, 64, DIM)), dtype=torch.float32)
    ys = torch.tensor(rng.integers(0, len(LABELS), size=(batches, 64)))

    def loop(run, epoch):
        start, cpu = time.perf_counter(), time.process_time()
        for b in range(batches):
            opt.zero_grad()
            emb = hidden(xs[b])
            logits = head(emb)
            torch.nn.functional.cross_entropy(logits, ys[b]).backward()
            opt.step()
            if run is not None:
                run.log_model_outputs(
                    ids=np.arange(b * 64, (b + 1) * 64), embeddings=emb, logits=logits, split="training", epoch=epoch
                )
        if run is not None:
            run.flush()
        return time.perf_counter() - start, time.process_time() - cpu

    run = sc.Run(
        url="http://127.0.0.1:9", api_key="x", project="bench", run_name="overhead", labels=LABELS, dir=tmp / "overhead"
    )
    loop(None, 0)  # warm-up, both ways
    loop(run, rounds + 1)
    plain, logged, plain_cpu, logged_cpu = [], [], [], []
    for r in range(rounds):
        wall, cpu = loop(None, 0)
        plain.append(wall)
        plain_cpu.append(cpu)
        wall, cpu = loop(run, r)
        logged.append(wall)
        logged_cpu.append(cpu)
    call = []
    emb = np.zeros((64, DIM), dtype=np.float32)
    logits = np.zeros((64, len(LABELS)), dtype=np.float32)
    for b in range(200):
        t = time.perf_counter()
        run.log_model_outputs(ids=np.arange(b * 64, (b + 1) * 64), embeddings=emb, logits=logits, epoch=rounds)
        call.append(time.perf_counter() - t)
    run.flush()
    ratios = [(lg - pl) / pl for pl, lg in zip(plain, logged, strict=True)]
    cpu_ratios = [(lg - pl) / pl for pl, lg in zip(plain_cpu, logged_cpu, strict=True)]
    return {
        "model": size,
        "widths": widths + [len(LABELS)],
        "batches_per_loop": batches,
        "rounds": rounds,
        "batch_ms_plain": round(statistics.median(plain) / batches * 1000, 3),
        "batch_ms_logged": round(statistics.median(logged) / batches * 1000, 3),
        "overhead_pct_median": round(100 * statistics.median(ratios), 2),
        "overhead_pct_range": [round(100 * min(ratios), 2), round(100 * max(ratios), 2)],
        "overhead_pct_fastest": round(100 * (min(logged) - min(plain)) / min(plain), 2),
        "cpu_overhead_pct_median": round(100 * statistics.median(cpu_ratios), 2),
        "call_us_median": round(statistics.median(call) * 1e6, 1),
        "writer_blocked_puts": run.stats["blocked_puts"],
    }


# --- 2. a large run -------------------------------------------------------------------------------------------
def stage_log(samples: int, epochs: int, folder: Path) -> dict:
    import numpy as np
    import services_client as sc

    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(len(LABELS), DIM)).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    true = rng.integers(0, len(LABELS), size=samples)
    given = true.copy()
    flip = rng.random(samples) < 0.1
    given[flip] = (true[flip] + rng.integers(1, len(LABELS), size=flip.sum())) % len(LABELS)
    words = np.array([f"w{i}" for i in range(2000)])
    run = sc.Run(url="http://127.0.0.1:9", api_key="x", project="bench", run_name="large", labels=LABELS, dir=folder)
    start = time.perf_counter()
    chunk = 10_000

    def rows():
        for i in range(samples):
            yield {
                "id": i,
                "text": " ".join(words[(true[i] * 500 + rng.integers(0, 500, 6))]),
                "label": LABELS[given[i]],
                "source": "web" if i % 3 else "report",
            }

    run.log_dataset(rows(), split="training", chunk_rows=chunk)
    dataset_s = time.perf_counter() - start
    start = time.perf_counter()
    for epoch in range(epochs):
        sharp = 1.0 + 2.0 * epoch  # the model grows more confident each epoch
        order = rng.permutation(samples)
        for b in range(0, samples, 64):
            idx = order[b : b + 64]
            emb = dirs[true[idx]] + rng.normal(scale=0.05, size=(len(idx), DIM)).astype(np.float32)
            logits = sharp * (emb @ dirs.T)
            run.log_model_outputs(ids=idx, embeddings=emb, logits=logits, epoch=epoch)
    run.flush()
    outputs_s = time.perf_counter() - start
    run._finished = True
    run._close_writers()
    (folder / "flip.npy").write_bytes(b"")
    np.save(folder / "flipped.npy", flip)
    return {"dataset_s": round(dataset_s, 2), "outputs_s": round(outputs_s, 2), "peak_rss_mb": round(peak_mb())}


def stage_prepare(folder: Path) -> dict:
    import services_client as sc
    from services_client.bundle import build_bundle

    run = sc.Run.__new__(sc.Run)
    run.dir, run.labels, run.task_type = folder, LABELS, "text_classification"
    start = time.perf_counter()
    manifest = build_bundle(run)
    size = sum(p.stat().st_size for p in (folder / "bundle").iterdir())
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "bundle_mb": round(size / 1e6),
        "epochs": manifest["splits"]["training"]["epochs"],
        "peak_rss_mb": round(peak_mb()),
    }


def stage_process(folder: Path) -> dict:
    import numpy as np
    import pyarrow.parquet as pq

    from services_app.capabilities.training_runs.jobs import process
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    storage = Storage(folder)
    start = time.perf_counter()
    result = process(JobContext(storage=storage), {"run_id": "bench", "bundle": "bundle", "output": "results"})
    seconds = time.perf_counter() - start
    flagged = pq.read_table(folder / "results" / "training.parquet", columns=["likely_mislabelled"]).column(0)
    flagged = flagged.to_numpy(zero_copy_only=False)
    flip = np.load(folder / "flipped.npy")
    hits = int((flagged & flip).sum())
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_mb()),
        "precision": round(hits / max(1, flagged.sum()), 3),
        "recall": round(hits / max(1, flip.sum()), 3),
        "steps": {k: v for k, v in result.items() if k == "seconds"},
    }


def child(stage: str, *args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", stage, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: 10,000 samples, fewer batches")
    parser.add_argument("--samples", type=int, default=None, help="samples of the large run (default 100,000)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--stage", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        name, rest = args.stage[0], args.stage[1:]
        if name == "overhead":
            print(json.dumps(overhead(int(rest[0]), int(rest[1]), Path(rest[2]), rest[3])))
        elif name == "log":
            print(json.dumps(stage_log(int(rest[0]), int(rest[1]), Path(rest[2]))))
        elif name == "prepare":
            print(json.dumps(stage_prepare(Path(rest[0]))))
        elif name == "process":
            print(json.dumps(stage_process(Path(rest[0]))))
        return
    samples = args.samples or (10_000 if args.quick else 100_000)
    batches, rounds = (100, 4) if args.quick else (300, 8)
    tmp = Path(tempfile.mkdtemp(prefix="bench-runs-"))
    try:
        overheads = {}
        for size in MODELS:
            # the small model's batch is about 13x longer: fewer batches keep the loops comparable in time
            n = batches if size == "tiny" else max(20, batches // 5)
            o = overheads[size] = child("overhead", n, rounds, tmp, size)
            widths = "-".join(map(str, o["widths"]))
            print(f"== log_model_outputs overhead, batch 64 x 384, torch MLP {widths} ({size}), one thread")
            print(f"  batch without logging {o['batch_ms_plain']:.3f} ms, with {o['batch_ms_logged']:.3f} ms")
            print(
                f"  overhead {o['overhead_pct_median']:.2f}% (median of {rounds} paired loops; range "
                f"{o['overhead_pct_range'][0]:.2f}..{o['overhead_pct_range'][1]:.2f}%), target < 5%: "
                f"{'met' if o['overhead_pct_median'] < 5 else 'NOT met'}"
            )
            print(
                f"  fastest loop each way: {o['overhead_pct_fastest']:.2f}%; CPU time (both threads): "
                f"{o['cpu_overhead_pct_median']:.2f}% (median)"
            )
            print(f"  one call {o['call_us_median']:.0f} us (median); queue full {o['writer_blocked_puts']} times")
        run_dir = tmp / "large"
        lg = child("log", samples, args.epochs, run_dir)
        pr = child("prepare", run_dir)
        shutil.rmtree(run_dir / "inputs")
        shutil.rmtree(run_dir / "outputs")
        proc = child("process", run_dir)
        print(f"== a run of {samples:,} samples x {DIM} x {args.epochs} epochs (4 labels, 10% flipped)")
        print(
            f"  log dataset {lg['dataset_s']:.1f} s, log outputs {lg['outputs_s']:.1f} s, peak RSS {lg['peak_rss_mb']} MB"
        )
        print(
            f"  finish: join + validate + bundle {pr['seconds']:.1f} s ({pr['bundle_mb']} MB), peak RSS "
            f"{pr['peak_rss_mb']} MB"
        )
        print(
            f"  server job (all signals) {proc['seconds']:.1f} s, peak RSS {proc['peak_rss_mb']} MB; "
            f"likely mislabelled precision {proc['precision']}, recall {proc['recall']}"
        )
        print(
            "RESULT "
            + json.dumps({"overhead": overheads, "log": lg, "prepare": pr, "process": proc, "samples": samples})
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
