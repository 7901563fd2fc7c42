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
import pkgutil
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from ...errors import ServiceError
from .request import TransformRequest


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

    def required_columns(self, p: TransformRequest) -> list[str]:
        """Source columns this transform reads (checked before any work)."""
        if not p.text_columns:
            raise ServiceError(f"{self.name} needs text_columns", code="invalid_params")
        return [*p.text_columns, *([p.id_column] if p.id_column else [])]

    def prepare(self, table: pa.Table, p: TransformRequest, drops: DropTracker, ctx) -> Prepared:
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
