"""PDF to a table: one row per page (page number, text, size) with the
document metadata as columns. Extraction runs in a child process
(`services_app.isolation`: started from a forkserver, memory capped, killed
on timeout): pypdfium2 is not thread-safe, and a hostile file must not hang,
balloon or crash the worker."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from ..isolation import ReaderCrashed, ReaderTimeout, run_isolated
from . import _pdf_child
from .detect import TableError

META_COLUMNS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate", "ModDate")


def read_pdf(path: Path, *, timeout: float, password: str | None = None) -> tuple[pa.Table, dict]:
    try:
        stdout, returncode = run_isolated(_pdf_child.extract_text, str(path), password, timeout=timeout)
        stderr = b""
    except ReaderTimeout:
        raise TableError(
            f"PDF text extraction did not finish within {timeout:g} s and was stopped; the file may be malformed "
            "(raise pdf_timeout_seconds for very large documents)",
            code="timeout",
        ) from None
    except ReaderCrashed as exc:
        raise TableError(
            f"the PDF reader crashed on this file ({exc.signal_name or f'exit status {exc.exit_status}'}); "
            "the file is malformed or too large for the reader's memory cap (READER_MEMORY_LIMIT_MB)",
            code="reader_crashed",
            details=exc.details(),
        ) from None
    except Exception as exc:  # noqa: BLE001 - pypdfium2 raising inside the reader
        stdout, returncode, stderr = "", 4, f"{type(exc).__name__}: {exc}".encode()
    lines = stdout.splitlines()
    first = json.loads(lines[0]) if lines else {}
    if "error" in first:
        if first.get("code") == "encrypted_pdf":
            raise TableError(
                "the PDF is encrypted (password protected); give pdf_password or convert a decrypted copy",
                code="encrypted_pdf",
            )
        raise TableError(f"corrupt or unreadable PDF: {first['error']}", code="corrupt_file")
    if returncode != 0 or "document" not in first:
        tail = stderr.decode("utf-8", errors="replace")[-400:]
        raise TableError(
            f"PDF extraction failed (exit status {returncode}): {tail.strip() or 'no output'}",
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
