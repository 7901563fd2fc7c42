"""Near-duplicate sets, and conflicting labels inside them.

Texts: cosine similarity of the (unit-length) embeddings at or above ``min_similarity``.
Candidate pairs come from random-hyperplane locality-sensitive hashing (Charikar, "Similarity
estimation techniques from rounding algorithms", STOC 2002): hash tables of ``bits`` random
hyperplanes each; two vectors at angle theta share a bucket in one table with probability
(1 - theta/pi)^bits. ``bits`` grows with log2 of the rows (16 up to 2,048 rows, 20 at 40,000),
so unrelated rows rarely share a bucket and the work grows about linearly with the rows, not
with their square; the number of tables is chosen so a pair at ``min_similarity`` is found
with probability 0.99 (23 tables at 16 bits and cosine 0.95).
Every candidate pair is verified with its exact cosine. Exact duplicates after normalising
(case, whitespace, punctuation) are always found, and so are texts of six words or more that are
equal once one word is removed from each (one word substituted, inserted or deleted), which the
embeddings miss when that word is a name or a number.

Tables: rows whose values are equal after normalising: strings case-folded with whitespace
collapsed, numbers standardised by the reference and rounded to ``tolerance`` standard
deviations (default 0.01). Hashing, linear in the rows.

Sets are connected components of the similar pairs (scipy's ``connected_components``); a set
holds new rows and, when a reference is given, reference rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_BUCKET = 400  # rows of one bucket (a dense region) are compared with at most this many neighbours in it


@dataclass
class DuplicateSets:
    set_id: np.ndarray  # per pooled row (reference rows first): set number, -1 when in no set
    n_ref: int
    pairs_checked: int
    method: str


def _normalise_text(texts: pd.Series) -> pd.Series:
    return (
        texts.fillna("")
        .astype(str)
        .str.casefold()
        .str.replace(r"[^\w\s]", " ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )


def _code_pairs(codes: np.ndarray) -> np.ndarray:
    """Pairs of rows with equal codes, vectorised: rows sorted by code, each paired with the next 1, 2, ...
    rows while codes stay equal (at most ``MAX_BUCKET`` apart, so a huge bucket costs n * MAX_BUCKET)."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    out = []
    for gap in range(1, min(MAX_BUCKET, len(codes))):
        same = sorted_codes[gap:] == sorted_codes[:-gap]
        if not same.any():
            break
        out.append(np.stack([order[:-gap][same], order[gap:][same]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def _star_pairs(groups: list[np.ndarray]) -> np.ndarray:
    """Each member of a group paired with the group's first member: the same sets, linear in the rows."""
    out = [np.stack([np.full(len(g) - 1, g[0]), g[1:]], axis=1) for g in groups]
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.int64)


def _buckets(codes: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    cuts = np.flatnonzero(np.diff(sorted_codes)) + 1
    return [g for g in np.split(order, cuts) if len(g) > 1]


def lsh_plan(n: int, min_similarity: float, recall: float = 0.99) -> tuple[int, int]:
    """(bits, tables): bits grow with log2(n), so a bucket holds a few unrelated rows whatever n is (the work
    stays about linear); tables are as many as a pair at ``min_similarity`` needs to meet with ``recall``."""
    bits = max(16, int(np.ceil(np.log2(max(n, 2)))) + 5)
    p_bit = 1.0 - np.arccos(np.clip(min_similarity, -1, 1)) / np.pi
    p_table = p_bit**bits
    tables = int(np.ceil(np.log(1 - recall) / np.log(1 - p_table))) if p_table < 1 else 1
    return bits, int(min(max(tables, 1), 96))


def lsh_pairs(
    vectors: np.ndarray, *, min_similarity: float, bits: int | None = None, tables: int | None = None, seed: int = 0
):
    """Pairs (i < j) with cosine >= ``min_similarity`` among unit-length ``vectors``; and how many were checked."""
    planned = lsh_plan(len(vectors), min_similarity)
    bits, tables = bits or planned[0], tables or planned[1]
    rng = np.random.default_rng(seed)
    weights = (1 << np.arange(bits)).astype(np.int64)
    found, checked = [], 0
    for _ in range(tables):
        planes = rng.standard_normal((vectors.shape[1], bits)).astype(np.float32)
        codes = ((vectors @ planes) > 0).astype(np.int64) @ weights
        pairs = _code_pairs(codes)
        if not len(pairs):
            continue
        checked += len(pairs)
        sims = np.einsum("ij,ij->i", vectors[pairs[:, 0]], vectors[pairs[:, 1]])
        found.append(pairs[sims >= min_similarity])
    if not found:
        return np.zeros((0, 2), dtype=np.int64), checked
    pairs = np.unique(np.sort(np.concatenate(found), axis=1), axis=0)
    return pairs, checked


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    set_id = np.full(n, -1, dtype=np.int64)
    if not len(pairs):
        return set_id
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    in_pair = np.zeros(n, dtype=bool)
    in_pair[pairs.ravel()] = True
    # Renumber the sets that hold a pair 0, 1, 2 ... in order of first row.
    _, first = np.unique(labels[in_pair], return_index=True)
    order = labels[in_pair][np.sort(first)]
    mapping = {old: new for new, old in enumerate(order)}
    set_id[in_pair] = [mapping[x] for x in labels[in_pair]]
    return set_id


MIN_WORDS_ONE_WORD_OFF = 6
_MOD = (1 << 61) - 1
_BASE = 1_000_003


def one_word_off_pairs(norm: np.ndarray) -> np.ndarray:
    """Pairs of normalised texts (of at least 6 words) that are equal once one word is removed from each:
    one word substituted, inserted or deleted. Each text gets one signature per word (a rolling hash of
    the text without that word); texts sharing a signature are paired. Linear in the words.

    Embeddings miss these when the changed word is a name or a number (all-MiniLM-L6-v2 put such pairs
    at cosine 0.64-0.90)."""
    sigs: list[int] = []
    rows: list[int] = []
    for row, text in enumerate(norm):
        words = text.split()
        if len(words) < MIN_WORDS_ONE_WORD_OFF:
            continue
        hashes = [hash(w) & 0xFFFFFFFFFFFF for w in words]
        n = len(hashes)
        prefix = [0] * (n + 1)
        for i, h in enumerate(hashes):
            prefix[i + 1] = (prefix[i] * _BASE + h) % _MOD
        powers = [1] * (n + 1)
        for i in range(n):
            powers[i + 1] = powers[i] * _BASE % _MOD
        for i in range(n):
            # hash of words[:i] + words[i+1:] = prefix(i) * BASE^(n-i-1) + (hash of the suffix after i)
            suffix = (prefix[n] - prefix[i + 1] * powers[n - i - 1]) % _MOD
            sigs.append(((prefix[i] * powers[n - i - 1] + suffix) * 31 + n - 1) % _MOD)
            rows.append(row)
        sigs.append((prefix[n] * 31 + n) % _MOD)  # the whole text: meets a longer text with one word more
        rows.append(row)
    if not sigs:
        return np.zeros((0, 2), dtype=np.int64)
    sig = np.array(sigs, dtype=np.int64)
    row = np.array(rows, dtype=np.int64)
    pairs = _star_pairs([row[g] for g in _buckets(sig)])
    return pairs[pairs[:, 0] != pairs[:, 1]] if len(pairs) else pairs


def text_sets(
    texts: pd.Series, vectors: np.ndarray | None, *, n_ref: int, min_similarity: float, seed: int = 0
) -> DuplicateSets:
    """Near-duplicate sets of texts (reference rows first in ``texts`` and ``vectors``)."""
    norm = _normalise_text(texts).to_numpy()
    exact = _star_pairs(_buckets(pd.util.hash_array(norm.astype(object)).astype(np.int64)))
    lexical = one_word_off_pairs(norm)
    exact = np.concatenate([exact, lexical]) if len(lexical) else exact
    pairs, checked, method = exact, len(exact), "normalised text, one word off"
    if vectors is not None and len(vectors) > 1:
        near, checked_near = lsh_pairs(vectors, min_similarity=min_similarity, seed=seed)
        pairs = np.concatenate([exact, near]) if len(near) else exact
        checked += checked_near
        method = f"normalised text, one word off, and embeddings at cosine >= {min_similarity} (random-hyperplane LSH)"
    return DuplicateSets(set_id=_components(len(texts), pairs), n_ref=n_ref, pairs_checked=checked, method=method)


def table_sets(
    frames: list[pd.DataFrame], *, numeric: list[str], categorical: list[str], n_ref: int, tolerance: float
) -> DuplicateSets:
    """Near-duplicate sets of table rows (the frames are pooled in order; reference first when given)."""
    pooled = pd.concat(frames, ignore_index=True)
    base = frames[0]
    canon = {}
    for col in numeric:
        values = pd.to_numeric(pooled[col], errors="coerce").astype(float)
        scale = float(pd.to_numeric(base[col], errors="coerce").std())
        scale = scale if np.isfinite(scale) and scale > 0 else 1.0
        canon[col] = np.round(values / (scale * tolerance)).astype(str)
    for col in categorical:
        s = pooled[col]
        canon[col] = (
            s.astype(str).str.casefold().str.replace(r"\s+", " ", regex=True).str.strip().where(s.notna(), "\x00")
        )
    if not canon:
        return DuplicateSets(set_id=np.full(len(pooled), -1), n_ref=n_ref, pairs_checked=0, method="no features")
    hashes = pd.util.hash_pandas_object(pd.DataFrame(canon), index=False).to_numpy().astype(np.int64)
    pairs = _star_pairs(_buckets(hashes))
    return DuplicateSets(
        set_id=_components(len(pooled), pairs),
        n_ref=n_ref,
        pairs_checked=len(pairs),
        method=f"rows equal after normalising (strings case-folded, numbers to {tolerance} standard deviations)",
    )


def summarise(sets: DuplicateSets, labels: np.ndarray | None) -> dict:
    """Counts over the new rows: rows in a set, sets, sets that reach into the reference, and
    conflicting sets (more than one label among the set's rows, reference rows included)."""
    set_id, n_ref = sets.set_id, sets.n_ref
    new_ids = set_id[n_ref:]
    in_set = new_ids >= 0
    ids = np.unique(new_ids[in_set])
    frame = pd.DataFrame({"set": set_id, "new": np.arange(len(set_id)) >= n_ref})
    if labels is not None:
        labels = pd.Series(labels, dtype=object)
        frame["label"] = labels.astype(str).where(labels.notna(), None).to_numpy()  # a missing label is no class
    frame = frame[frame["set"].isin(ids)]
    conflicting_sets: list[int] = []
    if labels is not None and len(frame):
        n_labels = frame.groupby("set")["label"].nunique()
        conflicting_sets = [int(s) for s in n_labels.index[n_labels > 1]]
    with_ref = frame.groupby("set")["new"].all()
    conflict_rows = np.isin(new_ids, conflicting_sets)
    # Rows beyond the first of each set: what removing the duplicates would drop.
    new_frame = frame[frame["new"]]
    extra = int(len(new_frame) - new_frame["set"].nunique()) if len(new_frame) else 0
    return {
        "rows": int(len(new_ids)),
        "rows_in_sets": int(in_set.sum()),
        "share_in_sets": round(float(in_set.mean()) if len(new_ids) else 0.0, 4),
        "redundant_rows": extra,
        "sets": int(len(ids)),
        "sets_with_reference_rows": int((~with_ref).sum()),
        "conflicting_sets": len(conflicting_sets),
        "rows_in_conflicting_sets": int(conflict_rows.sum()),
        "conflicting_share": round(float(conflict_rows.mean()) if len(new_ids) else 0.0, 4),
        "method": sets.method,
        "_conflict_rows": conflict_rows,
    }
