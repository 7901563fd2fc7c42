"""Job functions of model sync: the same code behind the API, the worker and `manage.py sync_models`."""

from __future__ import annotations

import os

from ...errors import ServiceError
from ...jobs.context import JobContext
from . import core
from .request import ModelDownloadRequest, ModelSyncRequest, ModelUploadRequest


def _bucket(bucket: str | None) -> str:
    # routers and commands record the configured bucket; a bare call falls back to the environment
    return str(bucket or os.environ.get("GCS_MODELS_BUCKET") or "dvc_models_bucket")


def download(ctx: JobContext, params: dict) -> dict:
    """One model version from the bucket to ``<MODELS_ROOT>/<name>/<version>``.

    Only files that differ (by md5) are fetched; each is verified, and the
    version folder is replaced atomically, so the local copy ends exactly
    equal to the bucket's. A version already identical is not downloaded."""
    p, bucket = ModelDownloadRequest.from_job(params)
    name, version, bucket = p.name, p.version, _bucket(bucket)
    ctx.storage.check_bucket(bucket)
    remote = core.require_remote(ctx.storage, bucket, name, version)
    result, _, before = core.run_sync(
        ctx.storage,
        bucket=bucket,
        direction=core.DOWN,
        name=name,
        version=version,
        delete=True,
        workers=p.workers,
        report=ctx.progress,
        remote=remote,
    )
    if result["files_to_transfer"] or result["files_to_delete"]:
        # what is on disk now (the hashes of downloaded files are cached: nothing is read again)
        local = core.local_versions(ctx.storage, name=name, version=version)[(name, version)]
    else:
        local = before[(name, version)]
    ctx.add_output(str(ctx.storage.models_root / name / version))
    return {
        "name": name,
        "version": version,
        "status": "downloaded" if result["files_to_transfer"] or result["files_to_delete"] else "up_to_date",
        "checksum": local.checksum,
        "files": len(local.files),
        "size": local.size,
        "files_transferred": result["files_to_transfer"],
        "bytes_transferred": result["bytes_to_transfer"],
        "files_removed": result["files_to_delete"],
        "path": str(ctx.storage.models_root / name / version),
        "source": f"gs://{bucket}/{name}/{version}/",
        "seconds": result["seconds"],
    }


def upload(ctx: JobContext, params: dict) -> dict:
    """A local model folder to ``gs://<bucket>/<name>/<version>/``.

    ``path`` defaults to ``<MODELS_ROOT>/<name>/<version>``. A version that
    already exists in the bucket with different content is refused (409)
    unless ``overwrite`` is set; then only changed files are uploaded and
    files the folder lacks are deleted from the bucket."""
    p, bucket = ModelUploadRequest.from_job(params)
    name, version, bucket, overwrite, path = p.name, p.version, _bucket(bucket), p.overwrite, p.path
    ctx.storage.check_bucket(bucket)
    storage = ctx.storage
    root = core._models_root(storage)
    folder = storage.resolve(path, must_exist=True) if path else root / name / version
    if not folder.is_dir():
        raise ServiceError(
            f"model folder {str(path or folder)!r} does not exist or is not a folder", code="not_found", status=404
        )
    cache = core.HashCache(root, name, version) if folder == root / name / version else None
    local = core.scan_folder(folder, cache, name, version)
    if not local.files:
        raise ServiceError(f"model folder {str(folder)!r} is empty: nothing to upload", code="empty_model")
    remote = core.remote_versions(storage, bucket, name=name, version=version)
    existing = remote.get((name, version))
    if existing and existing.checksum != local.checksum and not overwrite:
        raise ServiceError(
            f"gs://{bucket}/{name}/{version}/ already exists with different content; publish a new version "
            "or pass overwrite=true",
            code="conflict",
            status=409,
            details={"remote_checksum": existing.checksum, "local_checksum": local.checksum},
        )
    actions = core.plan({(name, version): local}, remote, direction=core.UP, delete=overwrite)
    if actions:
        core.apply_uploads(
            storage,
            bucket,
            actions,
            {(name, version): (folder, local)},
            remote,
            report=ctx.progress,
            workers=p.workers,
        )
    moved = [a for a in actions if a.op == "upload"]
    ctx.add_output(f"gs://{bucket}/{name}/{version}/")
    return {
        "name": name,
        "version": version,
        "status": "uploaded" if actions else "up_to_date",
        "checksum": local.checksum,
        "files": len(local.files),
        "size": local.size,
        "files_transferred": len(moved),
        "bytes_transferred": sum(a.size for a in moved),
        "files_removed": len(actions) - len(moved),
        "destination": f"gs://{bucket}/{name}/{version}/",
    }


def sync(ctx: JobContext, params: dict) -> dict:
    """Every model (or one name/version): bucket to disk or disk to bucket, only what changed."""
    p, bucket = ModelSyncRequest.from_job(params)
    return core.sync(
        ctx.storage,
        bucket=_bucket(bucket),
        direction=p.direction,
        name=p.name,
        version=p.version,
        dry_run=p.dry_run,
        delete=p.delete,
        workers=p.workers,
        report=ctx.progress,
    )
