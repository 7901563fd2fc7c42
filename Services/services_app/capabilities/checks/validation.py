"""Request validation shared by the API (before a job is queued) and the job itself.

Reads column names and the label column only; no deepchecks, no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import ServiceError
from ...storage import Storage, gcs_size, is_gcs
from .conditions import TASKS, resolve_conditions
from .io import read_table, table_columns

SUITES = ("integrity", "drift")
# gs:// inputs up to this size are fetched (into the storage cache, which the job
# reuses) and validated before the job is queued; larger ones are validated by the job.
VALIDATE_REMOTE_MAX_BYTES = 256 << 20


def _as_list(value: Any, name: str) -> list[str]:
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ServiceError(f"{name} must be a column name or a list of column names", code="invalid_params")


def normalise_params(params: dict) -> dict:
    """Defaults filled in, types checked; raises `ServiceError` with what to fix."""
    p = dict(params)
    if not p.get("dataset"):
        raise ServiceError(
            "dataset is required: an uploaded file or a location under the data root", code="invalid_params"
        )
    p["task"] = p.get("task") or ("text_classification" if p.get("text") else "tabular")
    if p["task"] not in TASKS:
        raise ServiceError(f"unknown task {p['task']!r}: use one of {', '.join(TASKS)}", code="invalid_task")
    if not p.get("label") or not isinstance(p["label"], str):
        raise ServiceError("label is required: the name of the label column", code="invalid_params")
    p["text"] = _as_list(p.get("text"), "text")
    if p["task"] == "text_classification" and not p["text"]:
        raise ServiceError("task text_classification needs text: the text column(s)", code="invalid_params")
    p["ignore_columns"] = _as_list(p.get("ignore_columns"), "ignore_columns")
    suites = _as_list(p.get("suites"), "suites") or (list(SUITES) if p.get("reference") else ["integrity"])
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise ServiceError(f"unknown suites {unknown}: use {', '.join(SUITES)}", code="invalid_params")
    if "drift" in suites and not p.get("reference"):
        raise ServiceError("the drift suite needs a reference dataset to compare with", code="invalid_params")
    p["suites"] = suites
    if p.get("max_rows") is not None:
        if isinstance(p["max_rows"], bool) or not isinstance(p["max_rows"], int) or p["max_rows"] < 10:
            raise ServiceError("max_rows must be a whole number of at least 10", code="invalid_params")
    p["conditions"] = p.get("conditions") or {}
    resolve_conditions(p["task"], p["conditions"])  # validates names and values
    emb = p.get("embeddings") or {}
    if not isinstance(emb, dict):
        raise ServiceError(
            'embeddings must be an object like {"provider": "local", "model": null}', code="invalid_params"
        )
    if emb.get("provider") not in (None, "local", "openai"):
        raise ServiceError(
            f"unknown embeddings provider {emb['provider']!r}: use local or openai", code="invalid_params"
        )
    p["embeddings"] = {
        "enabled": bool(emb.get("enabled", True)),
        "provider": emb.get("provider"),
        "model": emb.get("model"),
    }
    p["seed"] = int(p.get("seed", 42))
    return p


def required_columns(p: dict) -> list[str]:
    return [p["label"], *p["text"]]


def check_columns(path: Path, columns: list[str], needed: list[str], *, role: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ServiceError(
            f"{role} has no column {', '.join(map(repr, missing))}; columns found: {', '.join(map(str, columns))}",
            code="missing_columns",
            details={"missing": missing, "columns": columns, "file": path.name},
        )


def check_same_columns(dataset_cols: list[str], reference_cols: list[str], ignore: list[str]) -> None:
    a = [c for c in dataset_cols if c not in ignore]
    b = [c for c in reference_cols if c not in ignore]
    only_new, only_ref = [c for c in a if c not in b], [c for c in b if c not in a]
    if only_new or only_ref:
        raise ServiceError(
            "dataset and reference have different columns: "
            f"only in dataset: {only_new or 'none'}; only in reference: {only_ref or 'none'} "
            "(rename them, or list them in ignore_columns)",
            code="column_mismatch",
            details={"only_in_dataset": only_new, "only_in_reference": only_ref},
        )


def check_label(labels: pd.Series, *, role: str, label: str) -> None:
    if len(labels) == 0:
        raise ServiceError(f"{role} is empty: it has no rows", code="empty_dataset")
    classes = labels.dropna().unique()
    if len(classes) == 0:
        raise ServiceError(f"{role}: label column {label!r} is empty (all values missing)", code="invalid_label")
    if len(classes) < 2:
        raise ServiceError(
            f"{role}: label column {label!r} has one class ({classes[0]!r}); checks need at least two classes",
            code="single_class_label",
            details={"classes": [str(c) for c in classes]},
        )


def input_path(storage: Storage, location: str) -> Path:
    """The local path of a dataset location; a gs:// object or prefix is fetched into the storage cache."""
    return storage.local_copy(location) if is_gcs(location) else storage.resolve(location, must_exist=True)


def validate_inputs(storage: Storage, params: dict) -> dict:
    """Everything that can be said about a request before running it: 400s, never 500s.

    gs:// inputs: the bucket must be on the allow list (403) and the object or prefix
    must exist (404); small ones are fetched and validated like local files."""
    p = normalise_params(params)
    needed = required_columns(p)
    cols = {}
    for role in ("dataset", "reference"):
        if not p.get(role):
            continue
        if is_gcs(p[role]) and gcs_size(storage, p[role]) > VALIDATE_REMOTE_MAX_BYTES:
            continue
        path = input_path(storage, p[role])
        info = table_columns(path)
        if not info.columns or info.rows == 0:
            raise ServiceError(f"{role} {p[role]!r} is empty: it has no rows", code="empty_dataset")
        check_columns(path, info.columns, needed, role=role)
        check_label(read_table(path, columns=[p["label"]])[p["label"]], role=role, label=p["label"])
        cols[role] = info.columns
    if "dataset" in cols and "reference" in cols:
        check_same_columns(cols["dataset"], cols["reference"], p["ignore_columns"])
    return p
