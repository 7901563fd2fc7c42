"""Extract text per page from one PDF; run as a child process by `pdf.py`.

pypdfium2 is not thread-safe and a hostile PDF can make a parser loop, so
extraction runs in its own process that the parent kills on timeout. Writes
JSON lines to stdout: first the document record, then one record per page.
Kept to the standard library and pypdfium2 so it starts fast. `pdf.py`
calls `extract_text` in a child process (`services_app.isolation`); the
file also runs as a script."""

import io
import json
import sys


def extract_text(path: str, password: str | None) -> tuple[str, int]:
    """`extract` into a string: (JSON lines, status)."""
    out = io.StringIO()
    code = extract(path, password, out)
    return out.getvalue(), code


def extract(path: str, password: str | None, out) -> int:
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(path, password=password)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        code = "encrypted_pdf" if "password" in msg.lower() else "corrupt_file"
        out.write(json.dumps({"error": msg, "code": code}) + "\n")
        return 3
    try:
        meta = {k: (v or None) for k, v in doc.get_metadata_dict(skip_empty=False).items()}
    except Exception:  # noqa: BLE001 - metadata is optional
        meta = {}
    n = len(doc)
    out.write(json.dumps({"document": meta, "pages": n}) + "\n")
    for i in range(n):
        page = doc[i]
        try:
            width, height = page.get_size()
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
        finally:
            page.close()
        out.write(json.dumps({"page": i + 1, "text": text, "width": width, "height": height}) + "\n")
    doc.close()
    out.flush()
    return 0


def main() -> int:
    password = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    return extract(sys.argv[1], password, sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
