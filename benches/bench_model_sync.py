"""Model sync benchmark: 500 files (1 GB at full scale) to and from a GCS API (the emulator).

Runs, in one go, each in its own child process (wall time of the whole command, time inside the
sync call, peak RSS of that process):
  1. upload   first sync  (disk -> bucket, everything moves)
  2. upload   second sync (nothing changed: listing + cached local hashes only)
  3. download first sync  (bucket -> an empty models root)
  4. download second sync (nothing changed)
  5. peer, first sync: a plain google-cloud-storage script (list, then 8 threads download) into an
     empty folder; it skips a file whose local size and md5 match the object's (as `gsutil rsync -c` does)
  6. peer, unchanged sync: the same script again (it lists, hashes every local file, downloads nothing)
  7. the command users run, `manage.py sync_models`, unchanged, both directions (Django start included)
Ratios are like for like: our first download against the peer's first download, our unchanged
download against the peer's unchanged run; each as whole process (the child from start to exit) and
in-process (the sync call alone). BENCH_SCALE=0.1 runs a tenth of the bytes (same file count).
The emulator is a pure-Python server in its own process; the machine may be shared: compare ratios
from one run, not seconds across runs.

    .venv/bin/python benches/bench_model_sync.py            # full size (make bench)
    .venv/bin/python benches/bench_model_sync.py --quick    # smoke run: 20 files, 2 MB
"""

from __future__ import annotations

import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))
QUICK = "--quick" in sys.argv[1:]
SCALE = 0.002 if QUICK else float(os.environ.get("BENCH_SCALE", "1"))
FILES = 20 if QUICK else int(os.environ.get("BENCH_FILES", "500"))
REPEATS = 1 if QUICK else 5
TOTAL = int(1024**3 * SCALE)
BUCKET = "bench-models"


def child(mode: str, models_root: str, workers: int) -> None:
    from services_app.capabilities.model_sync import core
    from services_app.storage import Storage

    storage = Storage(data_root=Path(models_root).parent / "data", models_root=models_root, allowed_buckets=(BUCKET,))
    if mode == "peer-sync":
        import base64
        import hashlib
        from concurrent.futures import ThreadPoolExecutor

        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage as gcs

        started = time.perf_counter()
        client = gcs.Client(project="bench", credentials=AnonymousCredentials())
        blobs = list(client.list_blobs(BUCKET))

        def same(target: Path, blob) -> bool:
            if not target.is_file() or target.stat().st_size != blob.size:
                return False
            md5 = hashlib.md5(usedforsecurity=False)
            with open(target, "rb") as f:
                while chunk := f.read(1 << 20):
                    md5.update(chunk)
            return base64.b64encode(md5.digest()).decode() == blob.md5_hash

        def get(b) -> int:
            target = Path(models_root) / b.name
            if same(target, b):
                return 0
            target.parent.mkdir(parents=True, exist_ok=True)
            b.download_to_filename(str(target))
            return 1

        with ThreadPoolExecutor(workers) as pool:
            moved = sum(pool.map(get, blobs))
        out = {"files": moved, "inner": time.perf_counter() - started}
    else:
        direction = core.UP if mode == "up" else core.DOWN
        started = time.perf_counter()
        r = core.sync(storage, bucket=BUCKET, direction=direction, workers=workers)
        inner = time.perf_counter() - started
        out = {"files": r["files_to_transfer"], "bytes": r["bytes_to_transfer"], "inner": inner}
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(mode: str, models_root: Path, workers: int, env: dict) -> dict:
    m = benchlib.measure([sys.executable, __file__, "--child", mode, str(models_root), str(workers)], env=env)
    if m["rc"]:
        raise SystemExit(f"{mode} failed:\n{m['output'][-3000:]}")
    return {"mode": mode, "wall": m["wall_s"], **json.loads(m["output"].strip().splitlines()[-1])}


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
    m = benchlib.measure(
        [sys.executable, str(ROOT / "Services" / "manage.py"), "sync_models", direction, "--workers", str(workers)],
        env=cmd_env,
        cwd=ROOT / "Services",
    )
    if m["rc"]:
        print(f"(manage.py sync_models {direction} did not run: {m['output'].strip().splitlines()[-1:]})")
        return None
    text = m["output"]
    moved = 0 if "everything in sync" in text else int(text.rsplit(" transfer ", 1)[1].split()[0])
    return {"mode": f"cmd-{direction}", "wall": m["wall_s"], "inner": None, "files": moved, "rss_mb": m["peak_rss_mb"]}


def make_files(folder: Path) -> None:
    rng = random.Random(42)
    weights = [rng.random() + 0.05 for _ in range(FILES)]
    scale = TOTAL / sum(weights)
    for i, w in enumerate(weights):
        p = folder / f"shard-{i // 50:02d}" / f"part-{i:04d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(max(1, int(w * scale))))


def main() -> None:
    benchlib.parse_args(__doc__)
    with benchlib.workspace("model_sync") as tmp:
        run_all(tmp)


def run_all(tmp: Path) -> None:
    workers = int(os.environ.get("BENCH_WORKERS", "8"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    emulator = benchlib.track(
        subprocess.Popen(
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
            ("peer: first sync (gcs client script, md5 compare)", run_child("peer-sync", peer_root, workers, env)),
            ("peer: unchanged sync (same script again)", run_child("peer-sync", peer_root, workers, env)),
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
        # the same unchanged syncs more times each, to show how much one measurement varies
        repeats = {
            "upload": [run_child("up", up_root, workers, env)["wall"] for _ in range(REPEATS)],
            "download": [run_child("down", down_root, workers, env)["wall"] for _ in range(REPEATS)],
        }
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    print(f"{'run':<50} {'whole s':>8} {'in-proc s':>9} {'files moved':>12} {'peak RSS MB*':>13}")
    for label, r in rows:
        inner = f"{r['inner']:.2f}" if r["inner"] is not None else "-"
        print(f"{label:<50} {r['wall']:>8.2f} {inner:>9} {r['files']:>12} {r['rss_mb']:>13.0f}")
    (_, up1), (_, up2), (_, down1), (_, down2), (_, peer1), (_, peer2) = rows[:6]
    ratios = {
        "upload": (up1["wall"] / up2["wall"], up1["inner"] / up2["inner"]),
        "download": (down1["wall"] / down2["wall"], down1["inner"] / down2["inner"]),
    }
    for what, (whole, inner) in ratios.items():
        print(f"{what}: first / unchanged second = {whole:.1f}x whole process, {inner:.1f}x in-process")
    print("like for like against the peer script (peer / ours: above 1 means ours is faster):")
    for what, ours, peer in (("first download", down1, peer1), ("unchanged download", down2, peer2)):
        print(
            f"  {what}: peer {peer['wall']:.2f} s / ours {ours['wall']:.2f} s = "
            f"{benchlib.ratio(peer['wall'], ours['wall'])} whole process, "
            f"{benchlib.ratio(peer['inner'], ours['inner'])} in-process"
        )
    for what, walls in repeats.items():
        first = up1 if what == "upload" else down1
        walls.sort()
        print(
            f"{what} unchanged, {len(walls)} more runs: {', '.join(f'{w:.2f}' for w in walls)} s; "
            f"first / median = {first['wall'] / walls[len(walls) // 2]:.1f}x"
        )
    cli_rows = dict(rows[6:])
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
    print("whole s: the process from start to exit; in-proc s: inside the sync call (no start-up, no imports)")
    print("* peak RSS of that process (ru_maxrss from wait4)")
    ok = all(whole >= 20 for whole, _ in ratios.values())
    print(
        "target (second sync >= 20x faster than the first, whole command, both directions):", "met" if ok else "NOT met"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
