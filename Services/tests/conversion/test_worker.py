"""Hostile files through a real Celery worker: each ends as a per-file error and the worker survives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from services_app.jobs.services import job_submit
from services_app.models import Job
from tests.conftest import SERVICES_DIR, require_service, wait_for

from .makers import make_billion_laughs_xlsx, make_far_cell_xlsx, make_pdf, make_xlsx, make_zip_bomb_xlsx

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
    assert status["secret.pdf"] == ("failed", "encrypted_pdf"), [e.get("error") for e in job.result["files"]]
    assert status["garbage.csv"] == ("failed", "not_text")
    assert status["loop.pdf"] == ("failed", "corrupt_file")  # pdfium refuses the cyclic page tree
    # the same worker process is alive and runs the next job
    again, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "hostile/good.csv"})
    wait_for(lambda: _finished(again), timeout=60, message="second job")
    assert again.status == "succeeded"
    assert worker.proc.poll() is None


def _folder_with_an_aborting_workbook(root):
    """Good files around a workbook that makes calamine abort its process (SIGABRT)."""
    root.mkdir()
    make_far_cell_xlsx(root / "far.xlsx")
    make_xlsx(root / "good.xlsx", {"S": [["id", "name"], [1, "a"], [2, "b"]]})
    (root / "good.csv").write_text("a,b\n1,2\n3,4\n")
    make_pdf(root / "doc.pdf", ["page one", "page two"])
    return root


def test_aborting_workbook_fails_alone_in_a_worker(worker_factory, user, data_roots):
    _folder_with_an_aborting_workbook(data_roots / "mixed")
    worker = worker_factory()
    job, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "mixed", "options": {}})
    wait_for(lambda: _finished(job), timeout=120, message=f"conversion job; log:\n{worker.output()[-3000:]}")
    assert job.status == "succeeded", (job.error, worker.output()[-3000:])
    assert job.attempts == 1  # the worker was not lost on the way
    files = {e["relative_path"]: e for e in job.result["files"]}
    assert files["far.xlsx"]["status"] == "failed"
    assert files["far.xlsx"]["error"]["code"] == "reader_crashed"
    assert files["far.xlsx"]["error"]["details"] == {"signal": "SIGABRT", "exit_status": None}
    assert (files["good.xlsx"]["status"], files["good.xlsx"]["rows"]) == ("converted", 2)
    assert (files["good.csv"]["status"], files["good.csv"]["rows"]) == ("converted", 2)
    assert (files["doc.pdf"]["status"], files["doc.pdf"]["rows"]) == ("converted", 2)
    assert (job.result["converted"], job.result["failed"]) == (3, 1)
    assert worker.proc.poll() is None
    again, _ = job_submit(owner=user, kind="conversion.parquet", params={"source": "mixed/good.csv"})
    wait_for(lambda: _finished(again), timeout=60, message="second job")
    assert again.status == "succeeded"


def test_aborting_workbook_fails_alone_in_the_command(data_roots, tmp_path):
    _folder_with_an_aborting_workbook(data_roots / "mixed")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "SERVICES_DATA_ROOT": str(data_roots),
        "SERVICES_VAR_DIR": str(tmp_path / "var"),
        "RUST_BACKTRACE": "0",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "convert_to_parquet", "mixed", "--out", "out", "--quiet", "--json"],
        cwd=SERVICES_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]  # "exits 1 when any file failed", not 134
    result = json.loads(proc.stdout[: proc.stdout.rindex("\n}") + 2])
    files = {e["relative_path"]: e for e in result["files"]}
    assert files["far.xlsx"]["error"]["code"] == "reader_crashed"
    assert "SIGABRT" in files["far.xlsx"]["error"]["message"]
    assert "FAILED  far.xlsx: the workbook reader crashed on this file (SIGABRT)" in proc.stderr
    assert sorted(n for n, e in files.items() if e["status"] == "converted") == ["doc.pdf", "good.csv", "good.xlsx"]
    report = json.loads((data_roots / "out" / "_conversion_report.json").read_text())
    assert (report["converted"], report["failed"]) == (3, 1)
    assert (data_roots / "out" / "good.parquet").exists()
