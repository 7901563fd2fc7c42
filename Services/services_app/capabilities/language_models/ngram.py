"""N-gram language models with add-k or interpolated Kneser-Ney smoothing.

Written with numpy on purpose (no maintained Python n-gram library fits:
NLTK's `lm` module is pure Python and far too slow for millions of tokens).
Each n-gram is packed into one int64 (mixed radix, base = vocabulary size),
counts are kept as sorted key arrays, and lookups are `searchsorted`, so
training, perplexity and next-word prediction are vectorised.

Kneser-Ney (interpolated, one absolute discount per order estimated as
D = n1 / (n1 + 2 n2)): the highest order uses raw counts, lower orders use
continuation counts N1+(. w), and the unigram level interpolates with the
uniform distribution so that every word has a probability. Out-of-vocabulary
words map to <unk>; each document is padded with n-1 <s> and ends with </s>.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa

from ...errors import ServiceError
from .text import TextSource, build_vocab, count_words, to_ids, tokenize

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2


def pad_documents(ids: np.ndarray, docs: np.ndarray, n_docs: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sequence with n-1 <s> before each non-empty document and </s> after it, and a mask of predicted positions."""
    lengths = np.bincount(docs, minlength=n_docs) if len(docs) else np.zeros(n_docs, np.int64)
    present = lengths > 0
    lengths_p = lengths[present]
    span = lengths_p + n  # n-1 <s>, the tokens, </s>
    out_start = np.concatenate(([0], np.cumsum(span)[:-1]))
    seq = np.full(int(span.sum()), BOS_ID, dtype=np.int64)
    doc_start_tok = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    remap = np.cumsum(present) - 1  # document index -> index among non-empty documents
    pos_in_doc = np.arange(len(ids)) - doc_start_tok[docs]
    seq[out_start[remap[docs]] + (n - 1) + pos_in_doc] = ids
    seq[out_start + (n - 1) + lengths_p] = EOS_ID
    return seq, seq != BOS_ID


def _ngram_keys(seq: np.ndarray, targets: np.ndarray, order: int, base: int) -> np.ndarray:
    key = np.zeros(len(targets), dtype=np.int64)
    for i in range(order):
        key = key * base + seq[targets - (order - 1) + i]
    return key


def _merge(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq, np.bincount(inverse, weights=counts).astype(np.int64)


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    if n1 == 0 or n2 == 0:
        return 0.75
    return float(min(max(n1 / (n1 + 2 * n2), 0.05), 0.95))


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    if len(keys) == 0:
        return np.zeros(len(query), dtype=values.dtype)
    pos = np.searchsorted(keys, query)
    pos_c = np.minimum(pos, len(keys) - 1)
    return np.where(keys[pos_c] == query, values[pos_c], 0)


class NgramModel:
    kind = "ngram"

    def __init__(
        self, vocab: list[str], n: int, smoothing: str, add_k: float, arrays: dict[str, np.ndarray], meta: dict
    ):
        self.vocab, self.n, self.smoothing, self.add_k = vocab, n, smoothing, add_k
        self.arrays, self.meta = arrays, meta
        self.base = len(vocab)
        self.vocab_arr = pa.array(vocab, pa.string())

    # --- training ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls, source: TextSource, *, n: int, smoothing: str, add_k: float, min_count: int, max_vocab: int, progress=None
    ) -> NgramModel:
        counts_by_word, tokens_total = count_words(source, "train")
        vocab = build_vocab(counts_by_word, min_count=min_count, max_vocab=max_vocab, specials=SPECIALS)
        base = len(vocab)
        if n * math.log2(base) >= 63:
            raise ServiceError(
                f"an order-{n} model over {base} words does not fit 64-bit keys: lower n or max_vocab "
                f"(max_vocab <= {int(2 ** (63 / n)) - 1} for n={n})",
                code="model_too_large",
            )
        vocab_arr = pa.array(vocab, pa.string())
        per_order: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n + 1)]
        seen = 0
        for batch in source.batches("train"):
            tokens, docs, n_docs = tokenize(batch)
            seq, predicted = pad_documents(to_ids(tokens, vocab_arr, UNK_ID), docs, n_docs, n)
            targets = np.flatnonzero(predicted)
            for order in range(1, n + 1):
                per_order[order].append(_merge(_ngram_keys(seq, targets, order, base), np.ones(len(targets))))
            seen += len(tokens)
            if progress:
                progress(seen / max(tokens_total, 1), f"counted {seen} of {tokens_total} tokens")
        arrays: dict[str, np.ndarray] = {}
        raw = {}
        for order in range(1, n + 1):
            parts = per_order[order]
            if not parts:
                raise ServiceError("the train split has no text", code="empty_training_data")
            raw[order] = _merge(np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts]))
        discounts = []
        for order in range(1, n + 1):
            keys, counts = raw[order]
            if smoothing == "kneser-ney" and order < n:
                higher = raw[order + 1][0]
                keys, counts = np.unique(higher % (base**order), return_counts=True)
            ctx = keys // base
            ctx_keys, ctx_index = np.unique(ctx, return_inverse=True)
            arrays[f"keys{order}"] = keys
            arrays[f"counts{order}"] = counts.astype(np.int64)
            arrays[f"ctx_keys{order}"] = ctx_keys
            arrays[f"ctx_total{order}"] = np.bincount(ctx_index, weights=counts).astype(np.int64)
            arrays[f"ctx_types{order}"] = np.bincount(ctx_index).astype(np.int64)
            discounts.append(_discount(counts))
        arrays["discounts"] = np.array(discounts, dtype=np.float64)
        meta = {
            "kind": cls.kind,
            "n": n,
            "smoothing": smoothing,
            "add_k": add_k,
            "min_count": min_count,
            "max_vocab": max_vocab,
            "vocab_size": base,
            "train_tokens": tokens_total,
            "ngrams": {str(o): int(len(arrays[f"keys{o}"])) for o in range(1, n + 1)},
            "discounts": [round(d, 4) for d in discounts],
        }
        return cls(vocab, n, smoothing, add_k, arrays, meta)

    # --- probabilities --------------------------------------------------------------------------
    def _prob(self, seq: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """P(seq[t] | the n-1 tokens before it) for every t in targets."""
        a, base, V = self.arrays, self.base, self.base - 1  # <s> is never predicted
        if self.smoothing == "add-k":
            n = self.n
            key = _ngram_keys(seq, targets, n, base)
            c = _lookup(a[f"keys{n}"], a[f"counts{n}"], key)
            total = _lookup(a[f"ctx_keys{n}"], a[f"ctx_total{n}"], key // base)
            return (c + self.add_k) / (total + self.add_k * V)
        p = np.full(len(targets), 1.0 / V)
        for order in range(1, self.n + 1):
            D = a["discounts"][order - 1]
            key = _ngram_keys(seq, targets, order, base)
            ctx = key // base
            total = _lookup(a[f"ctx_keys{order}"], a[f"ctx_total{order}"], ctx).astype(np.float64)
            types = _lookup(a[f"ctx_keys{order}"], a[f"ctx_types{order}"], ctx)
            c = _lookup(a[f"keys{order}"], a[f"counts{order}"], key)
            has = total > 0
            safe = np.where(has, total, 1.0)
            p = np.where(has, np.maximum(c - D, 0) / safe + D * types / safe * p, p)
        return p

    def _encode(self, texts: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray, int]:
        tokens, docs, n_docs = tokenize(texts)
        seq, predicted = pad_documents(to_ids(tokens, self.vocab_arr, UNK_ID), docs, n_docs, self.n)
        return seq, np.flatnonzero(predicted), len(tokens)

    def log_prob_batches(self, batches) -> tuple[float, int, int]:
        total_log, predicted, oov = 0.0, 0, 0
        for batch in batches:
            seq, targets, _ = self._encode(batch)
            if len(targets) == 0:
                continue
            p = self._prob(seq, targets)
            total_log += float(np.log(p).sum())
            predicted += len(targets)
            oov += int((seq[targets] == UNK_ID).sum())
        return total_log, predicted, oov

    def perplexity(self, texts: list[str]) -> dict:
        total_log, predicted, oov = self.log_prob_batches([texts])
        if predicted == 0:
            raise ServiceError("no text to score: give at least one non-empty text", code="empty_text")
        return {
            "perplexity": round(math.exp(-total_log / predicted), 4),
            "tokens": predicted,
            "log_prob": round(total_log, 4),
            "oov_rate": round(oov / predicted, 6),
        }

    def evaluate(self, source: TextSource) -> dict:
        total_log, predicted, oov = self.log_prob_batches(source.batches("validation"))
        if predicted == 0:
            return {"validation_tokens": 0, "validation_perplexity": None}
        return {
            "validation_tokens": predicted,
            "validation_perplexity": round(math.exp(-total_log / predicted), 4),
            "validation_oov_rate": round(oov / predicted, 6),
        }

    def next_words(self, context: str, k: int = 10) -> list[dict]:
        """The k most likely next words after ``context``."""
        tokens, _, _ = tokenize([context])
        ids = to_ids(tokens, self.vocab_arr, UNK_ID)
        history = (
            np.concatenate((np.full(self.n - 1, BOS_ID, dtype=np.int64), ids))[-(self.n - 1) :]
            if self.n > 1
            else np.zeros(0, dtype=np.int64)
        )
        a, base, V = self.arrays, self.base, self.base - 1
        if self.smoothing == "add-k":
            ctx = 0
            for t in history:
                ctx = ctx * base + int(t)
            lo, hi = np.searchsorted(a[f"keys{self.n}"], [ctx * base, ctx * base + base])
            total = float(_lookup(a[f"ctx_keys{self.n}"], a[f"ctx_total{self.n}"], np.array([ctx]))[0])
            p = np.full(base, self.add_k / (total + self.add_k * V))
            p[a[f"keys{self.n}"][lo:hi] % base] += a[f"counts{self.n}"][lo:hi] / (total + self.add_k * V)
        else:
            p = np.full(base, 1.0 / V)
            for order in range(1, self.n + 1):
                ctx = 0
                for t in history[len(history) - (order - 1) :] if order > 1 else []:
                    ctx = ctx * base + int(t)
                total = float(_lookup(a[f"ctx_keys{order}"], a[f"ctx_total{order}"], np.array([ctx]))[0])
                if total <= 0:
                    continue
                types = float(_lookup(a[f"ctx_keys{order}"], a[f"ctx_types{order}"], np.array([ctx]))[0])
                D = a["discounts"][order - 1]
                lo, hi = np.searchsorted(a[f"keys{order}"], [ctx * base, ctx * base + base])
                new = D * types / total * p
                new[a[f"keys{order}"][lo:hi] % base] += np.maximum(a[f"counts{order}"][lo:hi] - D, 0) / total
                p = new
        p[BOS_ID] = 0.0
        k = max(1, min(k, base - 1))
        top = np.argpartition(-p, k - 1)[:k]
        top = top[np.argsort(-p[top], kind="stable")]
        return [{"word": self.vocab[j], "probability": round(float(p[j]), 6)} for j in top]

    # --- persistence ------------------------------------------------------------------------------
    def save(self, folder: Path) -> list[str]:
        np.savez(folder / "ngram.npz", **self.arrays)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False))
        (folder / "model.json").write_text(json.dumps(self.meta, indent=2))
        return ["ngram.npz", "vocab.json", "model.json"]

    @classmethod
    def load(cls, folder: Path) -> NgramModel:
        meta = json.loads((folder / "model.json").read_text())
        vocab = json.loads((folder / "vocab.json").read_text())
        with np.load(folder / "ngram.npz") as data:
            arrays = {k: data[k] for k in data.files}
        return cls(vocab, meta["n"], meta["smoothing"], meta["add_k"], arrays, meta)
