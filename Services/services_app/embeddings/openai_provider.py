"""OpenAI provider: the official `openai` client against api.openai.com or any
server that speaks its embeddings endpoint (``base_url``).

The client retries 408/409/429/5xx and connection errors with exponential
backoff (honouring Retry-After); ``max_retries`` sets how often.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ServiceError
from .base import Embedder

DEFAULT_OPENAI_MODEL = "text-embedding-3-small"
KNOWN_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS_PER_REQUEST = 2048
# The endpoint refuses inputs over 8,192 tokens; a token is at least ~1 char,
# so cutting at 8,000 characters keeps every input under the limit.
MAX_CHARS = 8000


class OpenAIEmbedder(Embedder):
    provider = "openai"
    default_batch_size = 256

    def __init__(
        self,
        *,
        model: str | None,
        cache_dir: Path | None,
        api_key: str | None,
        base_url: str | None = None,
        max_retries: int = 6,
        timeout: float = 120.0,
        dimensions: int | None = None,
    ):
        import openai

        if not api_key:
            raise ServiceError(
                "the openai embeddings provider needs an API key: set OPENAI_API_KEY", code="not_configured"
            )
        model = model or DEFAULT_OPENAI_MODEL
        self.base_url = base_url or None
        self.dimensions = dimensions
        self._openai = openai
        from ..outbound import check_url, guarded_client

        if self.base_url:
            check_url(self.base_url)  # a clear error now rather than after the retries
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            max_retries=max_retries,
            timeout=timeout,
            http_client=guarded_client(timeout=timeout, follow_redirects=True),
        )
        super().__init__(model_name=model, cache_dir=cache_dir, dim=dimensions or KNOWN_DIMS.get(model))

    def _compute(self, texts: list[str], batch_size: int) -> np.ndarray:
        batch_size = max(1, min(int(batch_size), MAX_INPUTS_PER_REQUEST))
        out: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            # The endpoint refuses empty strings; a space embeds "nothing".
            batch = [(t[:MAX_CHARS] if t.strip() else " ") for t in texts[start : start + batch_size]]
            kwargs = {"dimensions": self.dimensions} if self.dimensions else {}
            try:
                resp = self._client.embeddings.create(
                    model=self.model_name, input=batch, encoding_format="float", **kwargs
                )
            except self._openai.APIStatusError as exc:
                raise ServiceError(
                    f"the embeddings endpoint answered {exc.status_code}: {exc.message}",
                    code="embeddings_failed",
                    status=502,
                    details={"base_url": self.base_url or "https://api.openai.com/v1", "model": self.model_name},
                ) from exc
            except self._openai.APIConnectionError as exc:
                raise ServiceError(
                    f"could not reach the embeddings endpoint: {exc}",
                    code="embeddings_unreachable",
                    status=502,
                    details={"base_url": self.base_url or "https://api.openai.com/v1"},
                ) from exc
            rows = sorted(resp.data, key=lambda d: d.index)
            if len(rows) != len(batch):
                raise ServiceError(
                    f"the embeddings endpoint returned {len(rows)} vectors for {len(batch)} texts",
                    code="embeddings_failed",
                    status=502,
                )
            out.append(np.asarray([r.embedding for r in rows], dtype=np.float32))
        return np.concatenate(out, axis=0)
