"""Job lifecycle: submit, claim, run, finish, cancel, sweep.

The Job row is the source of truth. A worker *claims* a job with a
conditional update before running it, so a message delivered twice (a
redelivery after a lost worker, a sweeper requeue) never runs a job twice
at once. A job whose worker disappeared is detected by its heartbeat (or,
on the same host, by its worker's pid) and is requeued until
``JOB_MAX_ATTEMPTS``, then failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from ..errors import JobCancelled, NotFound, ServiceError
from ..models import Job, WorkerHeartbeat
from ..params import has_secrets, without_secrets
from ..storage import Storage
from ..workspaces import default_workspace, job_storage, jobs_visible_to
from .context import JobContext
from .registry import get_kind

log = logging.getLogger(__name__)
HOSTNAME = socket.gethostname()


def _fingerprint(kind: str, params: dict, inputs: list[dict]) -> str:
    blob = json.dumps({"kind": kind, "params": params, "inputs": inputs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _queue_for(kind_queue: str) -> str:
    """The GPU queue only when a live worker serves it; else the default queue."""
    if kind_queue != "gpu":
        return kind_queue
    if settings.CELERY_GPU_QUEUE_ENABLED:
        return "gpu"
    return "gpu" if "gpu" in live_worker_queues() else "default"


def live_workers():
    """Workers whose housekeeping thread reported in the last 30 seconds."""
    cutoff = timezone.now() - timedelta(seconds=30)
    return WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).order_by("hostname")


def live_worker_queues() -> set[str]:
    return {q for w in live_workers() for q in w.queues}


def _time_limit(job: Job) -> int:
    return job.time_limit or get_kind(job.kind).time_limit


def _enqueue(job: Job, *, countdown: float | None = None) -> None:
    from ..tasks import run_job

    limit = _time_limit(job)
    run_job.apply_async(
        args=[str(job.id)], queue=job.queue, soft_time_limit=limit, time_limit=limit + 60, countdown=countdown
    )


def _limited(owner) -> bool:
    return not (owner.is_staff or owner.is_superuser)


def _check_time_limit(owner, job_kind, time_limit: int | None) -> int | None:
    """The time limit a job gets: what was asked (within the kind's), capped for non-staff users."""
    if time_limit is None:
        cap = settings.JOB_USER_MAX_TIME_LIMIT_SECONDS
        if _limited(owner) and job_kind.time_limit > cap:
            return cap
        return None
    if time_limit < 1:
        raise ServiceError("time_limit must be at least 1 second", code="invalid_time_limit")
    most = (
        job_kind.time_limit
        if not _limited(owner)
        else min(job_kind.time_limit, settings.JOB_USER_MAX_TIME_LIMIT_SECONDS)
    )
    if time_limit > most:
        raise ServiceError(
            f"time_limit {time_limit} s is more than the {most} s a {job_kind.name} job may ask for"
            + (" (JOB_USER_MAX_TIME_LIMIT_SECONDS; staff may ask for the kind's limit)" if _limited(owner) else ""),
            code="time_limit_too_long",
            details={"max": most},
        )
    return time_limit


def _check_queue_room(owner) -> None:
    """At most JOB_MAX_QUEUED_PER_USER jobs of one non-staff user wait at once: 429 beyond."""
    if not _limited(owner):
        return
    waiting = Job.objects.filter(owner=owner, status=Job.Status.QUEUED, parent__isnull=True).count()
    if waiting >= settings.JOB_MAX_QUEUED_PER_USER:
        raise ServiceError(
            f"you have {waiting} jobs waiting, the most one user may have (JOB_MAX_QUEUED_PER_USER); wait for "
            "some to finish or cancel some",
            code="too_many_jobs",
            status=429,
            details={"queued": waiting, "max_queued": settings.JOB_MAX_QUEUED_PER_USER},
        )


def _outputs_still_there(job: Job, workspace) -> bool:
    """Whether the outputs of an earlier identical job can still be read (the first 20 checked): a result
    whose files were deleted since is not handed back as if it were current."""
    from ..workspaces import workspace_storage

    storage = workspace_storage(workspace) if workspace is not None else None
    if storage is None:
        return True
    for location in (job.outputs or [])[:20]:
        try:
            if not storage.exists(location):
                return False
        except ServiceError:  # not a location this storage checks (or the bucket is unreachable): assume there
            continue
    return True


def job_submit(
    *,
    owner,
    kind: str,
    params: dict[str, Any],
    inputs: list[dict] | None = None,
    force: bool = False,
    workspace=None,
    time_limit: int | None = None,
) -> tuple[Job, bool]:
    """Create a job in ``workspace`` and enqueue it after the transaction commits.

    Returns ``(job, created)``. Unless ``force``, a succeeded job of this
    owner in this workspace with the same kind, params and input hashes is
    returned instead of running the work again (``created`` is then False).
    Raises 429 ``too_many_jobs`` past the owner's queued-job limit and 400
    ``time_limit_too_long`` for a time limit over what the owner may ask. Without ``workspace`` the job
    goes to the owner's default workspace."""
    job_kind = get_kind(kind)
    if workspace is None:
        workspace = default_workspace(owner)
    inputs = inputs or []
    fp = _fingerprint(kind, params, inputs)
    if not force:
        previous = (
            Job.objects.filter(owner=owner, workspace=workspace, fingerprint=fp, status=Job.Status.SUCCEEDED)
            .order_by("-finished_at")
            .first()
        )
        if previous is not None and _outputs_still_there(previous, workspace):
            return previous, False
    limit = _check_time_limit(owner, job_kind, time_limit)
    _check_queue_room(owner)
    # One INSERT (its own transaction, unless the caller holds one); the message goes out once the row
    # is committed: at once here, or when the caller's transaction commits.
    job = Job.objects.create(
        owner=owner,
        workspace=workspace,
        kind=kind,
        params=params,
        inputs=inputs,
        fingerprint=fp,
        queue=_queue_for(job_kind.queue),
        time_limit=limit,
    )
    transaction.on_commit(lambda: _enqueue(job))
    return job, True


def job_submit_request(
    *, owner, kind: str, request, inputs=None, params=None, workspace=None, time_limit: int | None = None
) -> tuple[Job, bool]:
    """`job_submit` for a capability's request model (`params.RequestModel`): its stored params
    (``request.job_params()``, unless ``params`` is given for a job that stores more than the request holds)
    and its ``force``. Every capability's submit ends here."""
    return job_submit(
        owner=owner,
        kind=kind,
        params=request.job_params() if params is None else params,
        inputs=inputs,
        force=request.force,
        workspace=workspace,
        time_limit=time_limit,
    )


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    with transaction.atomic():
        job = Job.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise ServiceError(f"job {job.id} already {job.status}; nothing to cancel", code="job_finished", status=409)
        job.cancel_requested = True
        if job.status == Job.Status.QUEUED:
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
            job.progress_message = "cancelled before it started"
        job.save()
        _cancel_batches(job)
    return job


def _cancel_batches(job: Job) -> None:
    """Queued batches of a job are cancelled at once; running ones stop at their next progress report."""
    now = timezone.now()
    batches = Job.objects.filter(parent=job)
    batches.filter(status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, cancel_requested=True, finished_at=now, progress_message="cancelled with its job"
    )
    batches.filter(status=Job.Status.RUNNING).update(cancel_requested=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_lost(job: Job, now=None) -> bool:
    """A running job whose worker is gone: dead pid on this host, or a stale heartbeat."""
    now = now or timezone.now()
    host, _, pid = job.worker.rpartition(":")
    if host == HOSTNAME and pid.isdigit() and not _pid_alive(int(pid)):
        return True
    stale = timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    return job.heartbeat_at is None or now - job.heartbeat_at > stale


def _fail(job: Job, code: str, message: str, details: Any = None, *, also: tuple[str, ...] = ()) -> None:
    """End ``job`` failed; ``also``: more fields of ``job`` to save with it."""
    job.status = Job.Status.FAILED
    job.error = {"code": code, "message": message, "details": details}
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at", *also])


def _claim_queued(job_id: str) -> Job | None:
    """The common case in one statement: a queued job, not cancelled, under the attempt limit, whose
    owner is under the running-job limit, becomes running here. The conditional UPDATE is what makes
    the claim exclusive (a second worker's UPDATE finds the row no longer queued); RETURNING gives
    the row back without reading it again. None: not that case (the caller takes the locked path)."""
    user = get_user_model()
    table, users = connection.ops.quote_name(Job._meta.db_table), connection.ops.quote_name(user._meta.db_table)
    pk = Job._meta.pk
    columns = ", ".join(connection.ops.quote_name(f.column) for f in Job._meta.concrete_fields)
    now = Job._meta.get_field("heartbeat_at").get_db_prep_value(timezone.now(), connection)
    # The names come from the models; every value is a parameter.
    sql = (
        f"UPDATE {table} SET status = %s, attempts = attempts + 1, worker = %s, heartbeat_at = %s, "  # noqa: S608
        "started_at = COALESCE(started_at, %s), error = NULL "
        "WHERE id = %s AND status = %s AND NOT cancel_requested AND attempts < %s AND ("
        "parent_id IS NOT NULL"
        f" OR EXISTS (SELECT 1 FROM {users} u WHERE u.id = {table}.owner_id AND (u.is_staff OR u.is_superuser))"
        f" OR (SELECT COUNT(*) FROM {table} r WHERE r.owner_id = {table}.owner_id AND r.status = %s"
        " AND r.parent_id IS NULL) < %s"
        f") RETURNING {columns}"
    )
    params = [
        Job.Status.RUNNING,
        f"{HOSTNAME}:{os.getpid()}",
        now,
        now,
        pk.get_db_prep_value(pk.to_python(job_id), connection),
        Job.Status.QUEUED,
        settings.JOB_MAX_ATTEMPTS,
        Job.Status.RUNNING,
        settings.JOB_MAX_RUNNING_PER_USER,
    ]
    rows = list(Job.objects.raw(sql, params))  # read to the end: SQLite ends the statement only then
    return rows[0] if rows else None


def job_claim(*, job_id: str) -> Job | None:
    """Mark a job running for this process, or return None if it must not run here."""
    job = _claim_queued(job_id)
    if job is not None:
        return job
    # Anything else (cancelled, finished, running elsewhere or lost, owner at the running limit,
    # attempts used up, no such job): decided on the locked row.
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            # Not silent: a worker on the same Redis database and key prefix as another deployment takes
            # that deployment's jobs, which then wait for ever over there.
            log.warning(
                "job %s is not in this deployment's database: deleted since it was queued, or queued by "
                "another deployment on the same Redis database and REDIS_KEY_PREFIX (give each its own)",
                job_id,
            )
            return None
        if job.is_finished:
            return None
        if job.cancel_requested:
            job.status = Job.Status.CANCELLED
            job.finished_at = timezone.now()
            job.save()
            return None
        if job.status == Job.Status.RUNNING and not _is_lost(job):
            return None  # another worker is running it right now
        if job.status == Job.Status.QUEUED and _owner_at_running_limit(job):
            # One user may not hold every worker: the job waits and is offered again shortly.
            transaction.on_commit(lambda: _enqueue(job, countdown=settings.JOB_USER_LIMIT_RETRY_SECONDS))
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _fail(
                job,
                "attempts_exhausted",
                f"gave up after {job.attempts} attempts: the worker running this job was lost each time "
                "(killed, out of memory, or restarted)",
                {"attempts": job.attempts},
            )
            return None
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.worker = f"{HOSTNAME}:{os.getpid()}"
        job.heartbeat_at = timezone.now()
        job.started_at = job.started_at or job.heartbeat_at
        job.error = None
        job.save()
        return job


def _owner_at_running_limit(job: Job) -> bool:
    """True when the job's (non-staff) owner already runs JOB_MAX_RUNNING_PER_USER jobs."""
    owner = job.owner
    if job.parent_id is not None or not _limited(owner):
        return False  # a batch of a fanned-out job runs under its parent's slot
    running = Job.objects.filter(owner=owner, status=Job.Status.RUNNING, parent__isnull=True).exclude(pk=job.pk).count()
    return running >= settings.JOB_MAX_RUNNING_PER_USER


# A progress report reaches the Job row at most this long after it was made, and a job's row gets at
# most one progress write per this interval (the latest report wins). A job that ends sooner writes
# its last report with its result, in the same UPDATE.
PROGRESS_WRITE_SECONDS = 0.5


class _Heartbeat(threading.Thread):
    """While a job runs: keeps `Job.heartbeat_at` fresh, mirrors the cancel flag, and writes the
    job's progress reports (see PROGRESS_WRITE_SECONDS). `stop` ends it and waits for it: no write of
    it comes after."""

    def __init__(self, job_id):
        super().__init__(daemon=True, name=f"job-heartbeat-{job_id}")
        self.job_id = job_id
        self.stop_event = threading.Event()
        self.cancelled = threading.Event()
        self.last_report: tuple[float, str] | None = None  # the latest report, written or not
        self._wake = threading.Condition()
        self._pending_since: float | None = None  # when the oldest report not yet written was made

    def report(self, fraction: float, message: str) -> None:
        with self._wake:
            self.last_report = (fraction, message)
            if self._pending_since is None:
                self._pending_since = time.monotonic()
                self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self.stop_event.set()
            self._wake.notify()
        self.join()

    def _next(self, next_beat: float) -> tuple[float, str] | None | bool:
        """Wait until a beat or a pending report is due: False when stopped, else the report to write."""
        with self._wake:
            while not self.stop_event.is_set():
                now = time.monotonic()
                due = next_beat
                if self._pending_since is not None:
                    due = min(due, self._pending_since + PROGRESS_WRITE_SECONDS)
                if now >= due:
                    if self._pending_since is not None and now >= self._pending_since + PROGRESS_WRITE_SECONDS:
                        self._pending_since = None
                        return self.last_report
                    return None
                self._wake.wait(due - now)
            return False

    def run(self) -> None:
        next_beat = time.monotonic() + settings.JOB_HEARTBEAT_SECONDS
        try:
            while (report := self._next(next_beat)) is not False:
                if report is not None:
                    fraction, message = report
                    Job.objects.filter(pk=self.job_id).update(
                        progress=fraction, progress_message=message, heartbeat_at=timezone.now()
                    )
                if time.monotonic() >= next_beat:
                    Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(heartbeat_at=timezone.now())
                    if Job.objects.filter(pk=self.job_id, cancel_requested=True).exists():
                        self.cancelled.set()
                    next_beat = time.monotonic() + settings.JOB_HEARTBEAT_SECONDS
        finally:
            connection.close()  # this thread's own connection ends with it (CONN_MAX_AGE would keep it open)


class _WorkerContext(JobContext):
    """A worker's `JobContext`: the job's storage (its workspace, one more query) is looked up when
    the job first uses it; many short jobs never do."""

    def __init__(self, *, storage_of: Job, **kwargs):
        self._job = storage_of
        super().__init__(**kwargs)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = job_storage(self._job)
        return self._storage

    @storage.setter
    def storage(self, value: Storage | None) -> None:
        self._storage = value


def job_execute(*, job_id: str) -> Job | None:
    """Claim and run one job in this process; record its result or error.

    The job's row is written when it is claimed and when it ends (with its last progress report);
    in between, its heartbeat thread writes progress and heartbeats."""
    job = job_claim(job_id=job_id)
    if job is None:
        return None
    kind = get_kind(job.kind)
    beat = _Heartbeat(job.pk)
    beat.start()

    ctx = _WorkerContext(
        storage=None,  # looked up when the job first uses it
        storage_of=job,
        job_id=str(job.pk),
        on_progress=beat.report,
        is_cancelled=beat.cancelled.is_set,
        run_batches=lambda kind, batches, report: _run_batches(job, kind, batches, report),
    )
    try:
        try:
            func = kind.load()
            result = func(ctx, dict(job.params)) or {}
        finally:
            # Stop the heartbeat and wait for it: it touches the database, and a
            # thread left running would write after the job (or a test) ended.
            beat.stop()
    except JobCancelled:
        job.refresh_from_db()
        _last_progress(job, beat)
        job.status = Job.Status.CANCELLED
        job.finished_at = timezone.now()
        job.progress_message = "cancelled"
        job.save(update_fields=["status", "finished_at", "progress", "progress_message"])
    except ServiceError as exc:
        job.refresh_from_db()
        _fail(job, exc.code, exc.message, exc.details, also=_last_progress(job, beat))
    except Exception as exc:  # noqa: BLE001 - any crash must end as a failed job, not a stuck one
        from celery.exceptions import SoftTimeLimitExceeded

        job.refresh_from_db()
        also = _last_progress(job, beat)
        if isinstance(exc, SoftTimeLimitExceeded):
            _fail(job, "time_limit", f"the job ran longer than its limit of {_time_limit(job)} s", also=also)
        else:
            # The traceback and the exception's text (which can hold server paths or SQL) go to the log;
            # the job says what kind of failure it was and where to look.
            log.exception("job %s (%s) crashed", job.pk, job.kind)
            _fail(
                job,
                "internal_error",
                f"the job stopped on an unexpected error ({type(exc).__name__}); it has been logged "
                f"with the job id {job.pk}",
                {"exception": type(exc).__name__},
                also=also,
            )
    else:
        # No re-read: while the job ran, only its own progress reports changed the fields written here.
        _last_progress(job, beat)
        outputs = list(ctx.outputs) + [o for o in result.pop("outputs", []) if o not in ctx.outputs]
        if ctx.warnings:
            result.setdefault("warnings", []).extend(w for w in ctx.warnings if w not in result["warnings"])
        job.status = Job.Status.SUCCEEDED
        job.result = result
        job.outputs = outputs
        job.progress = 1.0
        job.progress_message = job.progress_message or "done"
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "result", "outputs", "progress", "progress_message", "finished_at"])
    finally:
        beat.stop()  # again (a no-op once stopped) in case a time limit interrupted the first stop
        if job.status in Job.FINISHED and has_secrets(job.params):
            # a secret the job needed (a PDF's password) is not kept once the job can no longer run
            job.params = without_secrets(job.params)
            Job.objects.filter(pk=job.pk).update(params=job.params)
    return job


def _last_progress(job: Job, beat: _Heartbeat) -> tuple[str, ...]:
    """Put the job's last progress report (written or not) on ``job``; the fields to save with it."""
    if beat.last_report is None:
        return ()
    job.progress, job.progress_message = beat.last_report
    return ("progress", "progress_message")


def jobs_sweep() -> dict[str, int]:
    """Requeue (or fail, past the attempt limit) running jobs whose worker is lost."""
    requeued = failed = 0
    now = timezone.now()
    for job_id in Job.objects.filter(status=Job.Status.RUNNING).values_list("pk", flat=True):
        outcome = _requeue_if_lost(job_id, now)
        requeued += outcome == "requeued"
        failed += outcome == "failed"
    return {"requeued": requeued, "failed": failed}


def _requeue_if_lost(job_id, now=None) -> str | None:
    """Requeue one running job whose worker is lost (fail it past the attempt limit)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id, status=Job.Status.RUNNING).first()
        if job is None or not _is_lost(job, now or timezone.now()):
            return None
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            _fail(
                job,
                "attempts_exhausted",
                f"gave up after {job.attempts} attempts: the worker running this job was lost each time",
                {"attempts": job.attempts},
            )
            return "failed"
        job.status = Job.Status.QUEUED
        job.worker = ""
        job.progress_message = f"requeued after a lost worker (attempt {job.attempts} of {settings.JOB_MAX_ATTEMPTS})"
        job.save()
        transaction.on_commit(lambda j=job: _enqueue(j))
        return "requeued"


BATCH_POLL_SECONDS = 0.5


def _run_batches(parent: Job, kind: str, batches: list[dict], report) -> list[dict]:
    """`JobContext.map_batches` in a worker: one child job per batch, run by any worker.

    The children are queued for every worker to take; meanwhile this worker claims queued
    children itself and runs them here (so a single worker never waits on work nobody takes, and
    no worker slot sits idle waiting). A child whose worker is lost is requeued (by any worker's
    sweep, or here) and retried up to the attempt limit. On a retry of the parent, children of the
    same split (same kind and batches) are reused by their index: finished batches are not run
    again; children of a different split (the folder changed in between) are cancelled."""
    plan = hashlib.sha256(json.dumps([kind, batches], sort_keys=True, default=str).encode()).hexdigest()
    existing = {}
    stale = []
    for c in Job.objects.filter(parent=parent).only("pk", "params", "status"):
        if c.params.get("batch_plan") == plan:
            existing[c.params.get("batch_index")] = c.pk
        elif c.status not in Job.FINISHED:
            stale.append(c.pk)  # from an earlier attempt that split a different listing: stop it
    if stale:
        Job.objects.filter(pk__in=stale, status=Job.Status.QUEUED).update(
            status=Job.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
        )
        Job.objects.filter(pk__in=stale).update(cancel_requested=True)
    created = []
    with transaction.atomic():
        for i, params in enumerate(batches):
            if i in existing:
                continue
            child = Job.objects.create(
                owner_id=parent.owner_id,
                workspace_id=parent.workspace_id,  # a batch reads and writes where its parent does
                time_limit=parent.time_limit,
                kind=kind,
                params={**params, "batch_index": i, "batch_plan": plan},
                queue=parent.queue,
                parent=parent,
                progress_message=f"batch {i + 1} of {len(batches)}",
            )
            existing[i] = child.pk
            created.append(child)
        transaction.on_commit(lambda: [_enqueue(c) for c in created])
    ids = [existing[i] for i in range(len(batches))]
    try:
        while True:
            rows = dict(Job.objects.filter(pk__in=ids).values_list("pk", "status"))
            finished = sum(st in Job.FINISHED for st in rows.values())
            report(finished, len(ids))  # raises JobCancelled when the parent was cancelled
            if finished == len(ids):
                break
            took = False
            for pk in ids:
                if rows[pk] == Job.Status.QUEUED and job_execute(job_id=pk) is not None:
                    took = True
                    break
            if not took:
                for pk in ids:
                    if rows[pk] == Job.Status.RUNNING:
                        _requeue_if_lost(pk)
                time.sleep(BATCH_POLL_SECONDS)
    except JobCancelled:
        _cancel_batches(parent)
        raise
    children = {c.pk: c for c in Job.objects.filter(pk__in=ids)}
    outcomes = []
    for pk in ids:
        c = children[pk]
        if c.status == Job.Status.SUCCEEDED:
            outcomes.append({"result": c.result or {}})
        else:
            error = c.error or {"code": c.status, "message": f"the batch was {c.status}"}
            outcomes.append({"error": {**error, "batch_job": str(c.pk)}})
    return outcomes


def worker_heartbeat(*, hostname: str, queues: list[str], started_at) -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=hostname,
        defaults={"queues": queues, "pid": os.getpid(), "started_at": started_at, "last_seen": timezone.now()},
    )


def job_get_for_user(*, user, job_id) -> Job:
    """A job the user may see (in one of their workspaces; staff see all), or NotFound."""
    job = jobs_visible_to(user).filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    return job
