"""Coverage: how far each sample lies from the training data, in the model's own embedding space.

For every sample of a validation, test or inference split: the cosine distance (1 - cosine similarity) of
its final-epoch embedding to its k-th nearest training neighbour (final-epoch training embeddings). The
same distance for a random sample of training points (to their k-th nearest *other* training point) gives
the training split's own distribution; a sample beyond its ``coverage_percentile`` (95th by default) is out
of coverage, and the share of such samples is the split's drift share: about 5% for data from the training
distribution, by construction. This is the k-NN out-of-distribution score of Sun et al. 2022 ("Out-of-
Distribution Detection with Deep Nearest Neighbors", ICML), with the threshold set at a percentile of the
in-distribution scores as there.

Exact search, blockwise: queries in blocks of 256 against the (memory-mapped) training embeddings in blocks
of 16,384, keeping the k best per query, so memory stays at a few blocks whatever the size of the run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Q_BLOCK = 256
R_BLOCK = 16384


def norms(emb: np.ndarray) -> np.ndarray:
    out = np.empty(emb.shape[0], dtype=np.float32)
    for start in range(0, emb.shape[0], R_BLOCK):
        block = np.asarray(emb[start : start + R_BLOCK], dtype=np.float32)
        out[start : start + R_BLOCK] = np.linalg.norm(block, axis=1)
    out[out == 0] = 1.0
    return out


def kth_distance(
    queries: np.ndarray,
    reference: np.ndarray,
    reference_norms: np.ndarray,
    k: int,
    *,
    progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """[m] cosine distance of each query row to its k-th nearest reference row."""
    m, n = queries.shape[0], reference.shape[0]
    k = min(k, n)
    out = np.empty(m, dtype=np.float32)
    for qs in range(0, m, Q_BLOCK):
        q = np.asarray(queries[qs : qs + Q_BLOCK], dtype=np.float32)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        best = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        for rs in range(0, n, R_BLOCK):
            r = np.asarray(reference[rs : rs + R_BLOCK], dtype=np.float32)
            sims = (q @ r.T) / reference_norms[rs : rs + R_BLOCK]
            merged = np.concatenate([best, sims], axis=1)
            best = np.partition(merged, merged.shape[1] - k, axis=1)[:, -k:]
        out[qs : qs + Q_BLOCK] = 1.0 - best.min(axis=1)
        if progress:
            progress(min(1.0, (qs + Q_BLOCK) / m))
    return np.clip(out, 0.0, 2.0)


def training_threshold(
    training: np.ndarray, training_norms: np.ndarray, *, k: int, percentile: float, sample: int, seed: int
) -> tuple[float, int]:
    """The ``percentile`` of the training split's own k-th neighbour distances (self excluded), from a random
    sample of training points; returns (threshold, sample size)."""
    n = training.shape[0]
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    # k + 1: each sampled point finds itself at distance 0 first
    distances = kth_distance(training[idx], training, training_norms, k + 1)
    return float(np.percentile(distances, percentile)), len(idx)
