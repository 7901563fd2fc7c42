"""PDF to a table: one row per page (page number, text, size) with the
document metadata as columns. Extraction runs in a child process bounded by
a timeout (see `_pdf_child.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from .detect import ConversionError

CHILD = Path(__file__).with_name("_pdf_child.py")
META_COLUMNS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate", "ModDate")


def read_pdf(path: Path, *, timeout: float, password: str | None = None) -> tuple[pa.Table, dict]:
    try:
        proc = subprocess.run(
            [sys.executable, "-I", str(CHILD), str(path), password or ""],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConversionError(
            f"PDF text extraction did not finish within {timeout:g} s and was stopped; the file may be malformed "
            "(raise pdf_timeout_seconds for very large documents)",
            code="timeout",
        ) from None
    lines = proc.stdout.decode("utf-8", errors="replace").splitlines()
    first = json.loads(lines[0]) if lines else {}
    if "error" in first:
        if first.get("code") == "encrypted_pdf":
            raise ConversionError(
                "the PDF is encrypted (password protected); give pdf_password or convert a decrypted copy",
                code="encrypted_pdf",
            )
        raise ConversionError(f"corrupt or unreadable PDF: {first['error']}", code="corrupt_file")
    if proc.returncode != 0 or "document" not in first:
        tail = proc.stderr.decode("utf-8", errors="replace")[-400:]
        raise ConversionError(
            f"PDF extraction failed (exit status {proc.returncode}): {tail.strip() or 'no output'}",
            code="corrupt_file",
        )
    meta = first["document"]
    pages = [json.loads(line) for line in lines[1:]]
    n = len(pages)
    cols = {
        "page": pa.array([p["page"] for p in pages], type=pa.int32()),
        "text": pa.array([p["text"] or None for p in pages], type=pa.string()),
        "char_count": pa.array([len(p["text"] or "") for p in pages], type=pa.int32()),
        "width": pa.array([p["width"] for p in pages], type=pa.float32()),
        "height": pa.array([p["height"] for p in pages], type=pa.float32()),
        "page_count": pa.array([first["pages"]] * n, type=pa.int32()),
    }
    for key in META_COLUMNS:
        cols[f"doc_{_snake(key)}"] = pa.array([meta.get(key)] * n, type=pa.string())
    return pa.table(cols), {k: v for k, v in meta.items() if v}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
