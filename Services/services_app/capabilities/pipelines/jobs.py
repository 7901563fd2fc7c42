"""The `pipelines.run` job: run a DVC pipeline in a private working copy and keep its metrics.

Each pipeline has one workspace under ``<data root>/pipelines/<name>/workspace``
(reused, so DVC skips stages whose inputs did not change, and its run cache
restores results of parameters seen before). A run writes
``<data root>/pipelines/<name>/runs/<job id>/`` (params, metrics, plots,
report.md, run.json) and points ``latest.json`` at it.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from ...errors import ServiceError
from ...jobs.context import JobContext
from ...storage import Storage
from .definitions import Pipeline, load_model_tests, load_pipeline, read_params
from .report import render_pipeline, render_report
from .request import PipelineRun
from .runner import evaluate_pipeline, prepare_workspace, repro, workspace_lock

DEFAULT_TIME_LIMIT = 3600


def pipeline_home(data_root: Path, name: str) -> Path:
    return Path(data_root) / "pipelines" / name


def validate_run(run: PipelineRun) -> tuple[Pipeline, list[str], dict]:
    """Check a run request before it is queued: the pipeline, its stages and the parameter overrides."""
    from .definitions import apply_overrides

    pipeline = load_pipeline(run.pipeline)
    for s in run.stages:
        pipeline.stage(s)
    apply_overrides(read_params(pipeline.path), run.params)
    return pipeline, list(run.stages), run.params


def needs_gpu(pipeline: Pipeline, stages: list[str]) -> bool:
    """Whether a run includes a stage marked ``meta: {gpu: true}`` (then it goes to the gpu queue)."""
    chosen = stages or [s.name for s in pipeline.stages]
    return any(pipeline.stage(s).gpu for s in chosen)


def latest_run(storage: Storage, name: str) -> dict | None:
    """The summary of a pipeline's latest run in ``storage`` (a workspace), or None."""
    f = storage.hydrate(pipeline_home(storage.data_root, name) / "latest.json")
    try:
        return json.loads(f.read_text())
    except (FileNotFoundError, ValueError):
        return None


def run_pipeline(ctx: JobContext, params: dict) -> dict:
    """Params: ``pipeline`` (name), ``params`` (overrides, dotted keys), ``stages`` (default: all),
    ``force`` (rerun even unchanged stages), ``time_limit_seconds``, ``require_pass`` (fail the job
    when a model test fails)."""
    run = PipelineRun.from_params(params)
    pipeline, stages, overrides = validate_run(run)
    storage = ctx.storage
    home = pipeline_home(storage.data_root, pipeline.name)
    time_limit = float(run.time_limit_seconds or DEFAULT_TIME_LIMIT)
    started_at = datetime.now(UTC)
    lines: list[str] = []
    total = max(1, len(stages or pipeline.stages))

    def on_line(line: str) -> None:
        lines.append(line)
        if line.startswith("Running stage") or "didn't change, skipping" in line:
            done = sum(1 for x in lines if x.startswith("Running stage") or "didn't change, skipping" in x)
            ctx.progress(0.05 + 0.85 * (done - 1) / total, line.strip().rstrip(":"))

    waiting = {"since": time.monotonic()}

    def on_wait() -> None:
        ctx.progress(0.01, "waiting for another run of this pipeline to finish")
        if time.monotonic() - waiting["since"] > time_limit:
            raise ServiceError("another run of this pipeline held the workspace too long", code="busy", status=409)

    with workspace_lock(home / "workspace.lock", on_wait=on_wait):
        ctx.progress(0.02, "preparing the workspace", force=True)
        work = prepare_workspace(pipeline, home / "workspace", overrides=overrides)
        r = repro(
            work,
            stages=stages,
            force=run.force,
            timeout=time_limit,
            on_line=on_line,
            check_cancelled=ctx.check_cancelled,
        )
        if r.timed_out:
            raise ServiceError(
                f"the pipeline ran longer than {time_limit:.0f} s and was stopped",
                code="time_limit",
                details={"output": r.output[-4000:]},
            )
        if r.returncode != 0:
            raise ServiceError(
                f"dvc repro of {pipeline.name} failed (exit {r.returncode}); see details.output",
                code="pipeline_failed",
                details={"output": r.output[-4000:], "stages_run": r.stages_run},
            )
        ctx.progress(0.92, "reading metrics")
        try:
            spec = load_model_tests().pipelines.get(pipeline.name)
        except ServiceError:
            spec = None
        work_pipeline = load_pipeline(pipeline.name, root=work.parent)
        result = evaluate_pipeline(work_pipeline, spec)
        result.seconds, result.stages_run = round(r.seconds, 1), r.stages_run
        run_dir = home / "runs" / ctx.job_id
        with storage.atomic_dir(run_dir) as tmp:
            for rel in work_pipeline.metrics_files + work_pipeline.plot_files:
                src = work / rel
                if src.is_file():
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, tmp / rel)
            (tmp / "params.yaml").write_text(yaml.safe_dump(result.params, sort_keys=False))
            (tmp / "dvc.lock").write_bytes((work / "dvc.lock").read_bytes()) if (work / "dvc.lock").exists() else None
            report = render_report(
                [render_pipeline(work_pipeline, result, image_base=work)], title=f"Pipeline run {pipeline.name}"
            )
            (tmp / "report.md").write_text(report)
            summary = {
                "pipeline": pipeline.name,
                "job_id": ctx.job_id,
                "started_at": started_at.isoformat(),
                "finished_at": datetime.now(UTC).isoformat(),
                "seconds": result.seconds,
                "params_overrides": overrides,
                "stages": stages,
                "stages_run": r.stages_run,
                "stages_skipped": r.stages_skipped,
                "metrics": result.metrics,
                "checks": [c.__dict__ for c in result.checks],
                "passed": result.passed,
                "location": storage.relative(run_dir),
            }
            (tmp / "run.json").write_text(json.dumps(summary, indent=2))
        with storage.atomic_file(home / "latest.json") as tmp_latest:
            tmp_latest.write_text(json.dumps(summary, indent=2))
    ctx.add_output(storage.relative(run_dir))
    if run.require_pass and not result.passed:
        failed = [c.metric for c in result.checks if not c.passed]
        raise ServiceError(
            f"the pipeline ran but failed its model tests: {', '.join(failed)}",
            code="model_tests_failed",
            details={"checks": summary["checks"], "location": summary["location"]},
        )
    ctx.progress(1.0, "done")
    return {
        k: summary[k]
        for k in ("pipeline", "seconds", "stages_run", "stages_skipped", "metrics", "checks", "passed", "location")
    }
