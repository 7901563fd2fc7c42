"""Demo job kinds: they exercise the job machinery (progress, errors,
cancellation, lost workers) without doing real work."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from pydantic import Field

from ..errors import ServiceError
from ..jobs.context import JobContext
from ..params import RequestModel


class DemoRequest(RequestModel):
    """A job that sleeps in steps, reporting progress; with ``fail`` it ends failed."""

    seconds: float = Field(1.0, ge=0, le=600, description="How long the job runs")
    steps: int = Field(10, ge=1, le=1000, description="How many progress reports it makes")
    message: str = Field("", max_length=200)
    fail: bool = Field(False, description="End with a structured error instead")
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    model_config = {"json_schema_extra": {"examples": [{"seconds": 5, "steps": 5, "message": "hello"}]}}

    @property
    def kind(self) -> str:
        return "demo.fail" if self.fail else "demo.sleep"

    def job_params(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"force", "fail"})


def sleep(ctx: JobContext, params: dict) -> dict:
    p = DemoRequest.from_params(params)
    for i in range(p.steps):
        ctx.progress(i / p.steps, f"step {i + 1} of {p.steps}", force=True)
        time.sleep(p.seconds / p.steps)
    ctx.progress(1.0, "done")
    return {"slept_seconds": p.seconds, "steps": p.steps, "message": p.message}


def fail(ctx: JobContext, params: dict) -> dict:
    p = DemoRequest.from_params(params)
    raise ServiceError(p.message or "this job fails on purpose", code="demo_failure", details={"p": 1})


def crash(ctx: JobContext, params: dict) -> dict:
    """Kill the worker process running this job (SIGKILL), to test lost-worker
    recovery. Registered only as a test kind (see ``jobs.registry.TEST_KINDS``)."""
    ctx.progress(0.1, "about to kill the worker process", force=True)
    os.kill(os.getpid(), signal.SIGKILL)
    return {}  # never reached
