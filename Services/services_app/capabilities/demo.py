"""Demo job kinds: they exercise the job machinery (progress, errors,
cancellation, lost workers) without doing real work."""

from __future__ import annotations

import os
import signal
import time

from ..errors import ServiceError
from ..jobs.context import JobContext


def sleep(ctx: JobContext, params: dict) -> dict:
    seconds = float(params.get("seconds", 1.0))
    steps = max(1, int(params.get("steps", 10)))
    for i in range(steps):
        ctx.progress(i / steps, f"step {i + 1} of {steps}", force=True)
        time.sleep(seconds / steps)
    ctx.progress(1.0, "done")
    return {"slept_seconds": seconds, "steps": steps, "message": params.get("message", "")}


def fail(ctx: JobContext, params: dict) -> dict:
    raise ServiceError(params.get("message", "this job fails on purpose"), code="demo_failure", details={"p": 1})


def crash(ctx: JobContext, params: dict) -> dict:
    """Kill the worker process running this job (SIGKILL), to test lost-worker
    recovery. Registered only as a test kind (see ``jobs.registry.TEST_KINDS``)."""
    ctx.progress(0.1, "about to kill the worker process", force=True)
    os.kill(os.getpid(), signal.SIGKILL)
    return {}  # never reached
