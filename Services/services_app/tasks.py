"""Celery tasks: one more thin interface over the job services.

Tasks receive a job id, never an object, and re-read the row."""

from __future__ import annotations

import logging
import threading

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

import services_project.celery  # noqa: F401 - the project's app, which shared_task binds to

log = logging.getLogger(__name__)


@shared_task(name="services.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: str) -> None:
    from .jobs.services import job_execute

    close_old_connections()
    try:
        job_execute(job_id=job_id)
    finally:
        close_old_connections()


@shared_task(name="services.sweep_jobs", ignore_result=True)
def sweep_jobs() -> dict:
    from .jobs.services import jobs_sweep

    return jobs_sweep()


class _WorkerHousekeeping(threading.Thread):
    """In each worker's main process: publish a heartbeat for /api/health and
    sweep jobs lost by dead workers, every JOB_SWEEP_INTERVAL_SECONDS (and
    once at start, so a restarted worker picks up what its predecessor lost)."""

    def __init__(self, hostname: str, queues: list[str]):
        super().__init__(daemon=True, name="services-housekeeping")
        self.hostname, self.queues = hostname, queues
        self.stop_event = threading.Event()
        self.started_at = timezone.now()

    def run(self) -> None:
        from .jobs.services import jobs_sweep, worker_heartbeat

        interval = min(settings.JOB_SWEEP_INTERVAL_SECONDS, 10.0)
        last_sweep = 0.0
        import time

        while True:
            try:
                worker_heartbeat(hostname=self.hostname, queues=self.queues, started_at=self.started_at)
                if time.monotonic() - last_sweep >= settings.JOB_SWEEP_INTERVAL_SECONDS:
                    last_sweep = time.monotonic()
                    swept = jobs_sweep()
                    if any(swept.values()):
                        log.warning("swept lost jobs: %s", swept)
            except Exception:  # noqa: BLE001 - housekeeping must never kill the worker
                log.exception("worker housekeeping failed")
            finally:
                close_old_connections()
            if self.stop_event.wait(interval):
                return


_housekeeping: _WorkerHousekeeping | None = None


@worker_ready.connect
def _start_housekeeping(sender=None, **_):
    global _housekeeping
    queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values()) if sender else []
    _housekeeping = _WorkerHousekeeping(sender.hostname if sender else "worker", queues)
    _housekeeping.start()


@worker_shutdown.connect
def _stop_housekeeping(sender=None, **_):
    if _housekeeping is not None:
        _housekeeping.stop_event.set()
        from .models import WorkerHeartbeat

        WorkerHeartbeat.objects.filter(hostname=_housekeeping.hostname).delete()
