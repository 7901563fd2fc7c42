"""Hostile files through a real Celery worker: each ends as a per-file error and the worker survives."""

from __future__ import annotations

import pytest

from services_app.jobs.services import job_submit
from services_app.models import Job
from tests.conftest import require_service, wait_for

from .makers import make_billion_laughs_xlsx, make_pdf, make_zip_bomb_xlsx

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def real_services(settings):
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")


def _finished(job):
    job.refresh_from_db()
    return job.status in Job.FINISHED


def test_hostile_folder_through_a_worker(worker_factory, user, data_roots):
    root = data_roots / "hostile"
    root.mkdir()
    make_zip_bomb_xlsx(root / "bomb.xlsx")
    make_billion_laughs_xlsx(root / "lol.xlsx")
    make_pdf(root / "secret.pdf", ["x"], encrypt=True)
    make_pdf(root / "loop.pdf", ["a", "b"], cyclic=True)
    (root / "garbage.csv").write_bytes(b"\x00\x01\x02" * 1000)
    (root / "good.csv").write_text("a,b\n1,2\n")
    worker = worker_factory()
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "hostile", "options": {}})
    wait_for(lambda: _finished(job), timeout=120, message=f"conversion job; log:\n{worker.output()[-3000:]}")
    assert job.status == "succeeded", (job.error, worker.output()[-3000:])
    status = {e["relative_path"]: (e["status"], (e.get("error") or {}).get("code")) for e in job.result["files"]}
    assert status["good.csv"] == ("converted", None)
    assert status["bomb.xlsx"] == ("failed", "unsafe_file")
    assert status["lol.xlsx"] == ("failed", "unsafe_file")
    assert status["secret.pdf"] == ("failed", "encrypted_pdf")
    assert status["garbage.csv"] == ("failed", "not_text")
    assert status["loop.pdf"] == ("failed", "corrupt_file")  # pdfium refuses the cyclic page tree
    # the same worker process is alive and runs the next job
    again, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "hostile/good.csv"})
    wait_for(lambda: _finished(again), timeout=60, message="second job")
    assert again.status == "succeeded"
    assert worker.proc.poll() is None
