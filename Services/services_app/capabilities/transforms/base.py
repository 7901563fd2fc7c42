"""Transform parameters, the job type base class and the registry.

A job type is one class in one module under ``job_types/``: it names the
columns it needs (checked against the source before any work), turns the
source table into the standard columns of its kind, and describes its
labels. Everything else (reading, filtering, deduplication, splits,
statistics, writing) is shared. Modules under ``job_types/`` are discovered
on first use, so adding a job type is adding one module.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from ...errors import ServiceError

DEFAULT_SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _as_list(value: Any, name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ServiceError(f"{name} must be a column name or a list of column names", code="invalid_params")


@dataclass
class TransformParams:
    """The parameters of a transform, as the API, the command and DVC stages give them."""

    job_type: str
    source: str
    text_columns: list[str] = field(default_factory=list)
    label_columns: list[str] = field(default_factory=list)
    label_delimiter: str | None = None
    spans_column: str | None = None
    tokens_column: str | None = None
    tags_column: str | None = None
    id_column: str | None = None
    text_separator: str = "\n"
    splits: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLITS))
    stratify: bool | None = None  # None: the job type's default
    seed: int = 42
    deduplicate: bool = True
    min_text_length: int = 1
    drop_empty: bool = True
    keep_empty_labels: bool = False
    on_rare_class: str = "warn"  # "warn": keep the class in train and warn; "error": fail
    on_invalid_row: str = "drop"  # NER: "drop" invalid rows and report them, or "fail"
    formats: list[str] = field(default_factory=lambda: ["parquet", "jsonl"])
    name: str | None = None
    output: str | None = None

    KNOWN: ClassVar[set[str]] = set()

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> TransformParams:
        if not isinstance(params, dict):
            raise ServiceError("params must be an object", code="invalid_params")
        unknown = sorted(set(params) - cls.KNOWN)
        if unknown:
            raise ServiceError(
                f"unknown parameter(s) {', '.join(unknown)}",
                code="invalid_params",
                details={"known": sorted(cls.KNOWN)},
            )
        for required in ("job_type", "source"):
            if not params.get(required):
                raise ServiceError(f"{required} is required", code="invalid_params")
        p = cls(job_type=str(params["job_type"]), source=str(params["source"]))
        p.text_columns = _as_list(params.get("text_columns"), "text_columns")
        p.label_columns = _as_list(params.get("label_columns"), "label_columns")
        for key in ("label_delimiter", "spans_column", "tokens_column", "tags_column", "id_column", "name", "output"):
            value = params.get(key)
            setattr(p, key, str(value) if value not in (None, "") else None)
        if params.get("text_separator") is not None:
            p.text_separator = str(params["text_separator"])
        if params.get("splits") is not None:
            p.splits = params["splits"]
        for key in ("deduplicate", "drop_empty", "keep_empty_labels"):
            if params.get(key) is not None:
                setattr(p, key, bool(params[key]))
        if params.get("stratify") is not None:
            p.stratify = bool(params["stratify"])
        try:
            p.seed = int(params.get("seed", 42))
            p.min_text_length = int(params.get("min_text_length", 1))
        except (TypeError, ValueError):
            raise ServiceError("seed and min_text_length must be integers", code="invalid_params") from None
        for key, allowed in (("on_rare_class", ("warn", "error")), ("on_invalid_row", ("drop", "fail"))):
            value = params.get(key) or getattr(p, key)
            if value not in allowed:
                raise ServiceError(f"{key} must be one of {', '.join(allowed)}", code="invalid_params")
            setattr(p, key, value)
        if params.get("formats") is not None:
            p.formats = list(params["formats"])
            bad = [f for f in p.formats if f not in ("parquet", "jsonl")]
            if bad or not p.formats:
                raise ServiceError("formats must be a non-empty subset of parquet, jsonl", code="invalid_params")
        p.check_splits()
        if p.name is not None and (not p.name.replace("-", "").replace("_", "").replace(".", "").isalnum()):
            raise ServiceError("name may hold letters, digits, '-', '_' and '.' only", code="invalid_params")
        return p

    def check_splits(self) -> None:
        s = self.splits
        if not isinstance(s, dict) or set(s) - set(DEFAULT_SPLITS):
            raise ServiceError(
                "splits must be an object with train, validation and test fractions",
                code="invalid_splits",
                details={"example": DEFAULT_SPLITS},
            )
        try:
            values = {k: float(s.get(k, 0.0)) for k in DEFAULT_SPLITS}
        except (TypeError, ValueError):
            raise ServiceError("split fractions must be numbers", code="invalid_splits") from None
        if any(v < 0 or v > 1 or math.isnan(v) for v in values.values()):
            raise ServiceError("split fractions must be between 0 and 1", code="invalid_splits", details=values)
        total = sum(values.values())
        if abs(total - 1.0) > 1e-6:
            raise ServiceError(
                f"split fractions must sum to 1 (got {total:g}: {values})", code="invalid_splits", details=values
            )
        if values["train"] <= 0:
            raise ServiceError("the train fraction must be above 0", code="invalid_splits", details=values)
        self.splits = values

    @property
    def fractions(self) -> tuple[float, float, float]:
        return (self.splits["train"], self.splits["validation"], self.splits["test"])

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in sorted(self.KNOWN)}


TransformParams.KNOWN = {f for f in TransformParams.__dataclass_fields__ if f != "KNOWN"}


class DropTracker:
    """Which rows are still kept, and why the others were dropped."""

    def __init__(self, n: int):
        self.keep = np.ones(n, dtype=bool)
        self.reasons: Counter[str] = Counter()

    def drop(self, mask: np.ndarray, reason: str) -> int:
        newly = np.asarray(mask, dtype=bool) & self.keep
        count = int(newly.sum())
        if count:
            self.keep &= ~newly
            self.reasons[reason] += count
        return count


@dataclass
class Prepared:
    """What a job type makes of the source: standard columns, row-aligned with the source."""

    columns: dict[str, pa.Array]  # e.g. {"text": ..., "label": ...}
    used_columns: set[str]  # source columns consumed (the rest are kept as metadata)
    row_problems: list[dict] = field(default_factory=list)  # per-row reports (NER)


class JobType:
    """One kind of training job. Subclasses set the class attributes and implement `prepare`."""

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    stratify_default: ClassVar[bool] = False
    output_columns: ClassVar[tuple[str, ...]] = ("text",)

    def required_columns(self, p: TransformParams) -> list[str]:
        """Source columns this transform reads (checked before any work)."""
        if not p.text_columns:
            raise ServiceError(f"{self.name} needs text_columns", code="invalid_params")
        return [*p.text_columns, *([p.id_column] if p.id_column else [])]

    def prepare(self, table: pa.Table, p: TransformParams, drops: DropTracker, ctx) -> Prepared:
        raise NotImplementedError

    def finalize(self, table: pa.Table) -> tuple[pa.Table, dict | None]:
        """Add label ids to the kept rows and return the label map (None when there are no labels)."""
        return table, None

    def strata(self, table: pa.Table) -> np.ndarray | None:
        """One class key per kept row, for stratified splits."""
        return None

    def label_counts(self, table: pa.Table) -> dict[str, int] | None:
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "stratify_default": self.stratify_default,
            "output_columns": list(self.output_columns),
        }


_REGISTRY: dict[str, type[JobType]] = {}
_discovered = False


def register(cls: type[JobType]) -> type[JobType]:
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    _discovered = True  # every module, even when one was imported directly before (and registered alone)
    package = importlib.import_module(f"{__package__}.job_types")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def all_job_types() -> dict[str, type[JobType]]:
    if not _discovered:
        _discover()
    return dict(sorted(_REGISTRY.items()))


def get_job_type(name: str) -> JobType:
    known = all_job_types()
    if name not in known:
        raise ServiceError(
            f"unknown job type {name!r}; known job types: {', '.join(known)}",
            code="unknown_job_type",
            details={"known": list(known)},
        )
    return known[name]()
