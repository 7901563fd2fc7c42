"""Submitting a pipeline run: pipeline, stages and overrides checked now, then a Job on the right queue."""

from __future__ import annotations

from ...jobs.services import job_submit_request
from .definitions import source_digest
from .jobs import needs_gpu, validate_run
from .request import PipelineRun, PipelineRunRequest


def pipeline_run_submit(
    *, owner, name: str, request: PipelineRunRequest, workspace=None, time_limit: int | None = None
):
    """Create (or reuse) the run's job; returns ``(job, created)``. A run with a GPU stage goes to ``gpu``.

    An identical request (same overrides, same pipeline files) returns the earlier job unless ``force``."""
    run = PipelineRun(pipeline=name, **request.model_dump())
    pipeline, stages, _ = validate_run(run)
    kind = "pipelines.run_gpu" if needs_gpu(pipeline, stages) else "pipelines.run"
    inputs = [{"location": f"pipeline:{name}", "sha256": source_digest(pipeline)}]
    return job_submit_request(
        owner=owner, kind=kind, request=run, inputs=inputs, workspace=workspace, time_limit=time_limit
    )
