"""Shared by the stage scripts: the path to the platform's code and the params.

Stages import the platform's Django-free functions (the classification
transform, featurizers, perturbations) from ``Services/``: the folder two
levels up, or ``SERVICES_DIR`` when the pipeline runs from a copy elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SERVICES_DIR = Path(os.environ.get("SERVICES_DIR") or HERE.parents[1])
if str(SERVICES_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICES_DIR))

PREPARED = HERE / "data" / "prepared"
FEATURES = HERE / "data" / "features"
MODELS = HERE / "models"
METRICS = HERE / "metrics"


def params(section: str) -> dict:
    return (yaml.safe_load((HERE / "params.yaml").read_text()) or {}).get(section) or {}


def read_split(split: str) -> tuple[list[str], list[str]]:
    """Texts and labels of one split written by the prepare stage."""
    import pyarrow.parquet as pq

    table = pq.read_table(PREPARED / f"{split}.parquet")
    cols = table.column_names
    text_col = "text" if "text" in cols else next(c for c in cols if "text" in c)
    label_col = "label" if "label" in cols else next(c for c in cols if "label" in c)
    texts = [str(t) for t in table.column(text_col).to_pylist()]
    labels = [str(x[0]) if isinstance(x, list) else str(x) for x in table.column(label_col).to_pylist()]
    return texts, labels


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
