"""Build test inputs: small PDFs by hand, workbooks with openpyxl, hostile zips."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path


def make_pdf(
    path: Path, pages: list[str], *, title: str = "Test document", encrypt: bool = False, cyclic: bool = False
) -> Path:
    """A valid PDF with one line of Helvetica text per page (xref offsets computed)."""
    objs: list[bytes] = []
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b"2 0 R" if cyclic else b" ".join(f"{p} 0 R".encode() for p in page_ids)
    objs.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(n).encode() + b" >>")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({safe}) Tj ET".encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objs.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    info_id = len(objs) + 1
    objs.append(f"<< /Title ({title}) /Author (Tests) >>".encode())
    enc_ref = b""
    if encrypt:
        enc_id = len(objs) + 1
        objs.append(
            b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <"
            + os.urandom(32).hex().encode()
            + b"> /U <"
            + os.urandom(32).hex().encode()
            + b"> >>"
        )
        enc_ref = f" /Encrypt {enc_id} 0 R".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    doc_id = os.urandom(16).hex().encode()
    out.write(
        f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R /Info {info_id} 0 R".encode()
        + enc_ref
        + b" /ID [<"
        + doc_id
        + b"> <"
        + doc_id
        + b">] >>\nstartxref\n"
        + str(xref).encode()
        + b"\n%%EOF\n"
    )
    path.write_bytes(out.getvalue())
    return path


def make_xlsx(path: Path, sheets: dict[str, list[list]]) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def _xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "S"
    wb.active.append(["a"])
    wb.active.append([1])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_zip_bomb_xlsx(path: Path, inflated_mb: int = 60) -> Path:
    """A workbook whose sheet part inflates ~1000x (its declared size gives it away)."""
    src = zipfile.ZipFile(io.BytesIO(_xlsx_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (inflated_mb * 1024 * 1024), 1)
            z.writestr(info.filename, data)
    return path


def make_billion_laughs_xlsx(path: Path) -> Path:
    lol = (
        b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode() for i in range(1, 10)
        )
        + b"]>\n"
    )
    src = zipfile.ZipFile(io.BytesIO(_xlsx_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/sharedStrings.xml" or info.filename == "xl/worksheets/sheet1.xml":
                body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
                data = lol + body
            z.writestr(info.filename, data)
    return path


def make_far_cell_xlsx(path: Path) -> Path:
    """A workbook whose sheet declares a cell at XFD1048576 (the last cell of a sheet): calamine
    tries to allocate the whole 16,384 x 1,048,576 grid and aborts the process (SIGABRT)."""
    src = zipfile.ZipFile(io.BytesIO(_xlsx_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                far = b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'
                data = data.replace(b"</sheetData>", far, 1)
            z.writestr(info.filename, data)
    return path
