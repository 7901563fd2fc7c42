"""Stable, reproducible split assignment by hashing.

A row's split is decided by a 64-bit hash of its key (an id column, or the
normalised text) keyed with the seed, mapped to [0, 1) and compared with the
cumulative split fractions. Adding rows later therefore never moves an
existing row: its hash does not depend on the other rows.

Hash choice: ``pandas.util.hash_array`` (SipHash-2-4 over the UTF-8 bytes,
with a 16-byte key derived from the seed). It is vectorised C code (about
0.2 s per million short strings here), and its output has been unchanged
since pandas 0.20 because pandas itself relies on it for stable object
hashing. SipHash is a published algorithm, so the splits can be reproduced
outside pandas too. We deliberately did not use Python's ``hash()``
(randomised per process) or a hashlib loop (ten times slower).

Stratified splits (``stratify=True``) order the rows of each class by the
same hash and cut each class at its fractions, so every split gets its
share of every class (as ``train_test_split(stratify=...)`` does, but
deterministic without a random state). The trade-off: when rows of a class
are added later, rows of that class that sit at a cut may move; with
``stratify=False`` no row ever moves.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def hash_key(seed: int) -> str:
    """The 16-character SipHash key for a seed."""
    return hashlib.blake2b(str(int(seed)).encode(), digest_size=8).hexdigest()


def stable_hash(keys: np.ndarray, *, seed: int) -> np.ndarray:
    """uint64 hash of each key (strings; None hashes like the empty string)."""
    keys = np.asarray(keys, dtype=object)
    return pd.util.hash_array(keys, encoding="utf8", hash_key=hash_key(seed), categorize=False)


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats in [0, 1) (top 53 bits, exact in float64)."""
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_splits(u: np.ndarray, fractions: tuple[float, float, float], strata: np.ndarray | None = None) -> np.ndarray:
    """Split code per row (0 train, 1 validation, 2 test).

    ``u`` are the rows' positions in [0, 1) from `unit_interval`; with
    ``strata`` (one class code per row) each class is cut at its own quantiles."""
    cuts = np.cumsum(np.asarray(fractions, dtype=np.float64))[:2]
    if strata is None or len(u) == 0:
        return np.searchsorted(cuts, u, side="right").astype(np.int8)
    codes, inverse, counts = np.unique(strata, return_inverse=True, return_counts=True)
    if len(codes) < 2048:
        # by class, then by hash: one stable sort of a packed key (class in the top 11 bits, the 53-bit
        # position below) is the same order as lexsort((u, inverse)) and several times faster
        position = np.round(u * float(1 << 53)).astype(np.uint64)  # exact: u holds 53-bit integers
        order = np.argsort((inverse.astype(np.uint64) << np.uint64(53)) | position, kind="stable")
    else:
        order = np.lexsort((u, inverse))
    sorted_cls = inverse[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(len(u)) - starts[sorted_cls]
    q = (rank + 0.5) / counts[sorted_cls]
    out = np.empty(len(u), dtype=np.int8)
    out[order] = np.searchsorted(cuts, q, side="right")
    return out
