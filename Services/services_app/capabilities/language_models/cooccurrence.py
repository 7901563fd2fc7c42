"""Word co-occurrence counts and their PPMI matrix (scipy.sparse).

Counting is chunked: each batch of documents adds a sparse matrix of its
pairs to the running total, so memory grows with the number of distinct
pairs, not with the corpus. Pairs never cross documents. Each pair at
distance d within the window counts 1/d ("harmonic" weighting, as GloVe
does) or 1 ("uniform"). PPMI uses context distribution smoothing
(alpha = 0.75, Levy, Goldberg and Dagan 2015).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from ...errors import ServiceError
from .text import TextSource, build_vocab, count_words, to_ids, tokenize


def pair_counts(ids: np.ndarray, docs: np.ndarray, *, vocab_size: int, window: int, weighting: str) -> sp.csr_matrix:
    """Directed counts of (word, following word within the window) for one batch; -1 ids are skipped."""
    keys, weights = [], []
    for d in range(1, window + 1):
        if d >= len(ids):
            break
        a, b = ids[:-d], ids[d:]
        m = (a >= 0) & (b >= 0) & (docs[:-d] == docs[d:])
        keys.append(a[m] * vocab_size + b[m])
        weights.append(np.full(int(m.sum()), 1.0 / d if weighting == "harmonic" else 1.0, dtype=np.float32))
    if not keys:
        return sp.csr_matrix((vocab_size, vocab_size), dtype=np.float32)
    k = np.concatenate(keys)
    w = np.concatenate(weights)
    uniq, inverse = np.unique(k, return_inverse=True)
    summed = np.bincount(inverse, weights=w).astype(np.float32)
    rows, cols = np.divmod(uniq, vocab_size)
    return sp.csr_matrix((summed, (rows.astype(np.int32), cols.astype(np.int32))), shape=(vocab_size, vocab_size))


def ppmi(counts: sp.csr_matrix, *, alpha: float = 0.75) -> sp.csr_matrix:
    counts = counts.tocsr()
    total = float(counts.sum())
    if total == 0:
        return counts.astype(np.float32)
    row_sums = np.asarray(counts.sum(axis=1)).ravel()
    col_sums = np.asarray(counts.sum(axis=0)).ravel() ** alpha
    p_ctx = col_sums / col_sums.sum()
    rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    pmi = np.log(counts.data / total) - np.log(row_sums[rows] / total) - np.log(p_ctx[counts.indices])
    out = sp.csr_matrix(
        (np.maximum(pmi, 0).astype(np.float32), counts.indices.copy(), counts.indptr.copy()), shape=counts.shape
    )
    out.eliminate_zeros()
    return out


class CooccurrenceModel:
    kind = "cooccurrence"

    def __init__(self, vocab: list[str], counts: sp.csr_matrix, ppmi_matrix: sp.csr_matrix, meta: dict):
        self.vocab, self.counts, self.ppmi, self.meta = vocab, counts, ppmi_matrix, meta
        self.index = {w: i for i, w in enumerate(vocab)}
        self._normed_rows: sp.csr_matrix | None = None

    @property
    def _normed(self) -> sp.csr_matrix:
        """PPMI rows scaled to unit length (built on first query: cosine similarity is then a dot product)."""
        if self._normed_rows is None:
            norms = np.sqrt(np.asarray(self.ppmi.multiply(self.ppmi).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            self._normed_rows = sp.diags(1.0 / norms).dot(self.ppmi).tocsr().astype(np.float32)
        return self._normed_rows

    @classmethod
    def fit(
        cls,
        source: TextSource,
        *,
        window: int,
        min_count: int,
        max_vocab: int,
        weighting: str = "harmonic",
        alpha: float = 0.75,
        progress=None,
    ) -> CooccurrenceModel:
        counts_by_word, tokens_total = count_words(source, "train")
        vocab = build_vocab(counts_by_word, min_count=min_count, max_vocab=max_vocab)
        if not vocab:
            raise ServiceError(f"no word occurs at least {min_count} times: lower min_count", code="empty_vocabulary")
        V = len(vocab)
        vocab_arr = pa.array(vocab, pa.string())
        total = sp.csr_matrix((V, V), dtype=np.float32)
        seen = 0
        for batch in source.batches("train"):
            tokens, docs, _ = tokenize(batch)
            ids = to_ids(tokens, vocab_arr, -1)
            total = total + pair_counts(ids, docs, vocab_size=V, window=window, weighting=weighting)
            seen += len(ids)
            if progress:
                progress(seen / max(tokens_total, 1), f"counted {seen} of {tokens_total} tokens")
        counts = (total + total.T).tocsr().astype(np.float32)  # symmetric: context on either side
        meta = {
            "kind": cls.kind,
            "window": window,
            "weighting": weighting,
            "alpha": alpha,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "vocab_size": V,
            "train_tokens": tokens_total,
            "nonzero_pairs": int(counts.nnz),
        }
        return cls(vocab, counts, ppmi(counts, alpha=alpha), meta)

    def similar(self, word: str, k: int = 10) -> list[dict]:
        w = word.strip().lower()
        if w not in self.index:
            raise ServiceError(
                f"{word!r} is not in the model's vocabulary ({len(self.vocab)} words)", code="unknown_word", status=404
            )
        i = self.index[w]
        row = self._normed.getrow(i)
        sims = np.asarray(self._normed.dot(row.T).todense()).ravel()
        sims[i] = -np.inf
        k = min(k, len(sims) - 1)
        if k <= 0:
            return []
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return [{"word": self.vocab[j], "similarity": round(float(sims[j]), 6)} for j in top if sims[j] > 0]

    def evaluate(self, source: TextSource) -> dict:
        vocab_arr = pa.array(self.vocab, pa.string())
        n = oov = 0
        for batch in source.batches("validation"):
            tokens, _, _ = tokenize(batch)
            ids = to_ids(tokens, vocab_arr, -1)
            n += len(ids)
            oov += int((ids < 0).sum())
        return {"validation_tokens": n, "validation_oov_rate": round(oov / n, 6) if n else None}

    def save(self, folder: Path) -> list[str]:
        sp.save_npz(folder / "cooccurrence.npz", self.counts, compressed=False)
        sp.save_npz(folder / "ppmi.npz", self.ppmi, compressed=False)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
        (folder / "model.json").write_text(json.dumps(self.meta, indent=2))
        return ["cooccurrence.npz", "ppmi.npz", "vocab.json", "model.json"]

    @classmethod
    def load(cls, folder: Path) -> CooccurrenceModel:
        meta = json.loads((folder / "model.json").read_text())
        vocab = json.loads((folder / "vocab.json").read_text())
        return cls(
            vocab, sp.load_npz(folder / "cooccurrence.npz").tocsr(), sp.load_npz(folder / "ppmi.npz").tocsr(), meta
        )
