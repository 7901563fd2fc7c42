"""A real `celery worker` process consumes jobs through Redis with PostgreSQL
as the database, including a worker killed mid-job."""

import os

import pytest

from services_app.jobs.services import job_submit
from services_app.models import Job, WorkerHeartbeat

from .conftest import REDIS_KEY_PREFIX, require_service, wait_for

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


def test_a_gpu_job_reaches_only_a_worker_that_serves_the_gpu_queue(worker_factory, user, settings):
    settings.JOB_TEST_KINDS_ENABLED = True  # demo.sleep_gpu: demo.sleep on the gpu queue
    settings.CELERY_GPU_QUEUE_ENABLED = True  # this deployment has GPU workers: gpu kinds wait for them
    cpu = worker_factory(queues="default", name="cpu")
    wait_for(lambda: WorkerHeartbeat.objects.filter(hostname__startswith="cpu-").exists(), message="cpu worker")
    gpu_job, _ = job_submit(owner=user, kind="demo.sleep_gpu", params={"seconds": 0, "message": "gpu"})
    assert gpu_job.queue == "gpu"
    cpu_job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0, "message": "cpu"})
    wait_for(
        lambda: _status(cpu_job).status in Job.FINISHED, timeout=90, message=f"cpu job; log:\n{cpu.output()[-3000:]}"
    )
    assert cpu_job.status == "succeeded", cpu_job.error
    # The GPU job was queued first, to an idle worker: had the CPU-only worker seen it, it would have run it.
    assert _status(gpu_job).status == "queued", cpu.output()[-3000:]
    assert _pid(cpu_job) in _group(cpu)
    gpu = worker_factory(queues="gpu", name="gpu")
    wait_for(
        lambda: _status(gpu_job).status in Job.FINISHED, timeout=90, message=f"gpu job; log:\n{gpu.output()[-3000:]}"
    )
    assert gpu_job.status == "succeeded" and gpu_job.result["message"] == "gpu"
    assert _pid(gpu_job) in _group(gpu) and gpu_job.attempts == 1


def test_a_worker_of_another_deployment_on_the_same_redis_takes_none_of_its_jobs(worker_factory, user, tmp_path):
    """Two deployments (or a test run and a benchmark) on one Redis database, each with its own REDIS_KEY_PREFIX:
    an idle worker of the other one, already waiting when the job is queued, never sees it."""
    other = worker_factory(
        name="other",
        env={
            "REDIS_KEY_PREFIX": REDIS_KEY_PREFIX + "another-deployment:",  # deleted with this session's keys
            "DATABASE_URL": f"sqlite:///{tmp_path / 'other.sqlite3'}",
        },
    )
    wait_for(lambda: " ready." in other.output(), timeout=90, message=f"the other worker; log:\n{other.output()}")
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0, "message": "ours"})
    ours = worker_factory(name="ours")
    wait_for(lambda: _status(job).status in Job.FINISHED, timeout=90, message=f"the job; log:\n{ours.output()[-3000:]}")
    assert job.status == "succeeded" and job.result["message"] == "ours"
    assert _pid(job) in _group(ours)
    assert " received" not in other.output()


def _pid(job) -> int:
    return int(job.worker.rpartition(":")[2])


def _group(worker) -> set[int]:
    """The worker's processes: its main process and pool children."""
    return {int(p) for p in os.popen(f"pgrep -g {worker.proc.pid}").read().split()}
