"""The CML report: markdown a pull request gets, rendered the same way locally (`make report`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from .definitions import Pipeline, flatten
from .runner import PipelineResult

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".svg", ".gif"}


def read_baseline_metrics(pipeline: Pipeline, *, rev: str, repo_root: Path) -> dict[str, dict[str, Any]] | None:
    """The pipeline's committed metrics at git revision `rev` (e.g. ``main``); None when git has no such revision."""
    out: dict[str, dict[str, Any]] = {}
    found_rev = False
    for rel in pipeline.metrics_files:
        path = (pipeline.path / rel).resolve().relative_to(repo_root.resolve()).as_posix()
        proc = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=repo_root, capture_output=True, text=True, timeout=30
        )
        if proc.returncode != 0:
            if "invalid object name" in proc.stderr or "unknown revision" in proc.stderr:
                return None
            found_rev = True  # the revision exists but not the file: a new metrics file
            continue
        found_rev = True
        data = json.loads(proc.stdout) if rel.endswith(".json") else yaml.safe_load(proc.stdout)
        out[rel] = flatten(data or {})
    return out if found_rev or not pipeline.metrics_files else None


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _delta(new: Any, old: Any) -> str:
    if isinstance(new, (int, float)) and isinstance(old, (int, float)) and not isinstance(new, bool):
        d = new - old
        if abs(d) < 1e-12:
            return "0"
        return f"{d:+.4f}"
    return "" if new == old else "changed"


def _bounds(lo: float | None, hi: float | None) -> str:
    return ", ".join(p for p in (f"≥ {lo}" if lo is not None else "", f"≤ {hi}" if hi is not None else "") if p) or "–"


def render_pipeline(
    pipeline: Pipeline,
    result: PipelineResult,
    *,
    baseline: dict[str, dict[str, Any]] | None = None,
    baseline_rev: str = "main",
    image_base: Path | None = None,
    max_rows: int = 60,
) -> str:
    """One pipeline's section: status, threshold checks, every metric with its change, params, plots."""
    icon = "✅" if result.passed else "❌"
    failed = [c for c in result.checks if not c.passed]
    summary = (
        f"all {len(result.checks)} model tests passed"
        if result.passed
        else f"{len(failed)} of {len(result.checks)} model tests failed" + (f"; {result.error}" if result.error else "")
    )
    lines = [f"## {icon} `{pipeline.name}`: {summary}", ""]
    facts = []
    if result.seconds is not None:
        facts.append(f"ran in {result.seconds:.0f} s")
    if result.stages_run:
        facts.append("stages run: " + ", ".join(f"`{s}`" for s in result.stages_run))
    if facts:
        lines += ["_" + "; ".join(facts) + "_", ""]
    if pipeline.description:
        lines += [pipeline.description, ""]

    if result.checks:
        has_base = baseline is not None
        lines += [
            "### Model tests",
            "",
            f"| metric | value | threshold | {baseline_rev} | change | |"
            if has_base
            else "| metric | value | threshold | |",
            "|---|---:|---|---:|---:|---|" if has_base else "|---|---:|---|---|",
        ]
        for c in result.checks:
            status = "✅" if c.passed else "❌ " + c.message
            if has_base:
                old = _baseline_value(baseline, c.metric)
                cells = f"{_fmt(old)} | {_delta(c.value, old)} | "
            else:
                cells = ""
            lines.append(f"| `{c.metric}` | {_fmt(c.value)} | {_bounds(c.min, c.max)} | {cells}{status} |")
        lines.append("")

    lines += ["### Metrics", ""]
    if not result.metrics:
        lines += ["_No metrics yet: run `dvc repro` in the pipeline folder._", ""]
    else:
        header = (
            f"| file | metric | value | {baseline_rev} | change |"
            if baseline is not None
            else "| file | metric | value |"
        )
        lines += [header, "|---|---|---:|---:|---:|" if baseline is not None else "|---|---|---:|"]
        rows = 0
        for path, values in result.metrics.items():
            for key, value in values.items():
                if rows >= max_rows:
                    break
                rows += 1
                if baseline is not None:
                    old = (baseline.get(path) or {}).get(key)
                    lines.append(f"| {path} | `{key}` | {_fmt(value)} | {_fmt(old)} | {_delta(value, old)} |")
                else:
                    lines.append(f"| {path} | `{key}` | {_fmt(value)} |")
        total = sum(len(v) for v in result.metrics.values())
        if total > rows:
            lines.append(f"| … | {total - rows} more | | |")
        lines.append("")

    if result.params:
        lines += ["<details><summary>Parameters</summary>", "", "| param | value |", "|---|---|"]
        lines += [f"| `{k}` | `{v}` |" for k, v in flatten(result.params).items()]
        lines += ["", "</details>", ""]

    images = [p for p in pipeline.plot_files if Path(p).suffix.lower() in _IMAGE_SUFFIXES]
    shown = [p for p in images if (pipeline.path / p).is_file()]
    if shown:
        lines += ["### Plots", ""]
        base = (image_base or pipeline.path).resolve()
        for p in shown:
            rel = os.path.relpath((pipeline.path / p).resolve(), base)
            lines += [f"![{Path(p).stem.replace('_', ' ')}]({Path(rel).as_posix()})", ""]
    if result.error:
        lines += [
            "<details><summary>Run output</summary>",
            "",
            "```",
            result.error[-3000:],
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines)


def _baseline_value(baseline: dict | None, metric: str) -> Any:
    if not baseline:
        return None
    if ":" in metric:
        path, _, key = metric.partition(":")
        return (baseline.get(path) or {}).get(key)
    for values in baseline.values():
        if metric in values:
            return values[metric]
    return None


def render_report(sections: list[str], *, title: str = "Model report") -> str:
    ok = all("## ✅" in s for s in sections)
    head = f"# {'✅' if ok else '❌'} {title}\n"
    return head + "\n" + "\n".join(sections).rstrip() + "\n"
