import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from services_app.capabilities.pipelines.definitions import (
    SERVICES_DIR,
    apply_overrides,
    list_pipeline_names,
    load_model_tests,
    load_pipeline,
    lookup_metric,
)
from services_app.capabilities.pipelines.runner import check_metrics, evaluate_pipeline, format_table
from services_app.errors import NotFound, ServiceError


def test_shipped_pipelines_are_listed_with_their_stages():
    assert {"text_classification", "regression"} <= set(list_pipeline_names())
    tc = load_pipeline("text_classification")
    assert [s.name for s in tc.stages] == ["prepare", "featurize", "train", "evaluate", "robustness"]
    for s in tc.stages:  # every stage depends on its own script
        assert s.cmd.split()[-1] in s.deps
    assert tc.stage("featurize").gpu
    assert "../../services_app/capabilities/transforms" in tc.stage("prepare").deps
    reg = load_pipeline("regression")
    assert {"train@linear", "train@lasso"} <= {s.name for s in reg.stages}
    assert reg.metrics_files == ["metrics/regression.json"]


def test_unknown_pipeline_and_stage():
    with pytest.raises(NotFound, match="no pipeline named"):
        load_pipeline("nope")
    with pytest.raises(ServiceError, match="has no stage"):
        load_pipeline("regression").stage("fly")
    with pytest.raises(ServiceError) as err:
        load_pipeline("../etc")
    assert (err.value.status, err.value.code) == (400, "invalid_pipeline") and "not valid" in err.value.message


def test_overrides_must_name_existing_params():
    params = {"train": {"C": 1.0, "model": "lr"}, "seed": 1}
    out = apply_overrides(params, {"train.C": 2.5, "seed": 3})
    assert out == {"train": {"C": 2.5, "model": "lr"}, "seed": 3}
    assert params["train"]["C"] == 1.0
    assert apply_overrides(params, {"train": {"model": "svc"}})["train"]["model"] == "svc"
    with pytest.raises(ServiceError, match="unknown parameter 'train.c'"):
        apply_overrides(params, {"train.c": 2})
    with pytest.raises(ServiceError, match="must be a number"):
        apply_overrides(params, {"train.C": "big"})


def test_shipped_model_tests_file():
    cfg = load_model_tests()
    assert set(cfg.pipelines) == {"text_classification", "regression"}
    tc = cfg.pipelines["text_classification"]
    assert {t.metric for t in tc.thresholds} >= {"accuracy", "macro_f1", "accuracy_drop"}
    assert any(t.metric == "accuracy_drop" and t.max is not None for t in tc.thresholds)
    assert cfg.time_limit_seconds and tc.time_limit_seconds


def test_checks_pass_and_fail_on_thresholds(tmp_path):
    metrics = {"metrics/a.json": {"accuracy": 0.9, "drop": 0.2}, "metrics/b.json": {"accuracy": 0.5}}
    cfg_file = tmp_path / "mt.yaml"
    cfg_file.write_text(
        yaml.safe_dump(
            {
                "pipelines": {
                    "p": {"metrics": {"metrics/a.json:accuracy": {"min": 0.95}, "drop": {"max": 0.3}, "gone": 1}}
                }
            }
        )
    )
    checks = check_metrics(metrics, load_model_tests(cfg_file).pipelines["p"])
    by = {c.metric: c for c in checks}
    assert not by["metrics/a.json:accuracy"].passed and "below the minimum" in by["metrics/a.json:accuracy"].message
    assert by["drop"].passed
    assert not by["gone"].passed and "missing" in by["gone"].message
    with pytest.raises(ServiceError, match="several files"):
        lookup_metric(metrics, "accuracy")


def test_bad_model_tests_file_is_explained(tmp_path):
    f = tmp_path / "mt.yaml"
    f.write_text("pipelines:\n  p:\n    metrics:\n      accuracy: {least: 1}\n")
    with pytest.raises(ServiceError, match="needs 'min' and/or 'max'"):
        load_model_tests(f)


def test_committed_metrics_meet_the_model_tests():
    cfg = load_model_tests()
    results = [evaluate_pipeline(load_pipeline(n), cfg.pipelines[n]) for n in cfg.pipelines]
    table = format_table(results)
    assert all(r.passed for r in results), table
    assert "accuracy_drop" in table and "lasso.r2" in table


def _manage(*args, cwd=SERVICES_DIR, env=None):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_run_model_tests_command_fails_when_a_threshold_is_raised(tmp_path):
    cfg = yaml.safe_load((SERVICES_DIR / "DVC" / "model_tests.yaml").read_text())
    ok = _manage("run_model_tests", "--no-repro", "--json", str(tmp_path / "ok.json"))
    assert ok.returncode == 0, ok.stderr
    assert "text_classification" in ok.stdout and "ok" in ok.stdout
    cfg["pipelines"]["text_classification"]["metrics"]["accuracy"] = {"min": 0.9999}
    (tmp_path / "strict.yaml").write_text(yaml.safe_dump(cfg))
    bad = _manage(
        "run_model_tests", "--no-repro", "--config", str(tmp_path / "strict.yaml"), "--json", str(tmp_path / "bad.json")
    )
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "model tests failed for: text_classification" in bad.stderr
    results = {r["pipeline"]: r for r in json.loads((tmp_path / "bad.json").read_text())}
    assert results["text_classification"]["passed"] is False and results["regression"]["passed"] is True


def test_render_report_has_the_metrics_table(tmp_path):
    out = tmp_path / "report.md"
    proc = _manage("render_report", "--output", str(out), "--baseline", "HEAD")
    assert proc.returncode == 0, proc.stderr
    md = out.read_text()
    assert md.startswith("# ✅ Model report")
    assert "## ✅ `text_classification`" in md and "## ✅ `regression`" in md
    assert "| metric | value | threshold | HEAD | change | |" in md
    assert "| `accuracy` |" in md and "| `lasso.r2` |" in md
    assert "![confusion matrix](" in md and "![predicted vs actual](" in md
    for link in [line.split("](")[1].rstrip(")") for line in md.splitlines() if line.startswith("![")]:
        assert (out.parent / link).resolve().is_file()


def test_actionlint_passes_on_every_workflow():
    repo = SERVICES_DIR.parent
    workflows = sorted((repo / ".github" / "workflows").glob("*.yaml"))
    assert {w.name for w in workflows} >= {"pipeline-text-classification.yaml", "pipeline-regression.yaml", "gpu.yaml"}
    actionlint = Path(sys.executable).parent / "actionlint"
    proc = subprocess.run([str(actionlint), *map(str, workflows)], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pipeline_workflows_trigger_on_their_own_folder():
    repo = SERVICES_DIR.parent
    for slug, name in (("text-classification", "text_classification"), ("regression", "regression")):
        wf = yaml.safe_load((repo / ".github" / "workflows" / f"pipeline-{slug}.yaml").read_text())
        paths = wf[True]["pull_request"]["paths"]  # PyYAML reads the key `on` as True
        assert f"Services/DVC/{name}/**" in paths
        assert not any(p.startswith("Services/DVC/") and name not in p and "model_tests" not in p for p in paths)
        steps = " ".join(str(s.get("run", "")) for s in wf["jobs"]["reproduce"]["steps"])
        assert "dvc repro" in steps and "run_model_tests" in steps and "cml comment create" in steps
        assert "dvc metrics diff main --md" in steps
    gpu = yaml.safe_load((repo / ".github" / "workflows" / "gpu.yaml").read_text())
    job = next(iter(gpu["jobs"].values()))
    assert job["runs-on"] == ["self-hosted", "cml", "gpu"]
    assert any(s.get("run") == "nvidia-smi" for s in job["steps"])
