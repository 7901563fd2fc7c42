"""Run a pipeline with `dvc repro`, and check its metrics against the model tests.

DVC runs as a subprocess (``python -m dvc`` of this interpreter) in its own
process group, so a time limit or a cancelled job stops the whole stage tree.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import ServiceError
from .definitions import (
    SERVICES_DIR,
    ModelTestSpec,
    Pipeline,
    apply_overrides,
    load_pipeline,
    lookup_metric,
    read_metrics,
    read_params,
)

_RUNNING = re.compile(r"Running stage '([^']+)'")
_SKIPPED = re.compile(r"Stage '([^']+)' didn't change, skipping")


@dataclass
class ReproResult:
    returncode: int
    seconds: float
    stages_run: list[str] = field(default_factory=list)
    stages_skipped: list[str] = field(default_factory=list)
    output: str = ""
    timed_out: bool = False


def dvc_env() -> dict[str, str]:
    """The environment for DVC and its stages: this interpreter first on PATH (stage commands say `python`)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("SERVICES_DIR", str(SERVICES_DIR))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def dvc(*args: str, cwd: Path, timeout: float | None = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """A short DVC command (init, status, push...) that must succeed."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=cwd,
        env=env or dvc_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise ServiceError(
            f"`dvc {' '.join(args)}` failed: {(proc.stderr or proc.stdout).strip()[-2000:]}",
            code="dvc_failed",
            status=503,
        )
    return proc


def repro(
    pipeline_dir: Path,
    *,
    stages: list[str] | None = None,
    force: bool = False,
    timeout: float | None = None,
    on_line: Callable[[str], None] | None = None,
    check_cancelled: Callable[[], None] | None = None,
    env: dict | None = None,
) -> ReproResult:
    """`dvc repro [stages]` in `pipeline_dir`; stops it (and its stages) on time-out or cancellation."""
    cmd = [sys.executable, "-m", "dvc", "repro", *(["--force"] if force else []), *(stages or [])]
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=pipeline_dir,
        env=env or dvc_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    result = ReproResult(returncode=-1, seconds=0.0)

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            if m := _RUNNING.search(line):
                result.stages_run.append(m.group(1))
            elif m := _SKIPPED.search(line):
                result.stages_skipped.append(m.group(1))
            if on_line:
                on_line(line)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        while proc.poll() is None:
            if timeout is not None and time.monotonic() - started > timeout:
                result.timed_out = True
                _stop(proc)
                break
            if check_cancelled:
                check_cancelled()
            time.sleep(0.2)
    except BaseException:
        _stop(proc)
        raise
    finally:
        t.join(timeout=10)
    result.returncode = proc.wait()
    result.seconds = time.monotonic() - started
    result.output = "\n".join(lines)
    return result


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# --- a private working copy (for runs from the API) -----------------------------------------------------------
def prepare_workspace(pipeline: Pipeline, workspace: Path, *, overrides: dict[str, Any] | None = None) -> Path:
    """Mirror the pipeline into `workspace` and write its params.yaml with the overrides applied.

    The layout copies the repository's (``Services/DVC/<name>``, with
    ``Services/services_app`` linked to the installed code) so stage paths such
    as ``../../services_app/...`` mean the same thing. What the stages produced
    earlier stays, so DVC reruns only what changed, and its run cache restores
    results of parameters seen before without recomputing them.
    Returns the pipeline folder inside the workspace."""
    workspace.mkdir(parents=True, exist_ok=True)
    services = workspace / "Services"
    target = services / "DVC" / pipeline.name
    target.mkdir(parents=True, exist_ok=True)
    link = services / "services_app"
    if not link.exists():
        link.symlink_to(SERVICES_DIR / "services_app", target_is_directory=True)
    produced = {Path(p) for p in pipeline.produced}

    def ignore(folder: str, names: list[str]) -> list[str]:
        rel_folder = Path(folder).relative_to(pipeline.path)
        skipped = []
        for n in names:
            rel = rel_folder / n
            if n in ("__pycache__", "dvc.lock", ".gitignore", "params.yaml") or rel in produced:
                skipped.append(n)
        return skipped

    shutil.copytree(pipeline.path, target, ignore=ignore, dirs_exist_ok=True)
    params = apply_overrides(read_params(pipeline.path), overrides or {})
    (target / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (workspace / ".dvc").is_dir():
        dvc("init", "--no-scm", "-q", cwd=workspace)
    # Python writes byte code beside imported modules: it must not count as a changed dependency.
    (workspace / ".dvcignore").write_text("**/__pycache__/\n*.pyc\n")
    return target


@contextlib.contextmanager
def workspace_lock(path: Path, *, on_wait: Callable[[], None] | None = None, poll: float = 1.0):
    """One run at a time per workspace (across processes and machines sharing the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait:
                    on_wait()
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --- model tests ----------------------------------------------------------------------------------------------------
@dataclass
class Check:
    metric: str
    value: float | None
    min: float | None
    max: float | None
    passed: bool
    message: str = ""


@dataclass
class PipelineResult:
    pipeline: str
    checks: list[Check] = field(default_factory=list)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    stages_run: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and all(c.passed for c in self.checks)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def check_metrics(metrics: dict[str, dict[str, Any]], spec: ModelTestSpec | None) -> list[Check]:
    checks = []
    for t in spec.thresholds if spec else []:
        try:
            value = lookup_metric(metrics, t.metric)
        except KeyError:
            checks.append(Check(t.metric, None, t.min, t.max, False, "metric missing: did the pipeline run?"))
            continue
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            checks.append(Check(t.metric, None, t.min, t.max, False, f"not a number: {value!r}"))
            continue
        problems = []
        if t.min is not None and value < t.min:
            problems.append(f"below the minimum {t.min}")
        if t.max is not None and value > t.max:
            problems.append(f"above the maximum {t.max}")
        checks.append(Check(t.metric, float(value), t.min, t.max, not problems, "; ".join(problems)))
    return checks


def evaluate_pipeline(pipeline: Pipeline, spec: ModelTestSpec | None, *, base: Path | None = None) -> PipelineResult:
    """Read a pipeline's metrics (from `base`, its folder by default) and check them."""
    metrics = read_metrics(pipeline, base=base)
    return PipelineResult(
        pipeline=pipeline.name,
        checks=check_metrics(metrics, spec),
        metrics=metrics,
        params=read_params(base or pipeline.path),
    )


def run_model_tests(
    *,
    config,
    names: list[str] | None = None,
    root: Path | None = None,
    reproduce: bool = True,
    time_limit: float | None = None,
    on_line: Callable[[str], None] | None = None,
    on_start: Callable[[str], None] | None = None,
) -> list[PipelineResult]:
    """Reproduce each pipeline in place (unless `reproduce` is False) and check its metrics.

    `time_limit` (or the config's) bounds the whole run; a pipeline's own
    limit bounds it alone. A pipeline that runs out of time fails its tests."""
    names = names or list(config.pipelines)
    unknown = [n for n in names if n not in config.pipelines]
    if unknown:
        raise ServiceError(
            f"no model tests for {unknown}; model_tests.yaml lists {sorted(config.pipelines)}", code="unknown_pipeline"
        )
    overall = time_limit if time_limit is not None else config.time_limit_seconds
    deadline = time.monotonic() + overall if overall else None
    results = []
    for name in names:
        spec = config.pipelines[name]
        pipeline = load_pipeline(name, root=root)
        if on_start:
            on_start(name)
        if not reproduce:
            results.append(evaluate_pipeline(pipeline, spec))
            continue
        limits = [x for x in (spec.time_limit_seconds, (deadline - time.monotonic()) if deadline else None) if x]
        limit = min(limits) if limits else None
        if limit is not None and limit <= 0:
            results.append(PipelineResult(pipeline=name, error="time limit: no time left for this pipeline"))
            continue
        r = repro(pipeline.path, timeout=limit, on_line=on_line)
        res = evaluate_pipeline(pipeline, spec)
        res.seconds, res.stages_run = round(r.seconds, 1), r.stages_run
        if r.timed_out:
            res.error = f"time limit: dvc repro ran longer than {limit:.0f} s and was stopped"
        elif r.returncode != 0:
            res.error = f"dvc repro failed (exit {r.returncode}): {r.output.strip()[-1500:]}"
        results.append(res)
    return results


def format_table(results: list[PipelineResult]) -> str:
    """A plain-text table for the terminal."""
    rows = [("pipeline", "metric", "value", "threshold", "status")]
    for r in results:
        for c in r.checks:
            rows.append((r.pipeline, c.metric, _num(c.value), _bounds(c.min, c.max), "ok" if c.passed else "FAIL"))
        if r.error:
            rows.append((r.pipeline, "(run)", "-", "-", "FAIL: " + r.error.splitlines()[0][:80]))
        elif not r.checks:
            rows.append((r.pipeline, "(no thresholds)", "-", "-", "ok"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _bounds(lo: float | None, hi: float | None) -> str:
    parts = []
    if lo is not None:
        parts.append(f">= {lo}")
    if hi is not None:
        parts.append(f"<= {hi}")
    return ", ".join(parts) or "-"
