"""The embedder interface shared by every provider: dedupe, cache, batch, normalise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .cache import EmbeddingCache, model_folder_name, text_key

ProgressFn = Callable[[int, int], None]  # (texts done, texts total)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32, copy=False)


class Embedder:
    """Turns texts into L2-normalised float32 vectors, each text computed once.

    Subclasses implement `_compute(texts, batch_size) -> ndarray` for a batch
    and set `provider`, `model_name` and (when known up front) `_dim`.
    `stats` counts texts served from the cache ("cached") and distinct texts
    embedded ("computed") over the embedder's life.
    """

    provider: str = ""
    default_batch_size: int = 64

    def __init__(self, *, model_name: str, cache_dir: Path | None, dim: int | None = None):
        self.model_name = model_name
        self._dim = dim
        self.stats = {"cached": 0, "computed": 0}
        self.cache: EmbeddingCache | None = None
        if cache_dir is not None:
            folder = Path(cache_dir) / model_folder_name(f"{self.provider}-{model_name}")
            self.cache = EmbeddingCache(folder, dim=dim)

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model_name}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._compute(["dimension probe"], 1).shape[1])
            if self.cache is not None:
                self.cache.dim = self._dim
        return self._dim

    def _compute(self, texts: list[str], batch_size: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def embed(
        self, texts: Sequence[str], batch_size: int | None = None, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """Vectors for ``texts`` in order: shape (len(texts), dim), float32, unit length.

        Texts already in the cache are not embedded again; duplicates within
        the call are embedded once. ``progress(done, total)`` is called as
        batches finish (it may raise to stop the work)."""
        batch_size = int(batch_size or self.default_batch_size)
        texts = ["" if t is None else str(t) for t in texts]
        total = len(texts)
        if total == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [text_key(t) for t in texts]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        missing: dict[bytes, str] = {}
        occurrences: dict[bytes, int] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in found:
                missing.setdefault(k, t)
                occurrences[k] = occurrences.get(k, 0) + 1
        done = total - sum(occurrences.values())
        self.stats["cached"] += done
        if progress:
            progress(done, total)
        if missing:
            # Sorted by length so each chunk (and each batch in it) holds texts of
            # similar length: transformer batches are padded to their longest text.
            miss_keys = sorted(missing, key=lambda k: len(missing[k]))
            miss_texts = [missing[k] for k in miss_keys]
            # Chunks of several batches: progress is reported and the cache is
            # written as work goes, so an interrupted run keeps what it did.
            chunk = max(batch_size * 8, 256)
            for start in range(0, len(miss_texts), chunk):
                part_keys = miss_keys[start : start + chunk]
                vectors = l2_normalise(self._compute(miss_texts[start : start + chunk], batch_size))
                if self._dim is None:
                    self._dim = int(vectors.shape[1])
                    if self.cache is not None:
                        self.cache.dim = self._dim
                if self.cache is not None:
                    self.cache.put_many(zip(part_keys, vectors, strict=True))
                for k, v in zip(part_keys, vectors, strict=True):
                    found[k] = v
                self.stats["computed"] += len(part_keys)
                done += sum(occurrences[k] for k in part_keys)
                if progress:
                    progress(done, total)
        out = np.empty((total, self.dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.model_id} dim={self._dim}>"
