"""`finish()`'s second half: upload the bundle in resumable parts, then start processing.

The server is asked what it already has (``GET /api/runs/{id}/upload``) before every file and after every
dropped connection; each part is sent with its offset and sha256 (``PUT /api/runs/{id}/files/{name}``), so
an interrupted upload continues where the server's copy ends instead of starting over.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx

from ._http import progress_bar
from .errors import ServicesError, raise_for_response
from .run import sha256_file

MAX_FAILURES = 8


def _received(http, run_id: str) -> dict[str, int]:
    status = http.json("GET", f"/api/runs/{run_id}/upload")
    return {f["name"]: f["received"] for f in status["files"]}


def upload_file(
    http, run_id: str, path: Path, *, part_bytes: int, received: int | None = None, bar=None, stats: dict | None = None
) -> None:
    """Send ``path`` from ``received`` (asked of the server when not given) to its end, in parts."""
    name, size = path.name, path.stat().st_size
    if received is None:
        received = _received(http, run_id)[name]
    if bar is not None:
        bar.update(received)
    failures = 0
    with open(path, "rb") as f:
        while received < size:
            f.seek(received)
            data = f.read(part_bytes)
            try:
                response = http.client.put(
                    f"/api/runs/{run_id}/files/{name}",
                    params={"offset": received},
                    content=data,
                    headers={
                        "X-Part-SHA256": hashlib.sha256(data).hexdigest(),
                        "Content-Type": "application/octet-stream",
                    },
                )
                if response.status_code == 409:
                    body = response.json().get("error", {})
                    if body.get("code") == "bad_offset":
                        received = int(body["details"]["received"])
                        continue
                raise_for_response(response)
                now = int(response.json()["received"])
                if bar is not None:
                    bar.update(now - received)
                received = now
                failures = 0
                if stats is not None:
                    stats["parts"] = stats.get("parts", 0) + 1
            except (httpx.TransportError, ServicesError) as exc:
                if isinstance(exc, ServicesError) and (exc.status or 0) < 500:
                    raise
                failures += 1
                if stats is not None:
                    stats["retries"] = stats.get("retries", 0) + 1
                if failures > MAX_FAILURES:
                    raise ServicesError(
                        f"the upload of {name} failed {failures} times in a row ({exc}); run finish() again to resume",
                        code="upload_failed",
                    ) from exc
                time.sleep(min(0.2 * 2**failures, 5.0))
                try:
                    before = received
                    received = _received(http, run_id)[name]
                    if bar is not None:
                        bar.update(received - before)
                except (httpx.TransportError, ServicesError):
                    continue


def upload_bundle(run, folder: Path, *, progress: bool = True) -> tuple[dict, dict]:
    """Create the run on the server, upload every file, complete it; returns (run, job)."""
    files = sorted(folder.iterdir())
    payload = {
        "project": run.project,
        "run_name": run.run_name,
        "task_type": run.task_type,
        "labels": run.labels,
        "files": [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in files],
        "options": run.options,
    }
    created = run.http.json("POST", "/api/runs", json=payload)
    run.uploaded_run = created
    part = min(run.part_bytes, int(created["part_bytes"]))
    total = sum(p.stat().st_size for p in files)
    bar = progress_bar(total, "upload", progress, bytes=True)
    run.upload_stats = {}
    have = {f["name"]: f["received"] for f in created["files"]}
    try:
        for path in files:
            upload_file(
                run.http,
                created["run_id"],
                path,
                part_bytes=part,
                received=have[path.name],
                bar=bar,
                stats=run.upload_stats,
            )
    finally:
        if bar is not None:
            bar.close()
    job = run.http.json("POST", f"/api/runs/{created['run_id']}/complete")
    return created, job


def resume(run) -> tuple[dict, dict]:
    """Upload what is left of an interrupted `finish()` of ``run`` and complete it."""
    created = run.uploaded_run
    for path in sorted((run.dir / "bundle").iterdir()):
        upload_file(run.http, created["run_id"], path, part_bytes=run.part_bytes, stats=run.upload_stats)
    job = run.http.json("POST", f"/api/runs/{created['run_id']}/complete")
    return created, job
