"""PDF to a table: one row per page (page number, text, size) with the
document metadata as columns. Extraction runs in a child process bounded by
a timeout (see `_pdf_child.py`): pypdfium2 is not thread-safe, and a hostile
file must not hang or crash the worker. On Linux the child is forked from
this process (fast); elsewhere it is a fresh interpreter."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pypdfium2  # noqa: F401 - loaded here, once per process, so that forked extractors start warm

from .detect import TableError

CHILD = Path(__file__).with_name("_pdf_child.py")
META_COLUMNS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate", "ModDate")


def _run_forked(path: Path, password: str | None, timeout: float) -> tuple[bytes, int, bytes]:
    """Extract in a forked child (pypdfium2 already imported: no start-up cost); kill it on timeout."""
    from . import _pdf_child

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 4
        try:
            os.close(r)
            with os.fdopen(w, "w", encoding="utf-8") as out:
                code = _pdf_child.extract(str(path), password, out)
        except BaseException as exc:  # noqa: BLE001
            try:
                os.write(2, f"{type(exc).__name__}: {exc}".encode()[:400])
            except OSError:
                pass
        os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired("pdf extraction", timeout)
            ready, _, _ = select.select([r], [], [], remaining)
            if ready:
                data = os.read(r, 1 << 20)
                if not data:
                    break
                chunks.append(data)
    finally:
        os.close(r)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks), os.waitstatus_to_exitcode(status), b""


def _run_subprocess(path: Path, password: str | None, timeout: float) -> tuple[bytes, int, bytes]:
    proc = subprocess.run(
        [sys.executable, "-I", str(CHILD), str(path), password or ""],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return proc.stdout, proc.returncode, proc.stderr


def read_pdf(path: Path, *, timeout: float, password: str | None = None) -> tuple[pa.Table, dict]:
    runner = _run_forked if hasattr(os, "fork") and sys.platform == "linux" else _run_subprocess
    try:
        stdout, returncode, stderr = runner(path, password, timeout)
    except subprocess.TimeoutExpired:
        raise TableError(
            f"PDF text extraction did not finish within {timeout:g} s and was stopped; the file may be malformed "
            "(raise pdf_timeout_seconds for very large documents)",
            code="timeout",
        ) from None
    lines = stdout.decode("utf-8", errors="replace").splitlines()
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
