"""A folder conversion split into batches that any worker takes: one parent job whose result,
report, progress and cancellation cover every batch."""

from __future__ import annotations

import json
import os
import signal
import time

import pyarrow.parquet as pq
import pytest

from services_app.capabilities.conversion.jobs import convert
from services_app.jobs.context import JobContext
from services_app.jobs.services import job_cancel, job_submit
from services_app.models import Job
from services_app.storage import get_storage
from tests.conftest import require_service, run_job_now, wait_for

from .makers import make_xlsx


def _folder(root, n: int, rows: int = 0):
    """n CSV files in two subfolders, plus a name collision (a.csv / a.json), a skipped file and a bad file.
    ``rows``: more rows in each CSV file (a slower conversion)."""
    (root / "x").mkdir(parents=True)
    (root / "y").mkdir()
    more = "".join(f"{j},w{j}\n" for j in range(rows))
    for i in range(n):
        (root / ("x" if i % 2 else "y") / f"f{i:03d}.csv").write_text(f"id,value\n{i},{i * 10}\n{i + 1},v\n{more}")
    (root / "a.csv").write_text("k\n1\n")
    (root / "a.json").write_text('[{"k": 2}]')
    (root / "a.bin").write_bytes(b"\x00")
    (root / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    make_xlsx(root / "book.xlsx", {"S": [["v"], [1]]})
    return root


def _comparable(entries):
    keep = ("relative_path", "status", "rows", "columns", "schema", "error", "reason")
    return [
        {k: e.get(k) for k in keep}
        | {"outputs": [o["location"] for o in e.get("outputs", [])]}
        | {"code": (e.get("error") or {}).get("code")}
        for e in entries
    ]


def test_batches_give_the_same_entries_and_report_as_one_pass(data_roots):
    _folder(data_roots / "src", 9)
    storage = get_storage()
    one = convert(JobContext(storage=storage), {"source": "src", "output": "one"})
    batched = convert(JobContext(storage=storage), {"source": "src", "output": "many", "batch_files": 3})
    assert batched["files_total"] == one["files_total"] == 14
    assert (batched["converted"], batched["failed"], batched["skipped"]) == (one["converted"], 1, 1)
    # same entries, same order, same names (a.csv -> a.parquet, a.json -> a.json.parquet across batches)
    expected = [
        e | {"outputs": [o.replace("one/", "many/", 1) for o in e["outputs"]]} for e in _comparable(one["files"])
    ]
    assert _comparable(batched["files"]) == expected
    names = {e["relative_path"]: [o["location"] for o in e.get("outputs", [])] for e in batched["files"]}
    assert names["a.csv"] == ["many/a.parquet"] and names["a.json"] == ["many/a.json.parquet"]
    report = json.loads((data_roots / "many" / "_conversion_report.json").read_text())
    assert [e["relative_path"] for e in report["files"]] == [e["relative_path"] for e in one["files"]]
    assert pq.read_table(data_roots / "many" / "x" / "f001.parquet").to_pydict() == {
        "id": [1, 2],
        "value": ["10", "v"],
    }


@pytest.mark.django_db
def test_a_worker_runs_the_batches_as_child_jobs(user, data_roots, api):
    _folder(data_roots / "src", 10)
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "src", "batch_files": 4})
    job = run_job_now(job)  # this process plays the worker: it takes every batch itself
    assert job.status == "succeeded", job.error
    batches = list(Job.objects.filter(parent=job).order_by("created_at"))
    assert len(batches) == 4  # 15 files in batches of 4
    assert [b.params["batch_index"] for b in batches] == [0, 1, 2, 3]
    assert all(b.status == "succeeded" and b.kind == "conversion.batch" for b in batches)
    assert sum(len(b.result["files"]) for b in batches) == 15
    assert job.result["files_total"] == 15 and job.result["converted"] == 13
    assert sorted(e["relative_path"] for e in job.result["files"]) == sorted(
        e["relative_path"] for b in batches for e in b.result["files"]
    )
    assert len(job.outputs) == 13  # 11 csv + a.json + the one sheet of book.xlsx
    # the job list shows the parent only
    listed = [j["id"] for j in api.get("/api/jobs").json()["items"]]
    assert listed == [str(job.pk)]


@pytest.mark.django_db
def test_cancelling_the_parent_cancels_its_batches(user):
    parent, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "src"})
    Job.objects.filter(pk=parent.pk).update(status="running")
    queued = Job.objects.create(owner=user, kind="conversion.batch", parent=parent, params={"batch_index": 0})
    running = Job.objects.create(
        owner=user, kind="conversion.batch", parent=parent, params={"batch_index": 1}, status="running"
    )
    parent.refresh_from_db()
    job_cancel(job=parent)
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (queued.status, queued.cancel_requested) == ("cancelled", True)
    assert (running.status, running.cancel_requested) == ("running", True)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_share_the_batches_and_a_lost_batch_is_retried(worker_factory, user, data_roots):
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")
    _folder(data_roots / "src", 120, rows=20_000)  # batches long enough to be caught mid-way
    workers = [worker_factory(name="a"), worker_factory(name="b")]
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "src", "batch_files": 5})

    def some_batches_done():
        return Job.objects.filter(parent=job, status="succeeded").count() >= 3

    wait_for(some_batches_done, timeout=120, message=f"first batches; log:\n{workers[0].output()[-2000:]}")
    # kill the worker that runs batches but not the parent: its batch is lost mid-way
    parent_pid = int(Job.objects.get(pk=job.pk).worker.rpartition(":")[2])
    victim = next(w for w in workers if parent_pid not in _pids(w))
    running = Job.objects.filter(parent=job, status="running").exclude(worker__endswith=f":{parent_pid}")

    def stopped_mid_batch():
        """Freeze the other worker while a batch is running on it (a batch of 5 small files can finish
        between a look at the database and a kill: freeze first, then check that it is still running).
        A statement the worker sent just before the freeze still commits on the server after it: the
        check waits for that first, or a batch seen running may turn out succeeded on its only attempt."""
        batch = running.first()
        if batch is None:
            return None
        os.killpg(victim.proc.pid, signal.SIGSTOP)
        time.sleep(0.3)
        if Job.objects.filter(pk=batch.pk, status="running").exists():
            return batch
        os.killpg(victim.proc.pid, signal.SIGCONT)
        return None

    lost = wait_for(stopped_mid_batch, timeout=60, interval=0.05, message="a batch running on the other worker")
    victim.kill(signal.SIGKILL)
    wait_for(
        lambda: Job.objects.get(pk=job.pk).status in Job.FINISHED,
        timeout=240,
        message=f"the parent job; log:\n{workers[0].output()[-2000:]}\n{workers[1].output()[-2000:]}",
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    batches = Job.objects.filter(parent=job)
    assert batches.count() == 25  # 125 files, 5 per batch
    assert set(batches.values_list("status", flat=True)) == {"succeeded"}
    assert Job.objects.get(pk=lost.pk).attempts == 2  # the lost batch ran again
    names = [e["relative_path"] for e in job.result["files"]]
    assert len(names) == len(set(names)) == 125
    assert job.result["converted"] == 123
    report = json.loads((data_roots / "parquet" / "src" / "_conversion_report.json").read_text())
    assert report["files_total"] == 125 and report["converted"] == 123


def _pids(worker) -> set[int]:
    out = os.popen(f"pgrep -g {worker.proc.pid}").read().split()
    return {int(p) for p in out}


@pytest.mark.django_db
def test_a_retried_parent_reuses_finished_batches_of_the_same_split(user, data_roots):
    _folder(data_roots / "src", 4)  # 9 files: 3 batches of 4, 4 and 1
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "src", "batch_files": 4})
    job = run_job_now(job)
    first = dict(Job.objects.filter(parent=job).values_list("pk", "attempts"))
    assert len(first) == 3 and set(first.values()) == {1}

    def rerun():  # what the sweep does with a parent whose worker was lost
        Job.objects.filter(pk=job.pk).update(status="queued", worker="")
        return run_job_now(job)

    again = rerun()
    assert again.status == "succeeded"
    assert dict(Job.objects.filter(parent=job).values_list("pk", "attempts")) == first  # none ran again
    assert again.result["files_total"] == 9

    (data_roots / "src" / "x" / "new.csv").write_text("id\n7\n")  # the listing changed: a new split
    third = rerun()
    assert third.status == "succeeded"
    assert Job.objects.filter(parent=job).count() == 6  # 3 old (kept as they were) + 3 for the new split
    assert third.result["files_total"] == 10
    assert "x/new.csv" in {e["relative_path"] for e in third.result["files"]}
