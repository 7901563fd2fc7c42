"""Tokenising and reading text for language models, vectorised with Arrow.

Tokens are lower-cased runs of letters and digits (Unicode aware); punctuation
is dropped. The same tokenizer runs at training and at query time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import ServiceError
from ..transforms import SUFFIXES, read_schema, read_table, stable_hash, unit_interval

SPLIT_PATTERN = r"[^\p{L}\p{N}]+"
BATCH_ROWS = 50_000


def tokenize(texts: pa.Array | pa.ChunkedArray | list[str]) -> tuple[pa.Array, np.ndarray, int]:
    """All tokens of a batch of texts, flattened, with the document index of each token."""
    if isinstance(texts, list):
        texts = pa.array(texts, pa.string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not pa.types.is_string(texts.type) and not pa.types.is_large_string(texts.type):
        texts = pc.cast(texts, pa.string())
    lists = pc.split_pattern_regex(pc.utf8_lower(pc.fill_null(texts, "")), SPLIT_PATTERN)
    flat = pc.list_flatten(lists)
    parents = pc.list_parent_indices(lists)
    keep = pc.not_equal(flat, "")
    return pc.filter(flat, keep), pc.filter(parents, keep).to_numpy(), len(texts)


class TextSource:
    """Train and validation texts of a source.

    A transform output folder (with ``train.parquet`` and ``validation.parquet``)
    is used as split; a single file is split by hashing each text (the same
    stable hash as transforms), ``validation_fraction`` of it for validation."""

    def __init__(self, path: Path, *, text_column: str, validation_fraction: float = 0.1, seed: int = 42):
        self.path, self.text_column = path, text_column
        self.validation_fraction, self.seed = validation_fraction, seed
        if path.is_dir() and (path / "train.parquet").exists():
            self.files = {"train": path / "train.parquet", "validation": path / "validation.parquet"}
            columns = pq.read_schema(self.files["train"]).names
        elif path.is_file() and path.suffix.lower() in SUFFIXES:
            self.files = None
            columns = read_schema(path).names
        else:
            raise ServiceError(
                f"{path.name!r} is neither a transformed dataset folder (with train.parquet) nor a csv/parquet/jsonl file",
                code="invalid_source",
            )
        if text_column not in columns:
            raise ServiceError(
                f"column {text_column!r} not found in the source; its columns are: {', '.join(columns)}",
                code="unknown_column",
                details={"missing": [text_column], "columns": columns},
            )
        self._single: dict[str, pa.Array] | None = None

    def _split_single(self) -> dict[str, pa.Array]:
        if self._single is None:
            texts = read_table(self.path).column(self.text_column)
            texts = (
                pc.cast(texts, pa.string()).combine_chunks() if texts.type != pa.string() else texts.combine_chunks()
            )
            u = unit_interval(stable_hash(pc.fill_null(texts, "").to_numpy(zero_copy_only=False), seed=self.seed))
            val = u >= 1 - self.validation_fraction
            self._single = {"train": texts.filter(pa.array(~val)), "validation": texts.filter(pa.array(val))}
        return self._single

    def batches(self, split: str) -> Iterator[pa.Array]:
        if self.files is None:
            arr = self._split_single()[split]
            for start in range(0, len(arr), BATCH_ROWS):
                yield arr.slice(start, BATCH_ROWS)
            return
        path = self.files[split]
        if not path.exists():
            return
        for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=[self.text_column]):
            yield batch.column(0)

    def rows(self, split: str) -> int:
        if self.files is None:
            return len(self._split_single()[split])
        path = self.files[split]
        return pq.ParquetFile(path).metadata.num_rows if path.exists() else 0


def count_words(source: TextSource, split: str = "train", progress=None) -> tuple[Counter, int]:
    counts: Counter = Counter()
    tokens_total = 0
    for i, batch in enumerate(source.batches(split)):
        tokens, _, _ = tokenize(batch)
        tokens_total += len(tokens)
        if len(tokens):
            vc = pc.value_counts(tokens)
            counts.update(dict(zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True)))
        if progress:
            progress(i)
    return counts, tokens_total


def build_vocab(counts: Counter, *, min_count: int, max_vocab: int, specials: tuple[str, ...] = ()) -> list[str]:
    words = [w for w, c in counts.items() if c >= min_count and w not in specials]
    words.sort(key=lambda w: (-counts[w], w))
    return [*specials, *words[: max(0, max_vocab - len(specials))]]


def to_ids(tokens: pa.Array, vocab: pa.Array, unknown: int) -> np.ndarray:
    ids = pc.index_in(tokens, value_set=vocab)
    return pc.fill_null(ids, unknown).to_numpy().astype(np.int64)
