"""What a file is: format from its name (and magic bytes), text encoding,
delimiter. Reads only a bounded sample from the start of the file."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServiceError

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
    ".ods": "ods",
    ".pdf": "pdf",
    ".parquet": "parquet",
    ".pq": "parquet",
}
TEXT_FORMATS = {"csv", "tsv", "txt", "json", "jsonl"}


class TableError(ServiceError):
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
        raise TableError(
            f"cannot read the compressed file: {exc}; the gzip data is corrupt or truncated", code="corrupt_file"
        ) from None


_HIGH_BYTES = bytes(range(128, 256))
_CONTROL_BYTES = bytes([*range(9), *range(14, 32), 127])


def check_text(sample: bytes) -> None:
    """Refuse what is not text: empty, NUL bytes, many control bytes, or bytes that no text encoding
    reads plausibly (random or compressed data has no NUL run to give it away)."""
    if not sample.strip():
        raise TableError("the file is empty: there is nothing to convert", code="empty_file")
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return
    head = sample[:65536]
    if b"\x00" in head:
        raise TableError(
            "the file looks binary (it contains NUL bytes), not delimited text or JSON; "
            "check the file or give the right `format`",
            code="not_text",
        )
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if controls > max(8, len(head) // 100):
        raise TableError("the file looks binary (many control bytes), not text", code="not_text")
    high = len(head) - len(head.translate(None, _HIGH_BYTES))
    if len(head) >= 256 and high > len(head) * 0.3:
        try:
            head[: len(head) - 4].decode("utf-8")
        except UnicodeDecodeError:
            # more than 30% of the bytes above ASCII and not UTF-8: no single-byte text looks like that
            raise TableError(
                f"the file looks binary ({high * 100 // len(head)}% of its first bytes are not ASCII and it is "
                "not UTF-8), not text; check the file or give the right `format`",
                code="not_text",
            ) from None


# --- encodings ---------------------------------------------------------------------------------
# Candidate single-byte code pages for Latin text, in order of preference when they read a sample
# equally well: Western European (Windows, ISO 8859-15), Central European (Windows, ISO 8859-2),
# Mac Roman (older Mac exports), Baltic; Cyrillic (Windows) last, for the non-Latin case.
WESTERN_CANDIDATES = ("cp1252", "iso8859-15", "cp1250", "mac-roman", "iso8859-2", "cp1257", "cp1251")
# letters that Western and Central European languages use often (lower case; upper case counts too)
_COMMON_LETTERS = set("àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœąćčďęěłńňőřśšťůűźżžășțşţ")
# Central European letters: Polish, Czech and Hungarian words hold several in a row ("żółć")
_CENTRAL_LETTERS = set("ąćčďęěłńňőřśšťůűźżžășțşţ")
# symbols and punctuation that stand plausibly between words
_PLAUSIBLE_SYMBOLS = set("€£¥¢°§©®«»‹›–—‘’‚“”„…•·×÷±µ¶¿¡¬¹²³¼½¾ªº¤\u00a0")


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "?"


def plausibility(text: str) -> float:
    """How plausible the non-ASCII characters of ``text`` are as real text, per such character.

    A common accented Latin letter scores +2; a letter of another script inside a word of that script
    +1.5; a capital right after a lower-case letter ("RŽunion", "grŸnden"), a letter of one script next
    to a letter of another ("ҹber"), a symbol inside a word ("w†re") or a control character score
    negative. Mis-decoded text is full of exactly those."""
    score, n = 0.0, 0
    for i, ch in enumerate(text):
        if ord(ch) < 128:
            continue
        n += 1
        prev = text[i - 1] if i else " "
        nxt = text[i + 1] if i + 1 < len(text) else " "
        if ch == "\ufffd":
            score -= 10
            continue
        cat = unicodedata.category(ch)
        if cat[0] == "C":
            score -= 10
            continue
        if cat[0] == "L":
            script = _script(ch)
            neighbours = [c for c in (prev, nxt) if c.isalpha()]
            if any(_script(c) != script for c in neighbours):
                score -= 4  # a word mixing scripts
            elif ch.isupper() and prev.isalpha() and (prev.islower() or nxt.islower()):
                score -= 4  # a capital inside a word ("RŽunion")
            elif (
                script == "LATIN"
                and ord(prev) >= 128
                and ord(nxt) >= 128
                and prev.isalpha()
                and nxt.isalpha()
                and not {ch.lower(), prev.lower(), nxt.lower()} & _CENTRAL_LETTERS
            ):
                score -= 3  # three Western accented letters in a row: a word of another script mis-decoded
            elif script == "LATIN":
                score += 2 if ch.lower() in _COMMON_LETTERS else -0.5
            else:
                score += 1.5
            continue
        if cat[0] == "M":
            score += 0.5 if prev.isalpha() else -2
            continue
        if ch in _PLAUSIBLE_SYMBOLS:
            score += 0.5 if not (prev.isalpha() and nxt.isalpha()) else -3
            continue
        score -= 4 if prev.isalpha() and nxt.isalpha() else 1
    return score / n if n else 0.0


def _sample_line(text: str, width: int = 80) -> str:
    """The first line of ``text`` with a non-ASCII character, around that character."""
    for line in text.splitlines():
        for i, ch in enumerate(line):
            if ord(ch) >= 128:
                start = max(0, i - width // 2)
                return line[start : start + width].strip()
    return text[:width]


@dataclass
class EncodingGuess:
    encoding: str
    decision: str  # bom | utf-8 | detected
    candidates: list[dict]  # [{encoding, score, sample}], best first (only for "detected")
    uncertain: bool = False


def rank_encodings(sample: bytes, truncated: bool) -> EncodingGuess:
    """The encoding of a text sample: a BOM, else UTF-8 when it decodes, else the candidate code page
    whose decoding is most plausible (`plausibility`), preferring Western, then Central European, then
    Mac Roman on a tie; charset-normalizer's own guess is weighed too (it knows non-Latin code pages)."""
    if sample.startswith(codecs.BOM_UTF8):
        return EncodingGuess("utf-8", "bom", [])
    if sample[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return EncodingGuess("utf-16", "bom", [])
    data = sample[: max(0, len(sample) - 4)] if truncated else sample
    try:
        data.decode("utf-8")
        return EncodingGuess("utf-8", "utf-8", [])
    except UnicodeDecodeError:
        pass
    names = list(WESTERN_CANDIDATES)
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(sample[:200_000]).best()
        if best is not None:
            other = codecs.lookup(best.encoding).name
            if other not in ("ascii", "utf-8") and other not in {codecs.lookup(n).name for n in names}:
                names.append(other)
    except Exception:  # noqa: BLE001 - a second opinion only
        pass
    # score only the lines that hold non-ASCII bytes (a few hundred KB at most)
    lines = [ln for ln in data.split(b"\n") if any(b >= 128 for b in ln)][:2000]
    probe = b"\n".join(lines) or data
    ranked, seen = [], {}
    for pref, name in enumerate(names):
        try:
            text = probe.decode(name)
        except UnicodeDecodeError:
            continue
        if text in seen:  # reads exactly like a preferred candidate
            continue
        seen[text] = name
        ranked.append((plausibility(text), -pref, codecs.lookup(name).name, _sample_line(text)))
    if not ranked:
        return EncodingGuess("cp1252", "detected", [], uncertain=True)
    ranked.sort(reverse=True)
    candidates = [{"encoding": e, "score": round(s, 2), "sample": line} for s, _, e, line in ranked[:4]]
    uncertain = len(ranked) > 1 and ranked[0][0] - ranked[1][0] < 0.5
    return EncodingGuess(ranked[0][2], "detected", candidates, uncertain=uncertain)


def detect_encoding(sample: bytes, truncated: bool) -> str:
    """A Python codec name: utf-8 (with or without BOM), utf-16, or the most plausible code page."""
    return rank_encodings(sample, truncated).encoding


def decode_sample(sample: bytes, encoding: str) -> str:
    return sample.decode(encoding, errors="replace").lstrip("\ufeff")


WHITESPACE = "whitespace"  # runs of spaces and tabs between fields (aligned columns)
_NUMBERISH = re.compile(r"^[+-]?[\d.,' \u00a0\u202f]*\d[\d.,' \u00a0\u202f]*(?:[eE][+-]?\d+)?%?$")


def is_numberish(value: str) -> bool:
    """A value that is a number in some convention (decimal point or comma, thousands separators)."""
    return bool(_NUMBERISH.match(value.strip()))


def split_fields(line: str, delimiter: str, quote: str = '"') -> list[str]:
    if delimiter == WHITESPACE:
        return line.split()
    try:
        return next(csv.reader([line], delimiter=delimiter, quotechar=quote or None, strict=False), [])
    except csv.Error:
        return line.split(delimiter)


def _sample_lines(text: str, limit: int = 200) -> list[str]:
    lines = text.splitlines()[: limit + 1]
    return lines[:-1] if len(lines) > limit or (len(lines) > 1 and not text.endswith(("\n", "\r"))) else lines


def _modal(counts: list[int]) -> int:
    return max(set(counts), key=lambda c: (counts.count(c), c)) if counts else 0


def detect_delimiter(text: str, fmt: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields.

    Python's csv.Sniffer is unreliable on real data; this scores each candidate
    by how consistently it splits the first 50 records (quotes respected). When
    none of ``,`` tab ``;`` ``|`` splits the lines, fields separated by spaces
    are tried (`whitespace_delimiter`)."""
    if fmt == "tsv":
        return "\t"
    lines = text.splitlines(keepends=True)[:200]
    cut = len(lines) > 1 and not text.endswith(("\n", "\r"))  # the sample may end inside a line
    lines = lines[:-1] if cut else lines
    # comment lines ("# ...") say nothing about the table's delimiter
    kept = [ln for ln in lines if not ln.lstrip().startswith("#")]
    chunk = "".join(kept or lines)
    best, best_score = None, 0.0
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
        modal = _modal(counts)
        if modal < 2:
            continue
        score = counts.count(modal) / len(counts) + modal / 1000
        if score > best_score:
            best, best_score = cand, score
    if best is not None and best_score >= 0.5:
        return best
    return whitespace_delimiter(text) or best or ","


def whitespace_delimiter(text: str) -> str | None:
    """``" "`` (single spaces) or `WHITESPACE` (runs of spaces/tabs) when the lines split on
    whitespace into the same number (> 1) of fields and some column holds numbers on every body
    line; None otherwise (prose has spaces too, but not a number in the same place on each line)."""
    lines = [ln for ln in _sample_lines(text) if ln.strip()]
    if len(lines) < 2 or '"' in "".join(lines[:50]):
        return None
    rows = [ln.split() for ln in lines]
    modal = _modal([len(r) for r in rows])
    body = [r for r in rows if len(r) == modal]
    if modal < 2 or len(body) < max(2, 0.95 * len(rows)):
        return None
    if len(rows[0]) != modal and (len(rows) < 3 or len(rows[1]) != modal or not _header_like(rows[1])):
        return None  # the header (or the first row) splits like the body; one title line may precede it
    body = body[1:] if len(body) > 2 else body
    if not any(all(is_numberish(r[i]) for r in body) for i in range(modal)):
        return None
    single = all(
        ln == " ".join(ln.split(" ")) and "  " not in ln and "\t" not in ln and ln == ln.strip() for ln in lines
    )
    return " " if single else WHITESPACE


def _fits_body(row: list[str], numeric: list[bool]) -> bool:
    return all(not num or not v.strip() or is_numberish(v) for v, num in zip(row, numeric, strict=False))


def _header_like(row: list[str]) -> bool:
    return all(v.strip() and not is_numberish(v) for v in row)


def _records(text: str, delimiter: str, quote: str, limit: int = 200) -> list[tuple[list[str], int, str]]:
    """[(fields, first physical line, raw first line)] of the sample's first records, quotes respected
    (a quoted field may span lines); the last record is left out when the sample may cut it."""
    lines = text.splitlines()
    if delimiter == WHITESPACE:
        out = [(ln.split(), i, ln) for i, ln in enumerate(lines[: limit + 1])]
    else:
        out = []
        reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote or None, strict=False)
        start = 0
        try:
            for row in reader:
                out.append((row, start, lines[start] if start < len(lines) else ""))
                start = reader.line_num
                if len(out) > limit:
                    break
        except csv.Error:
            pass
    if len(out) > limit or (len(out) > 1 and not text.endswith(("\n", "\r"))):
        out = out[:-1]
    return out


def detect_preamble(
    text: str, delimiter: str, quote: str = '"', *, comment: str | None = None, max_lines: int = 50
) -> int:
    """How many leading lines come before the table (titles, notes, a line of counts ...).

    A leading line is preamble when its field count differs from the body's (blank lines and
    comment lines included), or when it is typed unlike the body (text where the body has numbers)
    and is followed by a header line (all text) that is itself followed by the body. Lines starting
    with ``#`` are preamble when no body line does. Returns a count of physical lines."""
    records = _records(text, delimiter, quote)
    if len(records) < 3:
        return 0
    rows = [r for r, _, _ in records]
    body_rows = rows[10:] if len(rows) > 30 else rows[1:]
    modal = _modal([len(r) for r in body_rows if len(r) >= 2])  # title lines have one field
    if modal < 2:
        return 0
    hash_body = any(raw.lstrip().startswith("#") for _, _, raw in records[10:])
    skip = 0
    limit = min(max_lines, len(rows) - 2)
    while skip < limit:
        raw = records[skip][2].lstrip()
        if len(rows[skip]) != modal or (comment and raw.startswith(comment)) or (raw.startswith("#") and not hash_body):
            skip += 1
        else:
            break
    body = [r for r in rows[skip + 2 :] if len(r) == modal]
    if body:
        numeric = []
        for i in range(modal):
            filled = [r[i] for r in body if r[i].strip()]
            numeric.append(bool(filled) and sum(1 for v in filled if is_numberish(v)) >= 0.9 * len(filled))
        while any(numeric) and skip < limit:
            first, second = rows[skip], rows[skip + 1]
            if (
                len(first) == modal
                and len(second) == modal
                and not _fits_body(first, numeric)
                and not _header_like(first)
                and _header_like(second)
            ):
                skip += 1
            else:
                break
    return records[skip][1] if skip < len(records) else skip


def has_header(text: str, delimiter: str, quote: str = '"', skip: int = 0) -> bool | None:
    """True when the first line after ``skip`` is all text over a body with numbers, False when it
    is typed like the body, None when the lines cannot tell (every column text)."""
    rows = [r for r, line, _ in _records(text, delimiter, quote) if line >= skip and r]
    if len(rows) < 2:
        return None
    modal = _modal([len(r) for r in rows[1:]])
    body = [r for r in rows[1:] if len(r) == modal]
    numeric = [
        all(is_numberish(r[i]) for r in body if r[i].strip()) and any(r[i].strip() for r in body) for i in range(modal)
    ]
    if not any(numeric) or len(rows[0]) != modal:
        return None
    return not _fits_body(rows[0], numeric)


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


def find_structure_error(
    path: Path, *, is_gzip: bool, encoding: str, delimiter: str, quote: str, skip: int = 0
) -> str | None:
    """Scan the file with Python's csv module for the first ragged row or unmatched quote (after the
    ``skip`` lines of preamble).

    Only called after the fast reader refused the file, to name the line."""
    opener = gzip.open if is_gzip else open
    try:
        with opener(path, "rt", encoding=encoding, errors="replace", newline="") as f:
            for _ in range(skip):
                f.readline()
            reader = csv.reader(f, delimiter=delimiter, quotechar=quote, strict=True)
            expected = None
            for row in reader:
                if not row:
                    continue
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    hint = "fix the row or check the delimiter"
                    mark = "#" if row[0].lstrip().startswith("#") else None
                    if mark:  # reads as a comment line
                        hint += f"; if lines starting with {mark!r} are comments, set the `comment` option"
                    return (
                        f"line {reader.line_num + skip} has {len(row)} fields but the first row has {expected} "
                        f"(delimiter {delimiter!r}); {hint}"
                    )
    except csv.Error as exc:
        return f"malformed CSV near line {reader.line_num}: {exc} (an unmatched quote {quote!r}?)"
    except (OSError, EOFError, zlib.error) as exc:
        return f"cannot read the file: {exc}"
    return None
