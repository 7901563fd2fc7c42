"""Request validation shared by the API (before a job is queued) and the job itself.

Reads column names and the label column only; no deepchecks, no torch."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...errors import ServiceError
from ...storage import Storage, gcs_size, is_gcs
from .io import read_table, table_columns
from .request import ChecksRequest

# gs:// inputs up to this size are fetched (into the storage cache, which the job
# reuses) and validated before the job is queued; larger ones are validated by the job.
VALIDATE_REMOTE_MAX_BYTES = 256 << 20


def normalise_params(params: dict | ChecksRequest) -> dict:
    """The request as a dict with defaults filled in and conditions validated; `ServiceError` (400) with what
    to fix. The one request model (`ChecksRequest`) does the validating."""
    request = params if isinstance(params, ChecksRequest) else ChecksRequest.from_params(params)
    request.settings()  # unknown checks or settings: 400 invalid_conditions
    return request.model_dump()


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


def check_text_columns(frame: pd.DataFrame, text: list[str], *, role: str) -> None:
    """A column given as ``text`` must hold text: numbers, booleans or dates there are a 422 that says what
    the column holds (text checks on ``str(3.5)`` would pass or fail for no reason)."""
    for column in text:
        values = frame[column]
        kind = None
        if values.isna().all():  # no values at all: the empty-texts check reports it
            continue
        if pd.api.types.is_bool_dtype(values):
            kind = "true/false values"
        elif pd.api.types.is_numeric_dtype(values):
            kind = f"numbers ({values.dtype})"
        elif pd.api.types.is_datetime64_any_dtype(values):
            kind = "dates"
        if kind is not None:
            raise ServiceError(
                f"{role}: column {column!r} holds {kind}, not text; give text columns in `text` "
                "(numbers and dates are checked as features)",
                code="not_text_column",
                status=422,
                details={"column": column, "dtype": str(values.dtype)},
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


def validate_inputs(storage: Storage, params: dict | ChecksRequest) -> dict:
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
        frame = read_table(path, columns=list(dict.fromkeys([p["label"], *p["text"]])))
        check_label(frame[p["label"]], role=role, label=p["label"])
        check_text_columns(frame, p["text"], role=role)
        cols[role] = info.columns
    if "dataset" in cols and "reference" in cols:
        check_same_columns(cols["dataset"], cols["reference"], p["ignore_columns"])
    return p
