"""Decoding a whole text file the way the table reader decodes tables."""

from __future__ import annotations

import codecs

from .detect import check_text, rank_encodings


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a text file's bytes: UTF-8 (with or without BOM), UTF-16 with a BOM, else the
    most plausible code page (`rank_encodings`). Binary content raises `TableError` (``not_text``)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if data.strip():
        check_text(data[: 1024 * 1024])
    guess = rank_encodings(data[: 4 * 1024 * 1024], truncated=False)
    return data.decode(guess.encoding, errors="replace"), guess.encoding
