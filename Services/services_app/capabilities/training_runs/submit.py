"""The Django side of a training run: create it, receive its files in resumable parts, submit its job,
and find a user's runs. Routers call these; they never touch files or the Job table themselves.

Upload protocol (what the Python client does):

1. ``POST /api/runs`` with a `RunCreate`: every file's name, size and sha256;
2. ``GET /api/runs/{id}/upload``: how many bytes of each file the server already has;
3. ``PUT /api/runs/{id}/files/{name}?offset=N`` with the part's bytes as the body and its sha256 in the
   ``X-Part-SHA256`` header: written at ``offset`` only when the checksum matches; an offset beyond what the
   server has answers 409 with ``details.received``; re-sending bytes the server has is harmless;
4. ``POST /api/runs/{id}/complete``: each whole file is checked against its declared sha256, then the
   processing job is submitted (202 with the job).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import transaction

from ...errors import NotFound, ServiceError
from ...jobs.services import job_submit
from ...models import Job, TrainingRun
from ...storage import CHUNK, Storage, sha256_file
from .jobs import KIND
from .request import ProcessRequest, RunCreate, SignalOptions

ROOT = "training_runs"
MAX_PART_BYTES = 64 * 1024 * 1024


def run_folder(storage: Storage, run: TrainingRun) -> Path:
    return storage.data_root / ROOT / str(run.id)


def upload_folder(storage: Storage, run: TrainingRun) -> Path:
    return run_folder(storage, run) / "upload"


def results_folder(storage: Storage, run: TrainingRun) -> Path:
    return run_folder(storage, run) / "results"


def run_create(*, owner, request: RunCreate, storage: Storage) -> TrainingRun:
    total = sum(f.size for f in request.files)
    limit = getattr(settings, "MAX_UPLOAD_BYTES", None)
    if limit is not None and total > limit:
        raise ServiceError(
            f"the run's files hold {total} bytes, above the upload limit of {limit} bytes "
            "(SERVICES_MAX_UPLOAD_BYTES); log fewer epochs of embeddings",
            code="too_large",
            status=413,
        )
    run = TrainingRun.objects.create(
        owner=owner,
        project=request.project,
        name=request.run_name,
        task_type=request.task_type,
        labels=request.labels,
        files=[f.model_dump() for f in request.files],
        options=request.options.model_dump(),
    )
    upload_folder(storage, run).mkdir(parents=True, exist_ok=True)
    return run


def run_get_for_user(*, user, run_id) -> TrainingRun:
    qs = TrainingRun.objects.all() if user.is_staff else TrainingRun.objects.filter(owner=user)
    run = qs.select_related("job", "owner").filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"no training run {run_id}", code="run_not_found")
    return run


def run_list(*, user, project: str | None = None):
    qs = TrainingRun.objects.all() if user.is_staff else TrainingRun.objects.filter(owner=user)
    if project:
        qs = qs.filter(project=project)
    return qs.select_related("job", "owner").order_by("-created_at")


def _part_path(storage: Storage, run: TrainingRun, name: str) -> Path:
    return upload_folder(storage, run) / f"{name}.part"


def _declared(run: TrainingRun, name: str) -> dict:
    for f in run.files:
        if f["name"] == name:
            return f
    raise NotFound(
        f"file {name!r} was not declared when the run was created; declared: "
        + ", ".join(f["name"] for f in run.files),
        code="file_not_declared",
    )


def run_upload_status(*, storage: Storage, run: TrainingRun) -> list[dict]:
    """Every declared file with the bytes the server has (``received``); complete files count in full."""
    folder = upload_folder(storage, run)
    out = []
    for f in run.files:
        final, part = folder / f["name"], folder / f"{f['name']}.part"
        received = f["size"] if final.exists() else (part.stat().st_size if part.exists() else 0)
        out.append({**f, "received": received})
    return out


def _check_uploading(run: TrainingRun) -> None:
    if run.status != TrainingRun.Status.UPLOADING:
        raise ServiceError(
            f"run {run.id} is complete and its job submitted; create a new run to upload again",
            code="run_complete",
            status=409,
        )


def run_receive_part(
    *, storage: Storage, run: TrainingRun, name: str, offset: int, stream: BinaryIO, length: int, sha256: str
) -> int:
    """Write one part of a file at ``offset``; returns the bytes of the file the server now has."""
    declared = _declared(run, name)
    if length > MAX_PART_BYTES:
        raise ServiceError(f"a part may hold at most {MAX_PART_BYTES} bytes", code="part_too_large", status=413)
    if not sha256 or len(sha256) != 64:
        raise ServiceError("send the part's sha256 (hex) in the X-Part-SHA256 header", code="part_checksum_missing")
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)  # one writer per run at a time
        _check_uploading(run)
        path = _part_path(storage, run, name)
        received = path.stat().st_size if path.exists() else 0
        if offset > received or offset < 0:
            raise ServiceError(
                f"offset {offset} is beyond the {received} bytes received of {name}; resume from {received}",
                code="bad_offset",
                status=409,
                details={"received": received},
            )
        if offset + length > declared["size"]:
            raise ServiceError(
                f"the part ends at byte {offset + length}, past the declared size {declared['size']} of {name}",
                code="part_past_end",
                details={"size": declared["size"]},
            )
        digest = hashlib.sha256()
        with open(path, "r+b" if path.exists() else "wb") as out:
            out.seek(offset)
            out.truncate(offset)
            left = length
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                left -= len(chunk)
            if left > 0 or digest.hexdigest() != sha256.lower():
                out.truncate(offset)
                what = "was cut short" if left > 0 else "does not match its X-Part-SHA256"
                raise ServiceError(
                    f"the part of {name} at offset {offset} {what}; send it again",
                    code="part_checksum_mismatch",
                    details={"received": offset},
                )
        return offset + length


def run_complete(*, storage: Storage, run: TrainingRun, force: bool = False) -> tuple[Job, bool]:
    """Check every file against its declared size and sha256, then submit the processing job."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == TrainingRun.Status.SUBMITTED and run.job is not None and not force:
            return run.job, False
        folder = upload_folder(storage, run)
        missing = [f for f in run_upload_status(storage=storage, run=run) if f["received"] < f["size"]]
        if missing:
            raise ServiceError(
                f"{len(missing)} file(s) are not fully uploaded: "
                + ", ".join(f"{f['name']} ({f['received']} of {f['size']} bytes)" for f in missing[:5]),
                code="upload_incomplete",
                status=409,
                details={"files": missing},
            )
        for f in run.files:
            final, part = folder / f["name"], folder / f"{f['name']}.part"
            if final.exists():
                continue
            actual = sha256_file(part)
            if actual != f["sha256"]:
                os.unlink(part)
                raise ServiceError(
                    f"{f['name']} does not match its declared sha256 (got {actual}); it was removed: upload it again",
                    code="file_checksum_mismatch",
                    status=409,
                    details={"file": f["name"]},
                )
            os.replace(part, final)
            storage.publish_local(final)
        params = ProcessRequest(
            run_id=str(run.id),
            bundle=storage.relative(folder),
            output=storage.relative(results_folder(storage, run)),
            run_name=f"{run.project}/{run.name}",
            options=SignalOptions.model_validate(run.options),
        ).job_params()
        job, created = job_submit(owner=run.owner, kind=KIND, params=params, force=True)
        run.job = job
        run.status = TrainingRun.Status.SUBMITTED
        run.save(update_fields=["job", "status"])
    return job, created


def run_results(*, storage: Storage, run: TrainingRun) -> Path:
    """The results folder of a run whose job succeeded, or a 409 that says where the run stands."""
    job = run.job
    if job is None:
        raise ServiceError(
            f"run {run.id} is still uploading: finish the upload and POST /api/runs/{run.id}/complete",
            code="run_not_ready",
            status=409,
        )
    if job.status != Job.Status.SUCCEEDED:
        detail = f": {job.error.get('message')}" if job.error else ""
        raise ServiceError(
            f"the results of run {run.id} are not ready: its job is {job.status}{detail}",
            code="run_not_ready",
            status=409,
            details={"job_id": str(job.id), "status": job.status},
        )
    folder = storage.hydrate(results_folder(storage, run))
    if not (folder / "manifest.json").is_file():
        raise ServiceError(f"the results of run {run.id} are missing", code="run_results_missing", status=409)
    return folder
