"""What a file is: format from its name (and magic bytes), text encoding,
delimiter. Reads only a bounded sample from the start of the file."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

from ...errors import ServiceError

SAMPLE_BYTES = 1024 * 1024

EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xls",
    ".pdf": "pdf",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TEXT_FORMATS = {"csv", "tsv", "txt", "json", "jsonl"}


class ConversionError(ServiceError):
    """A per-file failure: recorded in the file's report entry."""

    def __init__(self, message: str, *, code: str = "conversion_failed", details=None):
        super().__init__(message, code=code, status=422, details=details)


@dataclass
class FileKind:
    format: str
    gzip: bool


def detect_format(path: Path, forced: str | None = None) -> FileKind | None:
    """The format of a file, or None when it is not one we convert."""
    name = path.name.lower()
    is_gz = name.endswith(".gz")
    if is_gz:
        name = name[:-3]
    if forced:
        return FileKind(forced, is_gz)
    suffix = Path(name).suffix
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        return None
    if is_gz and fmt not in TEXT_FORMATS:
        return None
    return FileKind(fmt, is_gz)


def read_sample(path: Path, *, is_gzip: bool, size: int = SAMPLE_BYTES) -> bytes:
    """The first ``size`` bytes of the (decompressed) content."""
    try:
        if is_gzip:
            with gzip.open(path, "rb") as f:
                return f.read(size)
        with open(path, "rb") as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error) as exc:
        raise ConversionError(
            f"cannot read the compressed file: {exc}; the gzip data is corrupt or truncated", code="corrupt_file"
        ) from None


def check_text(sample: bytes) -> None:
    if not sample.strip():
        raise ConversionError("the file is empty: there is nothing to convert", code="empty_file")
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return
    head = sample[:65536]
    if b"\x00" in head:
        raise ConversionError(
            "the file looks binary (it contains NUL bytes), not delimited text or JSON; "
            "check the file or give the right `format`",
            code="not_text",
        )
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    if controls > max(8, len(head) // 100):
        raise ConversionError("the file looks binary (many control bytes), not text", code="not_text")


def detect_encoding(sample: bytes, truncated: bool) -> str:
    """A Python codec name: utf-8 (with or without BOM), utf-16, or the best guess."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8"
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "utf-16"
    data = sample
    if truncated:  # the sample may end inside a multi-byte character
        data = sample[: max(0, len(sample) - 4)]
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:200_000]).best()
    enc = codecs.lookup(best.encoding).name if best is not None else "cp1252"
    if enc in ("ascii", "utf-8"):
        enc = "cp1252"
    # Short samples make single-byte code pages hard to tell apart; when the
    # Western European one decodes the sample, prefer it (the common case).
    if enc != "cp1252" and (enc.startswith("cp125") or enc.startswith("iso8859") or enc.startswith("latin")):
        try:
            sample.decode("cp1252")
            enc = "cp1252"
        except UnicodeDecodeError:
            pass
    return enc


def decode_sample(sample: bytes, encoding: str) -> str:
    return sample.decode(encoding, errors="replace").lstrip("\ufeff")


def detect_delimiter(text: str, fmt: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields.

    Python's csv.Sniffer is unreliable on real data; this scores each candidate
    by how consistently it splits the first 50 records (quotes respected)."""
    if fmt == "tsv":
        return "\t"
    lines = text.splitlines(keepends=True)[:200]
    chunk = "".join(lines[:-1] if len(lines) > 1 else lines)
    best, best_score = ",", 0.0
    for cand in (",", "\t", ";", "|"):
        if cand not in chunk:
            continue
        try:
            rows = list(_take(csv.reader(io.StringIO(chunk), delimiter=cand, quotechar='"', strict=False), 50))
        except csv.Error:
            continue
        counts = [len(r) for r in rows if r]
        if not counts:
            continue
        modal = max(set(counts), key=counts.count)
        if modal < 2:
            continue
        score = counts.count(modal) / len(counts) + modal / 1000
        if score > best_score:
            best, best_score = cand, score
    return best


def _take(it, n):
    for i, x in enumerate(it):
        if i >= n:
            break
        yield x


def first_record(text: str, delimiter: str, quote: str) -> list[str]:
    try:
        return next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote), [])
    except csv.Error:
        return []


def find_structure_error(path: Path, *, is_gzip: bool, encoding: str, delimiter: str, quote: str) -> str | None:
    """Scan the file with Python's csv module for the first ragged row or unmatched quote.

    Only called after the fast reader refused the file, to name the line."""
    opener = gzip.open if is_gzip else open
    try:
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
            reader = csv.reader(f, delimiter=delimiter, quotechar=quote, strict=True)
            expected = None
            for row in reader:
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    return (
                        f"line {reader.line_num} has {len(row)} fields but the first row has {expected} "
                        f"(delimiter {delimiter!r}); fix the row or check the delimiter"
                    )
    except csv.Error as exc:
        return f"malformed CSV near line {reader.line_num}: {exc} (an unmatched quote {quote!r}?)"
    except (OSError, EOFError, zlib.error) as exc:
        return f"cannot read the file: {exc}"
    return None
