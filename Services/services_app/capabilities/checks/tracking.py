"""Recording a check run in Weights & Biases (offline by default)."""

from __future__ import annotations

import os
from pathlib import Path


def log_to_wandb(*, summary: dict, run_dir: Path, name: str, project: str | None = None) -> dict:
    """A wandb run with the verdict, per-check metrics and a table of checks.

    Offline (a run folder under ``run_dir``) unless WANDB_API_KEY is set and
    WANDB_MODE is not "offline"; WANDB_MODE=disabled skips it."""
    mode = os.environ.get("WANDB_MODE") or ("online" if os.environ.get("WANDB_API_KEY") else "offline")
    if mode == "online" and not os.environ.get("WANDB_API_KEY"):
        mode = "offline"
    if mode == "disabled":
        return {"mode": "disabled"}
    import wandb

    run_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(
        project=project or os.environ.get("WANDB_PROJECT") or "services-incoming-data-checks",
        name=name,
        dir=str(run_dir),
        mode=mode,
        job_type="incoming-data-check",
        config={k: summary.get(k) for k in ("task", "dataset", "reference", "label", "text", "suites", "max_rows")},
        settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        reinit="create_new",
    )
    try:
        metrics: dict[str, float] = {"passed": float(summary["passed"]), "failed_checks": len(summary["failed_checks"])}
        rows = []
        for check in summary["checks"]:
            metrics[f"checks/{check['id']}/passed"] = float(bool(check["passed"]))
            value = check.get("value") or {}
            for key in ("drift_score", "max_drift_score", "duplicate_ratio", "conflicting_ratio", "ratio"):
                if isinstance(value, dict) and isinstance(value.get(key), int | float):
                    metrics[f"checks/{check['id']}/{key}"] = float(value[key])
            rows.append(
                [
                    check["id"],
                    check["name"],
                    check["stage"],
                    check["status"],
                    "; ".join(c["condition"] for c in check["conditions"]),
                    "; ".join(c["details"] for c in check["conditions"])[:1000],
                ]
            )
        for key, value in (summary.get("rows") or {}).items():
            if isinstance(value, int):
                metrics[f"rows/{key}"] = value
        run.log(metrics)
        for key, value in metrics.items():
            run.summary[key] = value
        run.log({"checks": wandb.Table(columns=["id", "name", "stage", "status", "condition", "details"], data=rows)})
        info = {
            "mode": mode,
            "run_id": run.id,
            "dir": str(Path(run.dir).parent),
            "url": run.url if mode == "online" else None,
        }
    finally:
        run.finish()
    return info
