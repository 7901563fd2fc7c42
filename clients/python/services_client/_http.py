"""The HTTP layer: one httpx client with the API key, typed errors, and job polling with a progress bar."""

from __future__ import annotations

import time
from typing import Any

import httpx

from .errors import JobFailed, raise_for_response

FINISHED = ("succeeded", "failed", "cancelled")


def progress_bar(total: float, desc: str, enabled: bool, *, bytes: bool = False):
    """tqdm's notebook bar inside Jupyter, its terminal bar elsewhere (``tqdm.auto``); None without tqdm."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    if bytes:
        return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024)
    return tqdm(total=total, desc=desc, unit="%", bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}% {postfix}")


class Http:
    def __init__(self, url: str, api_key: str, *, timeout: float = 60.0, transport: httpx.BaseTransport | None = None):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {url!r})")
        self.url = url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.url, headers={"X-API-Key": api_key}, timeout=timeout, transport=transport
        )

    def request(self, method: str, path: str, **kw) -> httpx.Response:
        response = self.client.request(method, path, **kw)
        raise_for_response(response)
        return response

    def json(self, method: str, path: str, **kw) -> Any:
        return self.request(method, path, **kw).json()

    def wait(self, job: dict, *, progress: bool = True, poll: float = 0.5, timeout: float | None = None) -> dict:
        """Poll ``GET /api/jobs/{id}`` until the job ends; return it, or raise `JobFailed`."""
        bar = progress_bar(100, job.get("kind", "job"), progress and job.get("status") not in FINISHED)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while job.get("status") not in FINISHED:
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {job['id']} still {job['status']} after {timeout} s")
                time.sleep(poll)
                job = self.json("GET", f"/api/jobs/{job['id']}")
                if bar is not None:
                    bar.n = round(100 * float(job.get("progress") or 0), 1)
                    bar.set_postfix_str(job.get("progress_message", "")[:50], refresh=False)
                    bar.refresh()
        finally:
            if bar is not None:
                bar.close()
        if job["status"] != "succeeded":
            raise JobFailed(job)
        return job

    def close(self) -> None:
        self.client.close()
