"""Outliers and out-of-coverage rows: the distance to the k-th nearest reference row, read against
the reference's own distances.

Method: the k-th nearest neighbour distance is a standard outlier score (Ramaswamy, Rastogi
and Shim, "Efficient algorithms for mining outliers from large data sets", SIGMOD 2000); here
it is calibrated on the reference itself: each reference row's distance to its k-th nearest
*other* reference row gives the distribution a new row is ranked in. A new row's
``outlier_score`` is the share of reference rows that lie closer to their neighbours than it
lies to the reference (0..1; 0.99 means farther out than 99% of the reference). A batch from
the reference's distribution has about 5% of rows above the reference's 95th percentile; a
new topic, language or cluster in a minority of rows raises that share even when a
whole-batch drift classifier barely moves.

Searches are exact (scikit-learn ``NearestNeighbors``, brute force in 64 PCA dimensions, in
blocks): new rows x reference rows. The reference is sampled to ``max_reference`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def nearest_neighbours(
    query: np.ndarray, index: np.ndarray, *, k: int, exclude_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices) of the ``k`` nearest rows of ``index`` for each query row (Euclidean).

    ``exclude_self``: query and index are the same rows; each row's own match is left out."""
    from sklearn.neighbors import NearestNeighbors

    k_eff = min(k + int(exclude_self), len(index))
    nn = NearestNeighbors(n_neighbors=k_eff, algorithm="brute", metric="euclidean").fit(index)
    dist, idx = nn.kneighbors(query)
    if exclude_self:
        rows = np.arange(len(query))[:, None]
        keep = idx != rows
        # Exact duplicates may put another row before the row itself: drop the row's own index, else the last.
        drop_last = keep.all(axis=1)
        keep[drop_last, -1] = False
        dist = dist[keep].reshape(len(query), k_eff - 1)
        idx = idx[keep].reshape(len(query), k_eff - 1)
    return dist, idx


@dataclass
class Coverage:
    scores: np.ndarray  # per new row: share of reference rows with a smaller k-th neighbour distance
    distances: np.ndarray  # per new row: distance to its k-th nearest reference row
    reference_quantiles: dict[str, float]
    k: int
    reference_rows: int


def coverage(
    X_ref: np.ndarray,
    X_new: np.ndarray,
    *,
    k: int = 10,
    max_reference: int = 20000,
    seed: int = 0,
    distances: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> Coverage:
    """Per new row, where its k-th nearest reference distance falls in the reference's own distribution.

    ``distances``: (reference rows x k, new rows x k) from an earlier search over the same rows, reused."""
    ref = X_ref
    ref_d, new_d = distances
    if ref_d is not None and new_d is not None and ref_d.shape[1] == k and len(ref_d) == len(X_ref):
        return _ranked(ref_d, new_d, k=k, reference_rows=len(X_ref))
    if len(ref) > max_reference:
        ref = ref[np.random.default_rng(seed).choice(len(ref), max_reference, replace=False)]
    k = max(1, min(k, len(ref) - 1))
    ref_d, _ = nearest_neighbours(ref, ref, k=k, exclude_self=True)
    new_d, _ = nearest_neighbours(X_new, ref, k=k)
    return _ranked(ref_d, new_d, k=k, reference_rows=len(ref))


def _ranked(ref_d: np.ndarray, new_d: np.ndarray, *, k: int, reference_rows: int) -> Coverage:
    ref_k, new_k = np.sort(ref_d[:, -1]), new_d[:, -1]
    scores = np.searchsorted(ref_k, new_k, side="left") / len(ref_k)
    quantiles = {f"q{int(q * 1000) / 10:g}": float(np.quantile(ref_k, q)) for q in (0.5, 0.95, 0.99)}
    return Coverage(
        scores=scores.round(4), distances=new_k, reference_quantiles=quantiles, k=k, reference_rows=reference_rows
    )


def coverage_verdict(scores: np.ndarray, *, quantile: float, max_excess: float, p_value: float) -> dict:
    """Share of new rows beyond the reference's ``quantile`` (expected: 1 - quantile) and whether the
    excess is both large (``max_excess``) and significant (one-sided binomial test, ``p_value``)."""
    from scipy.stats import binomtest

    n = len(scores)
    expected = 1.0 - quantile
    outside = int((scores >= quantile).sum())
    share = outside / n if n else 0.0
    p = binomtest(outside, n, expected, alternative="greater").pvalue if n else 1.0
    return {
        "rows": n,
        "out_of_coverage": outside,
        "share": round(share, 4),
        "expected_share": round(expected, 4),
        "excess": round(share - expected, 4),
        "p_value": float(f"{p:.3g}"),
        "outliers_beyond_q99": int((scores >= 0.99).sum()),
        "failing": bool(share - expected >= max_excess and p < p_value),
    }
