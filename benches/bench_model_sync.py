"""Model sync benchmark: 500 files (1 GB at full scale) to and from a GCS API (the emulator).

Runs, in one go, each in its own child process (wall time and peak RSS):
  1. upload   first sync  (disk -> bucket, everything moves)
  2. upload   second sync (nothing changed: listing + cached local hashes only)
  3. download first sync  (bucket -> an empty models root)
  4. download second sync (nothing changed)
  5. peer: a plain google-cloud-storage loop that downloads every object again
     (what a script without checksums does on every run)
and prints first/second ratios. BENCH_SCALE=0.1 runs a tenth of the bytes (same file count).
The emulator is a pure-Python server in its own process; real GCS is faster for the first
sync and the ratio is then smaller. The machine may be shared: compare ratios, not seconds.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
FILES = int(os.environ.get("BENCH_FILES", "500"))
TOTAL = int(1024**3 * SCALE)
BUCKET = "bench-models"


def child(mode: str, models_root: str, workers: int) -> None:
    from services_app.capabilities.model_sync import core
    from services_app.storage import Storage

    storage = Storage(data_root=Path(models_root).parent / "data", models_root=models_root, allowed_buckets=(BUCKET,))
    if mode == "peer-download":
        from concurrent.futures import ThreadPoolExecutor

        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        client = gcs.Client(project="bench", credentials=AnonymousCredentials())
        blobs = list(client.list_blobs(BUCKET))

        def get(b):
            target = Path(models_root) / b.name
            target.parent.mkdir(parents=True, exist_ok=True)
            b.download_to_filename(str(target))

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(get, blobs))
        out = {"files": len(blobs), "inner": None}
    else:
        direction = core.UP if mode == "up" else core.DOWN
        started = time.perf_counter()
        r = core.sync(storage, bucket=BUCKET, direction=direction, workers=workers)
        inner = time.perf_counter() - started
        out = {"files": r["files_to_transfer"], "bytes": r["bytes_to_transfer"], "inner": inner}
    print(json.dumps(out))


def run_child(mode: str, models_root: Path, workers: int, env: dict) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(models_root), str(workers)],
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"mode": mode, "wall": wall, "rss_mb": rss, **json.loads(proc.stdout.strip().splitlines()[-1])}


def make_files(folder: Path) -> None:
    rng = random.Random(42)
    weights = [rng.random() + 0.05 for _ in range(FILES)]
    scale = TOTAL / sum(weights)
    for i, w in enumerate(weights):
        p = folder / f"shard-{i // 50:02d}" / f"part-{i:04d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(max(1, int(w * scale))))


def main() -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "8"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-model-sync-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "--port",
            str(port),
            "--in-memory",
            "-q",
            "--default-bucket",
            BUCKET,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = dict(os.environ, STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{port}")
    try:
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        up_root, down_root, peer_root = tmp / "up" / "models", tmp / "down" / "models", tmp / "peer" / "models"
        make_files(up_root / "bench-model" / "v1")
        down_root.mkdir(parents=True)
        peer_root.mkdir(parents=True)
        print(f"model sync: {FILES} files, {TOTAL / 1e6:.0f} MB, {workers} workers, emulator at :{port}")
        rows = [
            ("upload, first sync", run_child("up", up_root, workers, env)),
            ("upload, second sync (unchanged)", run_child("up", up_root, workers, env)),
            ("download, first sync", run_child("down", down_root, workers, env)),
            ("download, second sync (unchanged)", run_child("down", down_root, workers, env)),
            ("peer: re-download everything (gcs client loop)", run_child("peer-download", peer_root, workers, env)),
        ]
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'run':<50} {'wall s':>8} {'sync s**':>9} {'files moved':>12} {'peak RSS MB*':>13}")
    for label, r in rows:
        inner = f"{r['inner']:.2f}" if r["inner"] is not None else "-"
        print(f"{label:<50} {r['wall']:>8.2f} {inner:>9} {r['files']:>12} {r['rss_mb']:>13.0f}")
    up_ratio = rows[0][1]["wall"] / rows[1][1]["wall"]
    down_ratio = rows[2][1]["wall"] / rows[3][1]["wall"]
    peer_ratio = rows[4][1]["wall"] / rows[3][1]["wall"]
    print(f"upload: first / unchanged second = {up_ratio:.1f}x; download: first / unchanged second = {down_ratio:.1f}x")
    print(f"peer re-download / our unchanged sync = {peer_ratio:.1f}x")
    print(
        f"sync call only (no interpreter start): upload {rows[0][1]['inner'] / rows[1][1]['inner']:.1f}x, "
        f"download {rows[2][1]['inner'] / rows[3][1]['inner']:.1f}x"
    )
    print("** time inside the sync call, without starting Python and importing the client (about 0.5 s)")
    print("* peak RSS is the running maximum over the child processes so far (ru_maxrss of RUSAGE_CHILDREN)")
    ok = up_ratio >= 20 and down_ratio >= 20
    print("target (second sync >= 20x faster than the first):", "met" if ok else "NOT met")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
