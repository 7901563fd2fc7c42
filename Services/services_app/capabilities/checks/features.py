"""Numeric matrices the row-level engines (label issues, near-duplicates, outliers) work on.

Tabular rows become standardised numbers (scaled by the reference) plus one-hot categories;
texts are their embeddings. Both are reduced with PCA when wide, so the k-nearest-neighbour
searches and the cross-validated models stay fast. Pure numpy/scikit-learn; no deepchecks.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pandas as pd

MAX_CATEGORIES = 30  # one-hot columns per categorical feature; rarer values share an "other" column


def tabular_matrices(frames: list[pd.DataFrame], *, numeric: list[str], categorical: list[str]) -> list[np.ndarray]:
    """One float32 matrix per frame, scaled by the first frame (the reference when there is one).

    Numbers: standardised by the first frame's median and standard deviation, missing values at
    the median with a missing-indicator column. Categories: one-hot over the first frame's most
    frequent values (at most ``MAX_CATEGORIES``), others and missing in their own columns."""
    base = frames[0]
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    for col in numeric:
        values = [pd.to_numeric(f[col], errors="coerce").astype(float) for f in frames]
        ref = values[0]
        centre = float(ref.median()) if ref.notna().any() else 0.0
        scale = float(ref.std()) if ref.notna().sum() > 1 else 1.0
        if not np.isfinite(scale) or scale <= 0:
            scale = 1.0
        any_missing = any(v.isna().any() for v in values)
        for i, v in enumerate(values):
            blocks[i].append(((v.fillna(centre) - centre) / scale).to_numpy()[:, None])
            if any_missing:
                blocks[i].append(v.isna().to_numpy(dtype=float)[:, None])
    for col in categorical:
        top = base[col].astype(str).where(base[col].notna(), "\x00missing").value_counts().index[:MAX_CATEGORIES]
        top = list(top)
        for i, f in enumerate(frames):
            s = f[col].astype(str).where(f[col].notna(), "\x00missing")
            codes = pd.Categorical(s, categories=top).codes
            onehot = np.zeros((len(f), len(top) + 1))
            onehot[np.arange(len(f)), np.where(codes < 0, len(top), codes)] = 1.0
            blocks[i].append(onehot)
    return [
        np.hstack(b).astype(np.float32) if b else np.zeros((len(f), 1), dtype=np.float32)
        for b, f in zip(blocks, frames, strict=True)
    ]


def reduce(matrices: list[np.ndarray], *, dims: int = 64, seed: int = 0) -> list[np.ndarray]:
    """PCA to ``dims`` components, fitted on the first matrix, when the matrices are wider than that."""
    if matrices[0].shape[1] <= dims:
        return matrices
    from sklearn.decomposition import PCA

    fit_on = matrices[0]
    if len(fit_on) > 20000:
        fit_on = fit_on[np.random.default_rng(seed).choice(len(fit_on), 20000, replace=False)]
    # covariance_eigh: one d x d covariance and its eigenvectors, fast for many rows of a few hundred columns.
    solver = "covariance_eigh" if fit_on.shape[0] >= fit_on.shape[1] else "randomized"
    pca = PCA(n_components=min(dims, len(fit_on)), svd_solver=solver, random_state=seed).fit(fit_on)
    return [pca.transform(m).astype(np.float32) for m in matrices]


def free_cores() -> int:
    """The CPUs this process may use minus those busy with other processes (load average), at least one.

    BLAS and OpenMP threads that outnumber the free cores spin against other work: on a shared two-core
    machine a 2,000-row PCA took 12 s with two threads and well under a second with one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        others = max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:
        others = 0.0
    return max(1, min(cpus, int(cpus - others + 0.5)))


@contextmanager
def limited_threads(threads: int | None = None):
    """BLAS/OpenMP threads limited to ``threads`` (default: the free cores) inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads or free_cores()):
        yield
