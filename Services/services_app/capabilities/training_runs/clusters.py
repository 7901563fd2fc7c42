"""Clusters of the final-epoch embeddings, with their top words.

k-means (scikit-learn's ``MiniBatchKMeans``) on the L2-normalised embeddings, fitted on at most 20,000
samples drawn from every split in proportion to its size (so data unlike the training set, e.g. a new topic
in an inference split, gets clusters of its own) and applied to every sample in blocks. The number of
clusters defaults to ``clip(round(sqrt(rows / 20)), 2, 30)`` over all splits.

Top words per cluster: class-based TF-IDF (Grootendorst 2022, "BERTopic", arXiv:2203.05794): the frequency
of a word in the cluster times ``log(1 + A / f)``, with ``A`` the average number of words per cluster and
``f`` the word's frequency over all clusters; English stop words removed (scikit-learn's list).
"""

from __future__ import annotations

import math

import numpy as np

FIT_SAMPLE = 20_000
WORD_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"  # words of two letters or more, no digits
BLOCK = 16384


def default_count(training_rows: int) -> int:
    return int(min(30, max(2, round(math.sqrt(training_rows / 20)))))


def _normalised(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block, dtype=np.float32)
    return block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)


def fit(embeddings: list[np.ndarray], n_clusters: int, seed: int):
    """k-means on a proportional sample of at most ``FIT_SAMPLE`` rows of the (memory-mapped) arrays."""
    from sklearn.cluster import MiniBatchKMeans

    total = sum(e.shape[0] for e in embeddings)
    fraction = min(1.0, FIT_SAMPLE / total)
    rng = np.random.default_rng(seed)
    parts = []
    for e in embeddings:
        n = e.shape[0]
        idx = np.sort(rng.choice(n, size=max(1, int(round(n * fraction))), replace=False))
        parts.append(_normalised(e[idx]))
    sample = np.concatenate(parts)
    n_clusters = min(n_clusters, len(sample))
    model = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, batch_size=2048, n_init=3)
    model.fit(sample)
    return model


def assign(model, embeddings: np.ndarray) -> np.ndarray:
    out = np.empty(embeddings.shape[0], dtype=np.int32)
    for start in range(0, embeddings.shape[0], BLOCK):
        out[start : start + BLOCK] = model.predict(_normalised(embeddings[start : start + BLOCK]))
    return out


def top_words(texts: list[str], clusters: np.ndarray, n_clusters: int, top: int) -> dict[int, list[str]]:
    """c-TF-IDF top words per cluster (an empty list when the texts hold no usable words)."""
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(stop_words="english", token_pattern=WORD_PATTERN, max_features=50_000)
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # empty vocabulary
        return {c: [] for c in range(n_clusters)}
    indicator = sparse.csr_matrix(
        (np.ones(len(clusters)), (clusters, np.arange(len(clusters)))), shape=(n_clusters, len(clusters))
    )
    per_cluster = np.asarray((indicator @ counts).todense(), dtype=np.float64)
    words_per_cluster = per_cluster.sum(axis=1)
    average = max(words_per_cluster.mean(), 1.0)
    frequency = np.maximum(per_cluster.sum(axis=0), 1.0)
    tf = per_cluster / np.maximum(words_per_cluster[:, None], 1.0)
    scores = tf * np.log1p(average / frequency)
    vocab = vectorizer.get_feature_names_out()
    out = {}
    for c in range(n_clusters):
        order = np.argsort(-scores[c])[:top]
        out[c] = [str(vocab[j]) for j in order if per_cluster[c, j] > 0]
    return out
