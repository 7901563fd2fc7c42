"""A build inside a real Celery worker process (the extraction pool starts from a prefork child)."""

from __future__ import annotations

import pytest

from services_app.models import Job

from ..conftest import wait_for
from .conftest import make_tree

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_build_in_a_real_worker(api, data_roots, worker_factory):
    make_tree(data_roots / "master")
    worker_factory()
    r = api.post("/api/knowledgebases", {"name": "kb", "source": "master"})
    assert r.status_code == 202, r.content
    job_id = r.json()["id"]

    def finished():
        job = Job.objects.get(pk=job_id)
        return job if job.status in ("succeeded", "failed") else None

    job = wait_for(finished, timeout=120, message="the knowledge base job")
    assert job.status == "succeeded", job.error
    assert job.result["counts"]["documents"] == 11
    assert (data_roots / "knowledgebases/kb/output/manifest.json").is_file()
