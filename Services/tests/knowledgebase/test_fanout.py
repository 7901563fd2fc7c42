"""A knowledge-base build whose reading step is split into batch jobs gives the same knowledge base."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from services_app.jobs.services import job_submit
from services_app.models import Job
from tests.conftest import run_job_now

from .conftest import make_tree

pytestmark = pytest.mark.django_db


def _chunks(data_root, name):
    table = pq.read_table(data_root / "knowledgebases" / name / "output" / "knowledge.parquet")
    keep = ["id", "document_id", "path", "text", "page", "sheet", "sha256"]
    rows = table.select([c for c in keep if c in table.column_names]).to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def test_batched_build_equals_a_build_in_one_job(user, data_roots, monkeypatch):
    make_tree(data_roots / "master")
    one, _ = job_submit(owner=user, kind="knowledgebase.build", params={"name": "one", "source": "master"})
    one = run_job_now(one)
    assert one.status == "succeeded", one.error
    assert not Job.objects.filter(parent=one).exists()  # 11 files: under the batch size, no fan-out

    monkeypatch.setenv("KNOWLEDGEBASE_BATCH_FILES", "3")
    many, _ = job_submit(owner=user, kind="knowledgebase.build", params={"name": "many", "source": "master"})
    many = run_job_now(many)  # this process plays the worker and takes every batch itself
    assert many.status == "succeeded", many.error
    batches = Job.objects.filter(parent=many)
    read = one.result["added"]
    assert batches.count() == -(-read // 3)
    assert set(batches.values_list("kind", "status")) == {("knowledgebase.extract_batch", "succeeded")}
    assert sum(b.result["files"] for b in batches) == read
    assert many.result["added"] == read and many.result["errors"] == one.result["errors"]
    assert _chunks(data_roots, "many") == _chunks(data_roots, "one")
    assert not (data_roots / ".cache" / "kb-batches" / str(many.pk)).exists()  # batch results cleaned up


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_batches_run_on_real_workers(worker_factory, user, data_roots):
    from tests.conftest import require_service, wait_for

    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")
    make_tree(data_roots / "master")
    env = {"KNOWLEDGEBASE_BATCH_FILES": "2"}
    workers = [worker_factory(name="a", env=env), worker_factory(name="b", env=env)]
    job, _ = job_submit(owner=user, kind="knowledgebase.build", params={"name": "kb", "source": "master"})
    wait_for(
        lambda: Job.objects.get(pk=job.pk).status in Job.FINISHED,
        timeout=240,
        message=f"the build; logs:\n{workers[0].output()[-2000:]}\n{workers[1].output()[-2000:]}",
    )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    batches = Job.objects.filter(parent=job)
    assert batches.count() == -(-job.result["added"] // 2) and job.result["added"] == 11
    assert set(batches.values_list("status", flat=True)) == {"succeeded"}
    paths = {r["path"] for r in _chunks(data_roots, "kb")}
    assert len(paths) == 11  # every file has its records
