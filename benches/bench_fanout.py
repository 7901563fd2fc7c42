"""Fan-out benchmark: a folder of small files converted by 1 worker vs 2 workers.

    .venv/bin/python benches/bench_fanout.py            # 2,000 files (make bench)
    .venv/bin/python benches/bench_fanout.py --quick    # 400 files
    .venv/bin/python benches/bench_fanout.py --files 1000 --batch-files 100

A seeded folder of small CSV files (3 columns, 20 rows, in 20 subfolders) is
converted by one ``conversion.parquet`` job, which splits it into
``conversion.batch`` jobs of ``--batch-files`` files (default 250, the
platform's default). The same job runs twice, each time on fresh workers with
``--concurrency 1``: once with one worker, once with two. Printed: seconds for
each, files/s, and the speed-up (1 worker time / 2 worker time; 2.0 is
perfect). Broker and database: Redis and PostgreSQL when ``REDIS_URL`` and
``DATABASE_URL`` are set (as a deployment with several workers has), else the
embedded broker and SQLite. In Redis the bench's keys have a prefix of their own
(``REDIS_KEY_PREFIX``), deleted at the end: nothing else in that database is touched.

On a 2-core machine the two workers share the cores with the broker, the
database and the job's own process: expect well under 2.0 there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "Services"


def _env(var: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        SERVICES_VAR_DIR=str(var),
        SERVICES_DATA_ROOT=str(var / "data"),
        SERVICES_MODELS_ROOT=str(var / "models"),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        CONVERSION_THREADS="1",  # one core per worker: the comparison is about workers, not threads
        # the workers' own temporary files (multiprocessing's pymp-* folders, left when a worker is
        # killed) stay inside the bench's folder, which is removed at the end
        TMPDIR=str(var / "tmp"),
    )
    (var / "tmp").mkdir(exist_ok=True)
    return env


def _make_folder(root: Path, n: int) -> None:
    rng = random.Random(7)
    for i in range(n):
        d = root / f"part{i % 20:02d}"
        d.mkdir(parents=True, exist_ok=True)
        rows = "\n".join(f"{j},{rng.random():.6f},name {rng.randint(0, 999)}" for j in range(20))
        (d / f"f{i:05d}.csv").write_text("id,score,label\n" + rows + "\n")


def _drive(batch_files: int) -> None:
    """In a child with the run's environment: submit the folder job, wait, print its timing."""
    sys.path.insert(0, str(SERVICES))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services_project.settings")
    import django

    django.setup()

    from services_app.jobs.services import job_submit
    from services_app.models import Job

    sys.path.insert(0, str(ROOT / "benches"))
    import benchlib

    user = benchlib.data_root_user("bench-fanout")  # the folder is under the data root, not a personal workspace
    started = time.monotonic()
    job, _ = job_submit(
        owner=user,
        kind="conversion.parquet",
        params={"source": "folder", "output": f"out-{time.time_ns()}", "batch_files": batch_files},
        force=True,
    )
    while True:
        job.refresh_from_db()
        if job.status in Job.FINISHED:
            break
        time.sleep(0.2)
    seconds = time.monotonic() - started
    workers = sorted(
        {w.rpartition(":")[0] + ":" + w.rpartition(":")[2] for w in job.batches.values_list("worker", flat=True)}
    )
    print(
        json.dumps(
            {
                "status": job.status,
                "seconds": seconds,
                "converted": (job.result or {}).get("converted"),
                "batches": job.batches.count(),
                "batch_processes": len(workers),
            }
        )
    )


def run(n_workers: int, var: Path, batch_files: int) -> dict:
    env = _env(var)
    workers = []
    for k in range(n_workers):
        log = open(var / f"worker{n_workers}-{k}.log", "wb")
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "services_project", "worker", "-Q", "default,gpu"]
                + ["--concurrency", "1", "--loglevel", "WARNING", "--hostname", f"fan{n_workers}-{k}@%h"]
                + ["--without-gossip", "--without-mingle"],
                cwd=SERVICES,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        time.sleep(8)  # let the workers connect before the clock starts
        out = subprocess.run(
            [sys.executable, __file__, "--_drive", str(batch_files)], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise SystemExit(f"driver failed: {out.stderr[-2000:]}")
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for w in workers:
            os.killpg(w.pid, 15)
        for w in workers:
            try:
                w.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, 9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000, help="files in the folder (default 2,000)")
    parser.add_argument("--batch-files", type=int, default=250, help="files per batch (default 250)")
    parser.add_argument("--quick", action="store_true", help="400 files, batches of 50")
    parser.add_argument("--_drive", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._drive:
        _drive(args._drive)
        return
    n, batch = (400, 50) if args.quick else (args.files, args.batch_files)
    var = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    try:
        env = _env(var)
        _make_folder(var / "data" / "folder", n)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"], cwd=SERVICES, env=env, check=True
        )
        broker = "Redis" if env.get("REDIS_URL") else "embedded"
        db = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite"
        print(f"{n} files, batches of {batch}, broker {broker}, database {db}")
        if env.get("REDIS_URL", "").startswith("redis"):  # keys of its own in that database, deleted at the end
            with benchlib.redis_keys(env["REDIS_URL"], "fanout") as prefix:
                os.environ["REDIS_KEY_PREFIX"] = prefix
                rows = {k: run(k, var, batch) for k in (1, 2)}
        else:
            rows = {k: run(k, var, batch) for k in (1, 2)}
    finally:
        shutil.rmtree(var, ignore_errors=True)
    print(f"{'workers':>7s} {'seconds':>8s} {'files/s':>8s} {'batches':>7s} {'ran on':>7s}")
    for k, r in rows.items():
        print(f"{k:7d} {r['seconds']:8.1f} {n / r['seconds']:8.1f} {r['batches']:7d} {r['batch_processes']:7d}")
        if r["status"] != "succeeded" or r["converted"] != n:
            print(f"        job {r['status']}, {r['converted']} of {n} converted")
    print(f"2 workers vs 1: {rows[1]['seconds'] / rows[2]['seconds']:.2f}x faster")
    if any(r["status"] != "succeeded" or r["converted"] != n for r in rows.values()):
        raise SystemExit("a folder job did not convert every file: the timings above mean nothing")


if __name__ == "__main__":
    main()
