"""Loading saved language models, with an in-process LRU cache.

The cache key includes the manifest's modification time, so a model folder
replaced in place (a re-run with the same name) is loaded afresh."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ...errors import ServiceError
from .cooccurrence import CooccurrenceModel
from .ngram import NgramModel

MODEL_CLASSES = {"cooccurrence": CooccurrenceModel, "ngram": NgramModel}


@lru_cache(maxsize=8)
def _load(folder: str, manifest_mtime_ns: int):
    path = Path(folder)
    kind = json.loads((path / "manifest.json").read_text())["model_kind"]
    return MODEL_CLASSES[kind].load(path)


def load_model(folder: Path) -> CooccurrenceModel | NgramModel:
    manifest = Path(folder) / "manifest.json"
    if not manifest.exists():
        raise ServiceError(
            f"no language model at {folder}: the folder has no manifest.json", code="model_missing", status=404
        )
    return _load(str(folder), manifest.stat().st_mtime_ns)
