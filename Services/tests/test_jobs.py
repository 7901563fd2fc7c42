"""The job lifecycle, run in-process exactly as a worker runs it."""

import os
import subprocess
import threading
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from services_app.jobs.services import HOSTNAME, job_cancel, job_claim, job_execute, job_submit, jobs_sweep
from services_app.models import Job

from .conftest import run_job_now, wait_for

pytestmark = pytest.mark.django_db


def test_job_runs_to_success_with_progress_and_result(user):
    job, created = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0.01, "steps": 3, "message": "hi"})
    assert created and job.status == "queued"
    job = run_job_now(job)
    assert job.status == "succeeded"
    assert job.progress == 1.0
    assert job.result == {"slept_seconds": 0.01, "steps": 3, "message": "hi"}
    assert job.attempts == 1 and job.started_at and job.finished_at and job.finished_at >= job.started_at


def test_a_trivial_job_costs_few_statements(user, django_assert_num_queries, monkeypatch):
    """Submitting (forced: no lookup of an identical succeeded job): the default workspace, the
    queued-job count, the INSERT. Running: the claim (one UPDATE ... RETURNING) and the result (one
    UPDATE, with the last progress report); a job that never uses its storage never looks up its
    workspace."""
    from services_app import tasks
    from services_app.workspaces import default_workspace

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda *a, **kw: None)
    default_workspace(user)  # made on the user's first job
    with django_assert_num_queries(3):
        job, _ = job_submit(
            owner=user, kind="demo.sleep", params={"seconds": 0, "steps": 1, "message": "x"}, force=True
        )
    with django_assert_num_queries(2):
        finished = job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert finished.status == job.status == "succeeded" and job.attempts == 1 and job.worker
    assert (job.progress, job.progress_message) == (1.0, "done")
    assert job.result == {"slept_seconds": 0.0, "steps": 1, "message": "x"}


def test_failing_job_records_a_structured_error(user):
    job, _ = job_submit(owner=user, kind="demo.fail", params={"message": "nope"})
    job = run_job_now(job)
    assert job.status == "failed"
    assert job.error == {"code": "demo_failure", "message": "nope", "details": {"p": 1}}


def test_unknown_kind_is_rejected(user):
    from services_app.errors import ServiceError

    with pytest.raises(ServiceError) as exc:
        job_submit(owner=user, kind="no.such", params={})
    assert exc.value.code == "unknown_kind" and "demo.sleep" in exc.value.details["known"]


def test_the_worker_killing_test_kind_is_not_registered_by_default(user, settings):
    from services_app.errors import ServiceError

    settings.JOB_TEST_KINDS_ENABLED = False
    with pytest.raises(ServiceError) as exc:
        job_submit(owner=user, kind="demo.crash", params={})
    assert exc.value.code == "unknown_kind" and "demo.crash" not in exc.value.details["known"]
    settings.JOB_TEST_KINDS_ENABLED = True
    job, created = job_submit(owner=user, kind="demo.crash", params={})
    assert created and job.kind == "demo.crash"


def test_identical_succeeded_job_is_reused_unless_forced(api, user):
    body = {"seconds": 0, "steps": 1, "message": "same"}
    first = api.post(reverse("api:job_demo"), body)
    assert first.status_code == HTTPStatus.ACCEPTED
    run_job_now(Job.objects.get(pk=first.json()["id"]))
    again = api.post(reverse("api:job_demo"), body)
    assert again.status_code == HTTPStatus.OK
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "succeeded"
    forced = api.post(reverse("api:job_demo"), {**body, "force": True})
    assert forced.status_code == HTTPStatus.ACCEPTED and forced.json()["id"] != first.json()["id"]
    different = api.post(reverse("api:job_demo"), {**body, "message": "other"})
    assert different.status_code == HTTPStatus.ACCEPTED


def test_cancel_queued_job_is_immediate_and_it_never_runs(api, user):
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    res = api.post(reverse("api:job_cancel", args=[job.pk]))
    assert res.status_code == HTTPStatus.OK and res.json()["status"] == "cancelled"
    job = run_job_now(job)
    assert job.status == "cancelled" and job.attempts == 0
    assert api.post(reverse("api:job_cancel", args=[job.pk])).status_code == HTTPStatus.CONFLICT


@pytest.mark.django_db(transaction=True)
def test_cancel_running_job_is_seen_by_the_heartbeat_and_stops_it(user, settings):
    """The real path: `job_cancel` sets the flag in the database, the heartbeat
    thread that `job_execute` starts mirrors it, and the job stops at its next
    progress report. Committed rows (transaction=True) so the heartbeat thread,
    on its own connection, sees them."""
    settings.JOB_HEARTBEAT_SECONDS = 0.05
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 20, "steps": 400})
    cancelled_at: list[float] = []

    def cancel_once_running():
        try:
            wait_for(
                lambda: Job.objects.filter(pk=job.pk, status="running", progress__gt=0).exists(),
                timeout=30,
                interval=0.02,
                message="job running",
            )
            cancelled_at.append(Job.objects.get(pk=job.pk).progress)
            job_cancel(job=Job.objects.get(pk=job.pk))
        finally:
            connection.close()

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    finished = job_execute(job_id=str(job.pk))
    canceller.join()
    job.refresh_from_db()
    assert cancelled_at, "the job was never seen running"
    assert finished is not None and job.status == "cancelled" and job.progress_message == "cancelled"
    assert job.cancel_requested and job.result is None and job.error is None
    assert job.progress < 0.5  # stopped well before the 400 steps ran out
    # job_execute waited for its heartbeat thread: nothing of this job is left running
    assert [t.name for t in threading.enumerate() if t.name == f"job-heartbeat-{job.pk}"] == []


def test_heartbeat_thread_is_joined_when_the_job_ends(user, monkeypatch):
    """job_execute returns only after its heartbeat thread finished (slowed down here so that a
    missing join shows), so no database write of it can come after the job ended."""
    from services_app.jobs import services

    beats = []

    class SlowToStop(services._Heartbeat):
        def __init__(self, job_id):
            super().__init__(job_id)
            self.finished = False
            beats.append(self)

        def run(self):
            super().run()
            time.sleep(0.3)
            self.finished = True

    monkeypatch.setattr(services, "_Heartbeat", SlowToStop)
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0, "steps": 1})
    assert job_execute(job_id=str(job.pk)).status == "succeeded"
    assert len(beats) == 1 and beats[0].finished and not beats[0].is_alive()


def test_a_failing_job_keeps_its_last_progress_report(user, monkeypatch):
    """Progress reports go to the row with the job's end when it ends before they were written."""
    from services_app.capabilities import demo
    from services_app.errors import ServiceError

    def fails_halfway(ctx, params):
        ctx.progress(0.25, "a quarter", force=True)
        ctx.progress(0.5, "half way", force=True)
        raise ServiceError("stopped half way", code="demo_failure")

    monkeypatch.setattr(demo, "fail", fails_halfway)
    job, _ = job_submit(owner=user, kind="demo.fail", params={})
    job = run_job_now(job)
    assert job.status == "failed" and job.error["code"] == "demo_failure"
    assert (job.progress, job.progress_message) == (0.5, "half way")


@pytest.mark.django_db(transaction=True)
def test_progress_reaches_the_row_while_the_job_runs_and_nothing_after_it_stopped(user, settings, monkeypatch):
    from services_app.jobs import services

    settings.JOB_HEARTBEAT_SECONDS = 60  # no beat in this test: only progress writes
    monkeypatch.setattr(services, "PROGRESS_WRITE_SECONDS", 0.05)
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    assert job_claim(job_id=str(job.pk)) is not None
    beat = services._Heartbeat(job.pk)
    beat.start()
    try:
        beat.report(0.25, "a quarter")
        beat.report(0.5, "half way")  # the latest report is the one written
        row = wait_for(
            lambda: Job.objects.filter(pk=job.pk, progress_message="half way").first(), timeout=10, interval=0.02
        )
        assert row.progress == 0.5 and row.status == "running"
    finally:
        beat.stop()
    assert not beat.is_alive()
    beat.report(0.75, "too late")
    time.sleep(0.2)
    job.refresh_from_db()
    assert (job.progress, job.progress_message) == (0.5, "half way")
    assert beat.last_report == (0.75, "too late")  # what job_execute would save with the job's end


def test_a_job_running_elsewhere_is_not_claimed_twice(user):
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    assert job_claim(job_id=str(job.pk)) is not None
    assert job_claim(job_id=str(job.pk)) is None  # our pid is alive and the heartbeat fresh
    job.refresh_from_db()
    assert job.attempts == 1


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_sweeper_requeues_job_of_dead_worker_then_fails_at_attempt_limit(user, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    Job.objects.filter(pk=job.pk).update(
        status="running", attempts=1, worker=f"{HOSTNAME}:{_dead_pid()}", heartbeat_at=timezone.now()
    )
    assert jobs_sweep() == {"requeued": 1, "failed": 0}
    job.refresh_from_db()
    assert job.status == "queued" and "requeued" in job.progress_message
    Job.objects.filter(pk=job.pk).update(status="running", attempts=2, worker=f"{HOSTNAME}:{_dead_pid()}")
    assert jobs_sweep() == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert job.status == "failed" and job.error["code"] == "attempts_exhausted"


def test_sweeper_detects_stale_heartbeat_from_another_host(user, settings):
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    old = timezone.now() - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 5)
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, worker="elsewhere:1", heartbeat_at=old)
    assert jobs_sweep()["requeued"] == 1
    Job.objects.filter(pk=job.pk).update(status="running", worker="elsewhere:1", heartbeat_at=timezone.now())
    assert jobs_sweep() == {"requeued": 0, "failed": 0}


def test_claim_refuses_past_attempt_limit(user, settings):
    settings.JOB_MAX_ATTEMPTS = 1
    job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, worker=f"{HOSTNAME}:{_dead_pid()}")
    assert job_claim(job_id=str(job.pk)) is None
    job.refresh_from_db()
    assert job.status == "failed" and job.error["details"] == {"attempts": 1}


def test_enqueue_happens_only_after_commit(user, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from services_app import tasks

    monkeypatch.setattr(tasks.run_job, "apply_async", lambda *a, **kw: sent.append((a, kw)))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0})
        assert sent == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent[0][1]["args"] == [str(job.pk)] and sent[0][1]["queue"] == "default"
    assert sent[0][1]["soft_time_limit"] == 600


def test_a_job_this_deployment_does_not_know_is_refused_with_a_warning(caplog):
    import uuid

    stranger = str(uuid.uuid4())
    with caplog.at_level("WARNING", logger="services_app.jobs.services"):
        assert job_claim(job_id=stranger) is None
    assert f"job {stranger} is not in this deployment's database" in caplog.text
    assert "REDIS_KEY_PREFIX" in caplog.text


def test_pid_check_uses_real_processes():
    from services_app.jobs.services import _pid_alive

    assert _pid_alive(os.getpid())
    assert not _pid_alive(_dead_pid())


def test_gpu_kinds_go_to_the_gpu_queue_only_when_it_is_served(user, settings):
    from services_app.jobs.services import worker_heartbeat

    settings.CELERY_GPU_QUEUE_ENABLED = False
    assert job_submit(owner=user, kind="checks.incoming", params={"n": 1})[0].queue == "default"
    worker_heartbeat(hostname="gpu-box", queues=["gpu"], started_at=timezone.now())
    assert job_submit(owner=user, kind="checks.incoming", params={"n": 2})[0].queue == "gpu"
    settings.CELERY_GPU_QUEUE_ENABLED = True
    assert job_submit(owner=user, kind="demo.sleep", params={"n": 3})[0].queue == "default"  # not a gpu kind
