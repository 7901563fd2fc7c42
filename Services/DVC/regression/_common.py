"""Shared by the regression stage scripts: paths and params."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
MODELS = HERE / "models"
METRICS = HERE / "metrics"


def params(section: str | None = None) -> dict:
    data = yaml.safe_load((HERE / "params.yaml").read_text()) or {}
    return data if section is None else (data.get(section) or {})


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
