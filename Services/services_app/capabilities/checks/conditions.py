"""Condition settings: the packaged defaults, a per-project file, per-request overrides."""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path

import yaml

from ...errors import ServiceError

PACKAGED_DEFAULTS = Path(__file__).with_name("defaults.yaml")
TASKS = ("tabular", "text_classification")


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> dict:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ServiceError(
            f"conditions file {path} must hold a mapping of task -> check -> settings", code="bad_config"
        )
    return data


def load_defaults(defaults_file: str | Path | None = None) -> dict[str, dict[str, dict]]:
    """The packaged defaults, updated by ``defaults_file`` (or CHECKS_DEFAULTS_FILE) when given."""
    merged = copy.deepcopy(_load(str(PACKAGED_DEFAULTS), PACKAGED_DEFAULTS.stat().st_mtime))
    project = defaults_file or os.environ.get("CHECKS_DEFAULTS_FILE") or None
    if project:
        path = Path(project)
        if not path.is_file():
            raise ServiceError(f"conditions defaults file {path} does not exist", code="bad_config", status=503)
        extra = _load(str(path), path.stat().st_mtime)
        for task, checks in extra.items():
            if task not in merged:
                raise ServiceError(f"conditions file {path}: unknown task {task!r}; use {TASKS}", code="bad_config")
            _merge(merged[task], checks or {}, where=f"conditions file {path}")
    return merged


def _merge(base: dict[str, dict], overrides: dict, *, where: str) -> None:
    if not isinstance(overrides, dict):
        raise ServiceError(f"{where}: conditions must be a mapping of check id -> settings", code="invalid_conditions")
    for check_id, settings in overrides.items():
        if check_id not in base:
            raise ServiceError(
                f"{where}: unknown check {check_id!r}; known checks: {', '.join(sorted(base))}",
                code="invalid_conditions",
                details={"known": sorted(base)},
            )
        if isinstance(settings, bool):
            settings = {"enabled": settings}
        if not isinstance(settings, dict):
            raise ServiceError(
                f'{where}: settings of {check_id!r} must be a mapping, e.g. {{"enabled": false}}',
                code="invalid_conditions",
            )
        for key, value in settings.items():
            if key not in base[check_id]:
                raise ServiceError(
                    f"{where}: {check_id!r} has no setting {key!r}; it takes {', '.join(sorted(base[check_id]))}",
                    code="invalid_conditions",
                    details={"check": check_id, "settings": sorted(base[check_id])},
                )
            expected = type(base[check_id][key])
            if expected is bool and not isinstance(value, bool):
                raise ServiceError(f"{where}: {check_id}.{key} must be true or false", code="invalid_conditions")
            if expected in (int, float) and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise ServiceError(f"{where}: {check_id}.{key} must be a number", code="invalid_conditions")
            if expected in (int, float) and value < 0:
                raise ServiceError(f"{where}: {check_id}.{key} must not be negative", code="invalid_conditions")
            base[check_id][key] = expected(value) if expected in (int, float) else value


def resolve_conditions(
    task: str, overrides: dict | None = None, *, defaults_file: str | Path | None = None
) -> dict[str, dict]:
    """Settings per check for ``task``: defaults, then the project file, then ``overrides``."""
    if task not in TASKS:
        raise ServiceError(f"unknown task {task!r}: use one of {', '.join(TASKS)}", code="invalid_task")
    settings = load_defaults(defaults_file)[task]
    _merge(settings, overrides or {}, where="conditions")
    return settings
