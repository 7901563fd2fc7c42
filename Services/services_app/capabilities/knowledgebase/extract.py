"""Text extraction, one function per format.

Every extractor takes the file's bytes (read once; the same bytes are hashed)
and returns an `Extracted`: a title and a list of sections (one per pdf page,
one per sheet, one for everything else). A file that cannot be read raises
`ExtractionError` with a reason a person can act on; the build lists it and
goes on.

These functions run inside worker processes of the build's process pool
(`pdf` in particular: pypdfium2 is not thread-safe and a broken file can hang
it, so the pool gives every file a timeout and replaces a stuck worker).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

# Bump when extraction output changes: stored knowledge bases then re-extract every file.
EXTRACTOR_VERSION = "3"  # 3: tables through the platform's table reader

TEXT_EXTENSIONS = {".txt", ".text", ".md", ".markdown", ".rst", ".log"}
HTML_EXTENSIONS = {".html", ".htm", ".xhtml"}
TABLE_EXTENSIONS = {".csv", ".tsv", ".tab", ".xlsx", ".xlsm", ".xls", ".ods", ".parquet"}
JSON_EXTENSIONS = {".json", ".jsonl", ".ndjson"}
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | HTML_EXTENSIONS | TABLE_EXTENSIONS | JSON_EXTENSIONS | {".pdf", ".docx"}


class ExtractionError(Exception):
    def __init__(self, reason: str, *, code: str = "unreadable"):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass
class Section:
    text: str
    page: int | None = None  # 1-based pdf page
    sheet: str | None = None
    columns: list[str] | None = None


@dataclass
class Extracted:
    title: str | None
    sections: list[Section] = field(default_factory=list)
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)  # what the reader decided (skipped lines, encoding ...)


# --- text -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of a text file the way the table reader does (`tables.decode_text`): UTF-8 (with or
    without BOM), UTF-16 with BOM, else the most plausible code page. Binary content is refused."""
    from ...tables import TableError
    from ...tables import decode_text as tables_decode

    try:
        text, encoding = tables_decode(data)
    except TableError as exc:
        raise ExtractionError(
            f"binary content: this is not a text file ({exc.message.split(';')[0]})", code="binary"
        ) from None
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > 0.05 * len(sample):
        raise ExtractionError("binary content (control characters): this is not a text file", code="binary")
    return text, encoding


def extract_text(data: bytes, ext: str) -> Extracted:
    text, encoding = decode_text(data)
    title = None
    if ext in (".md", ".markdown"):
        m = re.search(r"^\s{0,3}#\s+(.+?)\s*#*\s*$", text[:20000], flags=re.M)
        title = m.group(1) if m else None
    return Extracted(title=title, sections=[Section(text=text)], encoding=encoding)


# --- html -------------------------------------------------------------------------------

_BLOCK_TAGS = "p,div,br,li,tr,h1,h2,h3,h4,h5,h6,section,article,header,footer,blockquote,pre,table,dd,dt,hr"
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")


def tidy(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def extract_html(data: bytes, ext: str) -> Extracted:
    from selectolax.lexbor import LexborHTMLParser

    text, encoding = decode_text(data)
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else None
    tree.strip_tags(["script", "style", "noscript", "template", "svg", "iframe", "object"])
    for node in tree.css(_BLOCK_TAGS):
        node.insert_after("\n")
    root = tree.body or tree.root
    body = root.text(separator="", strip=False) if root is not None else ""
    return Extracted(title=title or None, sections=[Section(text=tidy(body))], encoding=encoding)


# --- pdf --------------------------------------------------------------------------------


def extract_pdf(data: bytes, ext: str) -> Extracted:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower():
            raise ExtractionError("encrypted pdf: it needs a password to open", code="encrypted") from None
        raise ExtractionError(f"corrupt pdf: {msg}", code="corrupt") from None
    try:
        title = None
        try:
            title = (pdf.get_metadata_dict().get("Title") or "").strip() or None
        except Exception:  # noqa: BLE001 - metadata is optional; text matters
            pass
        sections = []
        for i in range(len(pdf)):
            page = pdf[i]
            try:
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()
            finally:
                page.close()
            sections.append(Section(text=tidy(text.replace("\r\n", "\n").replace("\r", "\n")), page=i + 1))
        return Extracted(title=title, sections=sections)
    finally:
        pdf.close()


# --- docx -------------------------------------------------------------------------------


def extract_docx(data: bytes, ext: str) -> Extracted:
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ExtractionError(f"corrupt docx: {exc}", code="corrupt") from None
    parts: list[str] = []
    heading = None
    for para in document.paragraphs:
        if para.text.strip():
            parts.append(para.text)
            if heading is None and (
                para.style is not None and (para.style.name or "").startswith(("Heading", "Title"))
            ):
                heading = para.text.strip()
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    title = (document.core_properties.title or "").strip() or heading
    return Extracted(title=title, sections=[Section(text="\n".join(parts))])


# --- tables -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def render_rows(columns: list[str], rows: list[list[Any]], max_rows: int) -> str:
    """One line per row: ``column: value; column: value`` (empty cells left out),
    so every line reads on its own after chunking."""
    lines = []
    for row in rows[:max_rows]:
        cells = [_cell(v) for v in row]
        pairs = [f"{columns[i] if i < len(columns) else f'column_{i + 1}'}: {v}" for i, v in enumerate(cells) if v]
        if pairs:
            lines.append("; ".join(pairs))
    return "\n".join(lines)


def _header(row: list[Any]) -> list[str]:
    return [_cell(v) or f"column_{i + 1}" for i, v in enumerate(row)]


_TABLE_CODES = {"not_text": "binary", "encoding_error": "binary", "corrupt_file": "corrupt", "unsafe_file": "corrupt"}


def extract_table(path: str | bytes, ext: str, *, max_rows: int) -> Extracted:
    """csv/tsv/tab, Parquet (the platform's own outputs too) and workbooks (xlsx/xlsm/xls/ods, every sheet)
    through the platform's table reader:
    the same encoding, delimiter, preamble and type decisions as the conversion and the checks. One
    section per sheet (one for a delimited file); the reader's warnings are not lost: they are the
    file's ``notes``."""
    from ...tables import TableError, read_tables

    try:
        tables, report = read_tables(os.fsdecode(path), limit=max_rows)
    except TableError as exc:
        if exc.code == "empty_file":
            return Extracted(title=None, sections=[Section(text="", columns=[])])
        raise ExtractionError(exc.message, code=_TABLE_CODES.get(exc.code, "corrupt")) from None
    sections = []
    for sheet, table in tables:
        columns = [str(c) for c in table.column_names]
        rows = [list(r.values()) for r in table.to_pylist()]
        sections.append(Section(text=render_rows(columns, rows, max_rows), sheet=sheet, columns=columns))
    return Extracted(title=None, sections=sections, encoding=report.encoding, notes=list(report.warnings))


# --- json -------------------------------------------------------------------------------


def _flatten(value: Any, prefix: str, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and not all(isinstance(v, str | int | float | bool) for v in value):
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    elif value is not None and value != "":
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        out.append(f"{prefix}: {shown}" if prefix else str(shown))


def _objects_to_section(objects: list[Any], max_rows: int) -> Section:
    columns: list[str] = []
    seen: set[str] = set()
    lines: list[str] = []
    for obj in objects[:max_rows]:
        if isinstance(obj, dict):
            for k in obj:
                if k not in seen:
                    seen.add(k)
                    columns.append(str(k))
        parts: list[str] = []
        _flatten(obj, "", parts)
        if parts:
            lines.append("; ".join(parts))
    return Section(text="\n".join(lines), columns=columns or None)


def extract_json(data: bytes, ext: str, *, max_rows: int) -> Extracted:
    text, encoding = decode_text(data)
    if ext in (".jsonl", ".ndjson"):
        objects = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    objects.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ExtractionError(f"invalid JSON on line {n}: {exc.msg}", code="corrupt") from None
        return Extracted(title=None, sections=[_objects_to_section(objects, max_rows)], encoding=encoding)
    try:
        value = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise ExtractionError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", code="corrupt"
        ) from None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return Extracted(title=None, sections=[_objects_to_section(value, max_rows)], encoding=encoding)
    lines: list[str] = []
    _flatten(value, "", lines)
    title = value.get("title") if isinstance(value, dict) and isinstance(value.get("title"), str) else None
    return Extracted(title=title, sections=[Section(text="\n".join(lines))], encoding=encoding)


# --- dispatch ---------------------------------------------------------------------------


def extract_bytes(data: bytes, ext: str, *, max_rows: int = 100_000) -> Extracted:
    """Extract text from a file's bytes by its (lower-case, dotted) extension."""
    ext = ext.lower()
    if not data:
        return Extracted(title=None, sections=[])
    if ext in TEXT_EXTENSIONS:
        return extract_text(data, ext)
    if ext in HTML_EXTENSIONS:
        return extract_html(data, ext)
    if ext == ".pdf":
        return extract_pdf(data, ext)
    if ext == ".docx":
        return extract_docx(data, ext)
    if ext in TABLE_EXTENSIONS:
        raise ExtractionError("tables are read from their file (extract_table)", code="unsupported")
    if ext in JSON_EXTENSIONS:
        return extract_json(data, ext, max_rows=max_rows)
    raise ExtractionError(f"unsupported file type {ext or '(no extension)'!r}", code="unsupported")


def read_and_extract(path: bytes | str, ext: str, max_rows: int = 100_000) -> dict:
    """Worker entry point: read a file once, hash it, extract it.

    Returns a plain dict (cheap to send between processes): ``sha256``,
    ``title``, ``sections`` as tuples, ``encoding``, or ``error``/``code``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return {"sha256": None, "error": f"cannot read the file: {exc.strerror or exc}", "code": "unreadable"}
    digest = hashlib.sha256(data).hexdigest()
    try:
        if ext.lower() in TABLE_EXTENSIONS and data:
            out = extract_table(path, ext.lower(), max_rows=max_rows)
        else:
            out = extract_bytes(data, ext, max_rows=max_rows)
    except ExtractionError as exc:
        return {"sha256": digest, "error": exc.reason, "code": exc.code}
    except Exception as exc:  # noqa: BLE001 - one broken file must not stop a build
        return {"sha256": digest, "error": f"{type(exc).__name__}: {exc}"[:500], "code": "extraction_failed"}
    return {
        "sha256": digest,
        "title": out.title,
        "encoding": out.encoding,
        "sections": [(s.text, s.page, s.sheet, s.columns) for s in out.sections],
    }
