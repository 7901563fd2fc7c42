"""Web app benchmark: how long the pages take to render for a user with many jobs and a big file.

Through Django's test client on the embedded defaults (SQLite in a temporary folder), in one
process, one request at a time (median and p95 of BENCH_REPEAT requests, default 20):
  1. the jobs list (50 rows of BENCH_JOBS jobs, default 2,000, a tenth of them running)
  2. one live row (what every running row asks for every 2 s)
  3. the "your data" top (every visible job's inputs and outputs folded to the outermost folders)
  4. a Parquet page of a file with BENCH_ROWS rows (default 1,000,000; 6 columns: schema,
     first rows and per-column statistics over the first 200,000 rows)
  5. the same statistics over the whole file, for reference (what a full scan would cost)
Peer: pyarrow reading the same first rows alone (what the preview costs without statistics).
Every figure is in-process (timed around each request inside this one process; no whole-process
figure: the pages are served by a long-running web process). The machine may be shared: compare
within one run.

    .venv/bin/python benches/bench_web.py            # full size (make bench)
    .venv/bin/python benches/bench_web.py --quick    # smoke run: 100 jobs, 20,000 rows, 3 requests
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))
QUICK = "--quick" in sys.argv[1:]
JOBS = 100 if QUICK else int(os.environ.get("BENCH_JOBS", "2000"))
ROWS = 20_000 if QUICK else int(os.environ.get("BENCH_ROWS", "1000000"))
REPEAT = 3 if QUICK else int(os.environ.get("BENCH_REPEAT", "20"))


def timed(fn, repeat: int = REPEAT) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    benchlib.parse_args(__doc__)
    with benchlib.workspace("web") as tmp:
        run(tmp)


def run(tmp: Path) -> None:
    for k in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(k, None)
    os.environ.update(
        SERVICES_VAR_DIR=str(tmp / "var"),
        SERVICES_DATA_ROOT=str(tmp / "data"),
        SERVICES_MODELS_ROOT=str(tmp / "models"),
        DJANGO_SETTINGS_MODULE="services_project.settings",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from services_app.models import Job
    from services_app.web import datasets

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(username="alice")
    rng = np.random.default_rng(0)
    location = "parquet/big/big.parquet"
    path = tmp / "data" / location
    path.parent.mkdir(parents=True)
    table = pa.table(
        {
            "id": np.arange(ROWS),
            "amount": rng.normal(100, 15, ROWS),
            "count": rng.integers(0, 1000, ROWS),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "label": rng.choice(["a", "b", "c"], ROWS),
            "text": [f"sentence number {i % 5000}" for i in range(ROWS)],
        }
    )
    pq.write_table(table, path, row_group_size=61_440)
    jobs = [
        Job(
            owner=user,
            kind="conversion.parquet",
            status=Job.Status.RUNNING if i % 10 == 0 else Job.Status.SUCCEEDED,
            params={"files": [f"uploads/{i:064x}/f{i}.csv"], "output": None, "options": {}},
            inputs=[{"location": f"uploads/{i:064x}/f{i}.csv", "sha256": f"{i:064x}"}],
            outputs=[f"parquet/uploads/job{i}/f{i}.parquet"],
            result={"output": f"parquet/uploads/job{i}", "files": []},
            progress=0.5,
        )
        for i in range(JOBS)
    ]
    Job.objects.bulk_create(jobs)
    Job.objects.create(owner=user, kind="conversion.parquet", status=Job.Status.SUCCEEDED, outputs=[location])
    running = Job.objects.filter(status=Job.Status.RUNNING).first()

    client = Client()
    client.force_login(user)

    def get(url: str) -> None:
        res = client.get(url)
        assert res.status_code == 200, (url, res.status_code)

    dataset_url = reverse("web:dataset") + f"?location={location}"
    get(dataset_url)  # warm imports
    rows = [
        (f"jobs list (50 of {JOBS} jobs)", timed(lambda: get(reverse("web:jobs")))),
        ("one live row", timed(lambda: get(reverse("web:job_row", args=[running.pk])))),
        (f"your data top ({JOBS} jobs folded)", timed(lambda: get(reverse("web:data")))),
        (f"Parquet page, {ROWS} rows", timed(lambda: get(dataset_url), repeat=max(3, REPEAT // 4))),
        (
            "statistics over the whole file (reference)",
            timed(lambda: _full_stats(datasets, path), repeat=3),
        ),
        ("peer: pyarrow first 20 rows alone", timed(lambda: next(pq.ParquetFile(path).iter_batches(batch_size=20)))),
    ]
    print(f"{'page (in-process)':48} {'median ms':>10} {'p95 ms':>10}")
    for name, (median, p95) in rows:
        print(f"{name:48} {median:10.1f} {p95:10.1f}")


def _full_stats(datasets, path: Path) -> None:
    old = datasets.STATS_MAX_ROWS
    datasets.STATS_MAX_ROWS = 10**12
    try:
        datasets.column_stats(path)
    finally:
        datasets.STATS_MAX_ROWS = old


if __name__ == "__main__":
    main()
