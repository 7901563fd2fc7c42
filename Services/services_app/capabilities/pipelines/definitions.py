"""What a pipeline is, read from its folder: stages, params, metrics, thresholds.

A pipeline is a folder under the pipelines root (``Services/DVC/`` in the
repository, ``SERVICES_PIPELINES_DIR`` to point elsewhere) holding a
``dvc.yaml``. Reading a pipeline never runs DVC: listing pipelines in the API
must stay cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...errors import NotFound, ServiceError

SERVICES_DIR = Path(__file__).resolve().parents[3]
MODEL_TESTS_FILE = "model_tests.yaml"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")


def pipelines_root() -> Path:
    return Path(os.environ.get("SERVICES_PIPELINES_DIR") or SERVICES_DIR / "DVC").resolve()


@dataclass
class Stage:
    name: str
    cmd: str
    deps: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    plots: list[str] = field(default_factory=list)
    gpu: bool = False
    desc: str = ""


@dataclass
class Pipeline:
    name: str
    path: Path
    stages: list[Stage]
    description: str = ""

    @property
    def metrics_files(self) -> list[str]:
        return [m for s in self.stages for m in s.metrics]

    @property
    def plot_files(self) -> list[str]:
        return [p for s in self.stages for p in s.plots]

    @property
    def produced(self) -> list[str]:
        """Every path a stage writes (relative to the pipeline folder)."""
        return [p for s in self.stages for p in (*s.outs, *s.metrics, *s.plots)]

    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise ServiceError(
            f"pipeline {self.name!r} has no stage {name!r}; stages: {[s.name for s in self.stages]}",
            code="unknown_stage",
            details={"stages": [s.name for s in self.stages]},
        )


def _paths(entries: list | None) -> list[str]:
    out = []
    for e in entries or []:
        out.extend(e.keys() if isinstance(e, dict) else [e])
    return [str(p) for p in out]


def _param_names(entries: list | None) -> list[str]:
    out: list[str] = []
    for e in entries or []:
        if isinstance(e, dict):  # {other_params_file.yaml: [keys]}
            for keys in e.values():
                out.extend(str(k) for k in keys or [])
        else:
            out.append(str(e))
    return out


def _expand(name: str, spec: dict, params: dict) -> list[tuple[str, dict]]:
    """Expand a `foreach` stage into `name@key` stages (enough for listing; DVC does the real work)."""
    if "foreach" not in spec:
        return [(name, spec)]
    items = spec["foreach"]
    if isinstance(items, str) and items.startswith("${") and items.endswith("}"):
        items = get_dotted(params, items[2:-1].strip())
    keys = list(items.keys()) if isinstance(items, dict) else [str(i) for i in items or []]
    out = []
    for key in keys:
        text = yaml.safe_dump(spec["do"]).replace("${key}", str(key)).replace("${item}", str(key))
        out.append((f"{name}@{key}", yaml.safe_load(text)))
    return out


def load_pipeline(name: str, *, root: Path | None = None) -> Pipeline:
    root = root or pipelines_root()
    if not _NAME.match(name or ""):
        raise ServiceError(f"pipeline name {name!r} is not valid", code="invalid_pipeline")
    path = root / name
    dvc_yaml = path / "dvc.yaml"
    if not dvc_yaml.is_file():
        raise NotFound(
            f"no pipeline named {name!r}; known pipelines: {list_pipeline_names(root=root)}",
            details={"pipelines": list_pipeline_names(root=root)},
        )
    spec = yaml.safe_load(dvc_yaml.read_text()) or {}
    params = read_params(path)
    stages = []
    for stage_name, stage_spec in (spec.get("stages") or {}).items():
        for sname, s in _expand(stage_name, stage_spec, params):
            meta = s.get("meta") or {}
            stages.append(
                Stage(
                    name=sname,
                    cmd=s.get("cmd", "") if isinstance(s.get("cmd"), str) else " && ".join(s.get("cmd") or []),
                    deps=_paths(s.get("deps")),
                    params=_param_names(s.get("params")),
                    outs=_paths(s.get("outs")),
                    metrics=_paths(s.get("metrics")),
                    plots=_paths(s.get("plots")),
                    gpu=bool(meta.get("gpu", False)),
                    desc=str(s.get("desc", "")),
                )
            )
    return Pipeline(name=name, path=path, stages=stages, description=_readme_summary(path))


def _readme_summary(path: Path) -> str:
    readme = path / "README.md"
    if not readme.is_file():
        return ""
    paragraphs = [p.strip() for p in readme.read_text().split("\n\n")]
    for p in paragraphs:
        if p and not p.startswith("#"):
            return " ".join(p.split())[:500]
    return ""


def list_pipeline_names(*, root: Path | None = None) -> list[str]:
    root = root or pipelines_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "dvc.yaml").is_file())


def list_pipelines(*, root: Path | None = None) -> list[Pipeline]:
    return [load_pipeline(n, root=root) for n in list_pipeline_names(root=root)]


# --- params ---------------------------------------------------------------------------------------------------
def read_params(path: Path) -> dict:
    f = Path(path) / "params.yaml"
    return (yaml.safe_load(f.read_text()) or {}) if f.is_file() else {}


def get_dotted(data: dict, key: str) -> Any:
    cur: Any = data
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(key)
        cur = cur[part]
    return cur


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys, as `dvc metrics show` prints them."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def apply_overrides(params: dict, overrides: dict[str, Any]) -> dict:
    """A copy of `params` with dotted-key overrides applied (``{"train.C": 0.5}``).

    Every key must already exist in params.yaml: a typo must not silently run
    the default."""
    import copy

    result = copy.deepcopy(params)
    known = sorted(flatten(params))
    for key, value in (overrides or {}).items():
        if isinstance(value, dict):  # nested form: {"train": {"C": 0.5}}
            nested = {f"{key}.{k}": v for k, v in flatten(value).items()}
            result = apply_overrides(result, nested)
            continue
        parts = str(key).split(".")
        cur = result
        for part in parts[:-1]:
            if not isinstance(cur, dict) or part not in cur or not isinstance(cur[part], dict):
                cur = None
                break
            cur = cur[part]
        if cur is None or parts[-1] not in cur or isinstance(cur[parts[-1]], dict):
            raise ServiceError(
                f"unknown parameter {key!r}; parameters of this pipeline: {', '.join(known)}",
                code="unknown_param",
                details={"known": known},
            )
        old = cur[parts[-1]]
        if old is not None and value is not None and isinstance(old, bool) != isinstance(value, bool):
            raise ServiceError(f"parameter {key!r} must be a boolean like {old!r}", code="invalid_param")
        if isinstance(old, (int, float)) and not isinstance(old, bool) and not isinstance(value, (int, float)):
            raise ServiceError(f"parameter {key!r} must be a number like {old!r}, got {value!r}", code="invalid_param")
        cur[parts[-1]] = value
    return result


# --- metrics ----------------------------------------------------------------------------------------------------
def read_metrics(pipeline: Pipeline, *, base: Path | None = None) -> dict[str, dict[str, Any]]:
    """``{metrics file: {dotted key: value}}`` for every metrics file that exists (JSON or YAML)."""
    base = base or pipeline.path
    out: dict[str, dict[str, Any]] = {}
    for rel in pipeline.metrics_files:
        f = base / rel
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text()) if f.suffix == ".json" else yaml.safe_load(f.read_text())
        except (ValueError, yaml.YAMLError) as exc:
            raise ServiceError(
                f"metrics file {rel} of {pipeline.name} is not valid: {exc}", code="bad_metrics"
            ) from exc
        out[rel] = flatten(data or {})
    return out


def lookup_metric(metrics: dict[str, dict[str, Any]], name: str) -> Any:
    """A metric by name (``accuracy``) or qualified by file (``metrics/evaluate.json:accuracy``).

    Raises KeyError when missing, ServiceError when the bare name is ambiguous."""
    if ":" in name:
        path, _, key = name.partition(":")
        return metrics[path][key]
    found = [(path, values[name]) for path, values in metrics.items() if name in values]
    if not found:
        raise KeyError(name)
    if len(found) > 1:
        raise ServiceError(
            f"metric {name!r} is in several files ({[p for p, _ in found]}); write it as '<file>:{name}'",
            code="ambiguous_metric",
        )
    return found[0][1]


def source_digest(pipeline: Pipeline) -> str:
    """A content hash of a pipeline's own files (not what its stages produce): a run's identity."""
    h = hashlib.sha256()
    produced = {Path(p) for p in pipeline.produced}
    for f in sorted(pipeline.path.rglob("*")):
        rel = f.relative_to(pipeline.path)
        if not f.is_file() or "__pycache__" in rel.parts or rel.name in ("dvc.lock", ".gitignore"):
            continue
        if any(rel == p or p in rel.parents for p in produced):
            continue
        h.update(rel.as_posix().encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


# --- model tests ------------------------------------------------------------------------------------------------
@dataclass
class Threshold:
    metric: str
    min: float | None = None
    max: float | None = None


@dataclass
class ModelTestSpec:
    pipeline: str
    thresholds: list[Threshold]
    time_limit_seconds: float | None = None


@dataclass
class ModelTestsConfig:
    pipelines: dict[str, ModelTestSpec]
    time_limit_seconds: float | None = None


def load_model_tests(path: Path | None = None) -> ModelTestsConfig:
    path = Path(path) if path else pipelines_root() / MODEL_TESTS_FILE
    if not path.is_file():
        raise NotFound(f"model tests file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict) or not isinstance(raw.get("pipelines"), dict):
        raise ServiceError(f"{path}: expected a mapping with a 'pipelines' section", code="bad_model_tests")
    specs = {}
    for name, body in raw["pipelines"].items():
        body = body or {}
        thresholds = []
        for metric, bounds in (body.get("metrics") or {}).items():
            if isinstance(bounds, (int, float)):
                bounds = {"min": bounds}
            if not isinstance(bounds, dict) or not set(bounds) <= {"min", "max"} or not bounds:
                raise ServiceError(
                    f"{path}: {name}.metrics.{metric} needs 'min' and/or 'max' numbers", code="bad_model_tests"
                )
            thresholds.append(Threshold(metric=str(metric), min=bounds.get("min"), max=bounds.get("max")))
        if body.get("max_accuracy_drop") is not None:
            thresholds.append(Threshold(metric="accuracy_drop", max=float(body["max_accuracy_drop"])))
        specs[name] = ModelTestSpec(
            pipeline=name, thresholds=thresholds, time_limit_seconds=body.get("time_limit_seconds")
        )
    return ModelTestsConfig(pipelines=specs, time_limit_seconds=raw.get("time_limit_seconds"))
