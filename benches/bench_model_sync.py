"""Model sync benchmark: 500 files (1 GB at full scale) to and from a GCS API (the emulator).

Runs, in one go, each in its own child process (wall time of the whole command, time inside the
sync call, peak RSS of that process):
  1. upload   first sync  (disk -> bucket, everything moves)
  2. upload   second sync (nothing changed: listing + cached local hashes only)
  3. download first sync  (bucket -> an empty models root)
  4. download second sync (nothing changed)
  5. peer: a plain google-cloud-storage loop that downloads every object again
     (what a script without checksums does on every run)
  6. the command users run, `manage.py sync_models`, unchanged, both directions (Django start included)
Both directions are measured the same way (same child, same timers). It prints the first/second
ratios of the whole command and of the sync call alone. BENCH_SCALE=0.1 runs a tenth of the bytes
(same file count). The emulator is a pure-Python server in its own process; the machine may be
shared: compare ratios from one run, not seconds across runs.
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

        started = time.perf_counter()
        client = gcs.Client(project="bench", credentials=AnonymousCredentials())
        blobs = list(client.list_blobs(BUCKET))

        def get(b):
            target = Path(models_root) / b.name
            target.parent.mkdir(parents=True, exist_ok=True)
            b.download_to_filename(str(target))

        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(get, blobs))
        out = {"files": len(blobs), "inner": time.perf_counter() - started}
    else:
        direction = core.UP if mode == "up" else core.DOWN
        started = time.perf_counter()
        r = core.sync(storage, bucket=BUCKET, direction=direction, workers=workers)
        inner = time.perf_counter() - started
        out = {"files": r["files_to_transfer"], "bytes": r["bytes_to_transfer"], "inner": inner}
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
    return {"mode": mode, "wall": wall, **json.loads(proc.stdout.strip().splitlines()[-1])}


def run_command(direction: str, models_root: Path, workers: int, env: dict) -> dict | None:
    """`manage.py sync_models` as a user runs it (Django settings from the environment); None when
    Django cannot start here (no database settings), so the core numbers still print."""
    cmd_env = dict(
        env,
        SERVICES_MODELS_ROOT=str(models_root),
        SERVICES_DATA_ROOT=str(models_root.parent / "data"),
        GCS_ALLOWED_BUCKETS=BUCKET,
        GCS_MODELS_BUCKET=BUCKET,
    )
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "Services" / "manage.py"), "sync_models", direction, "--workers", str(workers)],
        env=cmd_env,
        capture_output=True,
        text=True,
        cwd=ROOT / "Services",
    )
    wall = time.perf_counter() - started
    if proc.returncode:
        print(f"(manage.py sync_models {direction} did not run: {proc.stderr.strip().splitlines()[-1:]})")
        return None
    moved = 0 if "everything in sync" in proc.stdout else int(proc.stdout.rsplit(" transfer ", 1)[1].split()[0])
    return {"mode": f"cmd-{direction}", "wall": wall, "inner": None, "files": moved, "rss_mb": float("nan")}


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
        # the command users run (`make sync`): Django starts in every run, so it is compared with itself
        cli_root = tmp / "cli" / "models"
        cli_root.mkdir(parents=True)
        cli = [
            ("manage.py sync_models models-local, first sync", run_command("models-local", cli_root, workers, env)),
            ("manage.py sync_models models-local (unchanged)", run_command("models-local", cli_root, workers, env)),
            ("manage.py sync_models models-gcp (unchanged)", run_command("models-gcp", up_root, workers, env)),
        ]
        rows += [(label, r) for label, r in cli if r]
        # the same unchanged syncs five more times each, to show how much one measurement varies
        repeats = {
            "upload": [run_child("up", up_root, workers, env)["wall"] for _ in range(5)],
            "download": [run_child("down", down_root, workers, env)["wall"] for _ in range(5)],
        }
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'run':<50} {'wall s':>8} {'sync s**':>9} {'files moved':>12} {'peak RSS MB*':>13}")
    for label, r in rows:
        inner = f"{r['inner']:.2f}" if r["inner"] is not None else "-"
        print(f"{label:<50} {r['wall']:>8.2f} {inner:>9} {r['files']:>12} {r['rss_mb']:>13.0f}")
    (_, up1), (_, up2), (_, down1), (_, down2), (_, peer) = rows[:5]
    ratios = {
        "upload": (up1["wall"] / up2["wall"], up1["inner"] / up2["inner"]),
        "download": (down1["wall"] / down2["wall"], down1["inner"] / down2["inner"]),
    }
    for what, (whole, inner) in ratios.items():
        print(f"{what}: first / unchanged second = {whole:.1f}x whole command, {inner:.1f}x sync call only")
    print(f"peer re-download / our unchanged download sync = {peer['wall'] / down2['wall']:.1f}x (whole command)")
    for what, walls in repeats.items():
        first = up1 if what == "upload" else down1
        walls.sort()
        print(
            f"{what} unchanged, 5 more runs: {', '.join(f'{w:.2f}' for w in walls)} s; "
            f"first / median = {first['wall'] / walls[2]:.1f}x"
        )
    cli_rows = dict(rows[5:])
    cli_first = cli_rows.get("manage.py sync_models models-local, first sync")
    cli_second = cli_rows.get("manage.py sync_models models-local (unchanged)")
    cli_up = cli_rows.get("manage.py sync_models models-gcp (unchanged)")
    if cli_first and cli_second:
        print(
            f"manage.py sync_models models-local: first / unchanged second = {cli_first['wall'] / cli_second['wall']:.1f}x"
        )
    if cli_up:
        print(
            f"manage.py sync_models models-gcp unchanged vs the core's first upload: {up1['wall'] / cli_up['wall']:.1f}x"
        )
    print("** time inside the sync call, without starting Python and importing the code")
    print("* peak RSS of that child process (ru_maxrss); '-'/nan for the manage.py runs")
    ok = all(whole >= 20 for whole, _ in ratios.values())
    print(
        "target (second sync >= 20x faster than the first, whole command, both directions):", "met" if ok else "NOT met"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
