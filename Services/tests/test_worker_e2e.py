"""A real `celery worker` process consumes jobs through Redis with PostgreSQL
as the database, including a worker killed mid-job."""

import pytest

from services_app.jobs.services import job_submit
from services_app.models import Job, WorkerHeartbeat

from .conftest import require_service, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def real_services(settings):
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")
    assert settings.CELERY_BROKER_URL.startswith("redis://")


def _status(job):
    job.refresh_from_db()
    return job


def test_worker_runs_a_job_and_reports_progress_and_health(worker_factory, user, client):
    worker = worker_factory()
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 3, "steps": 6, "message": "e2e"})
    seen = set()

    def finished():
        j = _status(job)
        if j.status == "running":
            seen.add(round(j.progress, 2))
        return j.status in Job.FINISHED

    wait_for(finished, timeout=90, interval=0.1, message=f"job to finish; worker log:\n{worker.output()[-3000:]}")
    job = _status(job)
    assert job.status == "succeeded", (job.error, worker.output()[-3000:])
    assert job.result["message"] == "e2e"
    assert any(0 < p < 1 for p in seen), seen
    assert job.attempts == 1 and job.worker.split(":")[-1].isdigit()
    # the worker publishes its heartbeat and queues, which /api/health reports
    wait_for(lambda: WorkerHeartbeat.objects.exists(), timeout=30, message="worker heartbeat")
    health = client.get("/api/health").json()
    assert health["ok"] and health["status"] == "ok" and health["problems"] == []
    assert health["database"]["detail"] == "postgresql"
    assert {"default", "gpu"} <= set(health["queues_served"])


def test_cancel_stops_a_running_job(worker_factory, user):
    worker_factory()
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 30, "steps": 60})
    wait_for(lambda: _status(job).status == "running" and job.progress > 0, timeout=60, message="job running")
    from services_app.jobs.services import job_cancel

    job_cancel(job=job)
    wait_for(lambda: _status(job).status == "cancelled", timeout=30, message="job cancelled")
    assert job.progress < 1


def test_killed_worker_job_is_retried_and_finishes(worker_factory, user):
    first = worker_factory(name="doomed")
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 6, "steps": 12})
    wait_for(lambda: _status(job).status == "running" and job.progress > 0.1, timeout=60, message="job running")
    first.kill()  # SIGKILL the whole worker: main process and pool children
    assert _status(job).status == "running"  # nobody is left to say otherwise...
    second = worker_factory(name="rescuer")  # ...until a worker sweeps it
    wait_for(
        lambda: _status(job).status in Job.FINISHED, timeout=120, message=f"retry; log:\n{second.output()[-3000:]}"
    )
    assert job.status == "succeeded", job.error
    assert job.attempts == 2


def test_job_that_kills_its_worker_ends_failed_after_attempt_limit(worker_factory, user, settings):
    settings.JOB_TEST_KINDS_ENABLED = True  # demo.crash is a test kind; the worker gets it from worker_env
    worker = worker_factory(env={"JOB_MAX_ATTEMPTS": 2})
    job, _ = job_submit(owner=user, kind="demo.crash", params={})
    wait_for(
        lambda: _status(job).status in Job.FINISHED, timeout=120, message=f"failure; log:\n{worker.output()[-3000:]}"
    )
    assert job.status == "failed"
    assert job.error["code"] == "attempts_exhausted"
    assert job.attempts == 2
