"""`dvc repro` of the shipped pipelines in a temporary git repository."""

import json
import subprocess
import sys

import pytest
import yaml

from services_app.capabilities.pipelines.definitions import load_model_tests, load_pipeline
from services_app.capabilities.pipelines.runner import dvc, dvc_env, repro, run_model_tests

pytestmark = pytest.mark.slow


def _set_param(folder, key, value):
    params = yaml.safe_load((folder / "params.yaml").read_text())
    *path, last = key.split(".")
    cur = params
    for p in path:
        cur = cur[p]
    cur[last] = value
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _status_clean(folder) -> bool:
    out = dvc("status", "--json", cwd=folder).stdout
    return json.loads(out or "{}") == {}


def test_text_classification_repro_rerun_and_param_change(pipeline_repo):
    root = pipeline_repo("text_classification")
    folder = root / "Services" / "DVC" / "text_classification"
    first = repro(folder, timeout=600)
    assert first.returncode == 0, first.output
    assert first.stages_run == ["prepare", "featurize", "train", "evaluate", "robustness"]
    metrics = json.loads((folder / "metrics" / "evaluate.json").read_text())
    assert metrics["accuracy"] > 0.85 and set(metrics["per_class"]) == {"environmental", "social", "governance", "none"}
    assert (folder / "metrics" / "confusion_matrix.png").stat().st_size > 1000
    rob = json.loads((folder / "metrics" / "robustness.json").read_text())
    assert set(rob["operations"]) == {"typos", "casing", "punctuation", "word_drop"}
    assert rob["accuracy_drop"] == pytest.approx(rob["clean_accuracy"] - rob["perturbed_accuracy"], abs=1e-3)
    assert (folder / "data" / "prepared" / "manifest.json").is_file()  # written by the platform's transform
    assert _status_clean(folder)

    second = repro(folder)
    assert second.returncode == 0 and second.stages_run == []
    assert set(second.stages_skipped) == {"prepare", "featurize", "train", "evaluate", "robustness"}

    _set_param(folder, "robustness.rate", 0.3)
    third = repro(folder)
    assert third.stages_run == ["robustness"]

    _set_param(folder, "train.C", 1.0)
    fourth = repro(folder)
    assert fourth.stages_run == ["train", "evaluate", "robustness"]
    assert _status_clean(folder)

    # the model tests read what the pipeline wrote; raising a threshold beyond it fails them
    cfg = load_model_tests(root / "Services" / "DVC" / "model_tests.yaml")
    results = run_model_tests(config=cfg, names=["text_classification"], root=folder.parent, reproduce=True)
    assert results[0].passed and results[0].stages_run == []
    cfg.pipelines["text_classification"].thresholds[0].min = 0.9999
    results = run_model_tests(config=cfg, names=["text_classification"], root=folder.parent, reproduce=False)
    assert not results[0].passed


def test_regression_repro_and_remote_push_pull(pipeline_repo, tmp_path):
    root = pipeline_repo("regression")
    folder = root / "Services" / "DVC" / "regression"
    first = repro(folder, timeout=300)
    assert first.returncode == 0, first.output
    assert set(first.stages_run) == {"generate", "train@linear", "train@lasso", "evaluate"}
    metrics = json.loads((folder / "metrics" / "regression.json").read_text())
    assert {"linear", "lasso", "best_model"} <= set(metrics)
    assert metrics["lasso"]["nonzero_coefficients"] < metrics["linear"]["nonzero_coefficients"]
    assert repro(folder).stages_run == []
    _set_param(folder, "models.lasso.alpha", 0.05)
    assert repro(folder).stages_run == ["train@lasso", "evaluate"]

    # push to a (local) remote, lose the cache and the outputs, pull them back
    remote = tmp_path / "remote"
    dvc("remote", "add", "-d", "local", str(remote), cwd=root)
    dvc("push", cwd=folder)
    assert any(remote.rglob("*"))
    import shutil

    shutil.rmtree(root / ".dvc" / "cache")
    (folder / "data" / "train.csv").unlink()
    (folder / "models" / "lasso.joblib").unlink()
    dvc("pull", cwd=folder)
    assert (folder / "data" / "train.csv").is_file() and (folder / "models" / "lasso.joblib").is_file()
    assert _status_clean(folder)


def test_time_limit_stops_the_run(pipeline_repo):
    root = pipeline_repo("regression")
    folder = root / "Services" / "DVC" / "regression"
    cfg = load_model_tests(root / "Services" / "DVC" / "model_tests.yaml")
    results = run_model_tests(config=cfg, names=["regression"], root=folder.parent, time_limit=0.5)
    assert not results[0].passed and results[0].error.startswith("time limit")
    assert subprocess.run([sys.executable, "-c", "pass"], env=dvc_env()).returncode == 0
    assert load_pipeline("regression", root=folder.parent).name == "regression"
