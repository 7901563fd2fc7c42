"""Small real PDF files written by hand: text pages, and an RC4-encrypted one
(PDF standard security handler, revision 2, 40-bit key), so tests need no
PDF writer library."""

from __future__ import annotations

import hashlib

PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _assemble(objects: list[bytes], trailer_extra: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer_extra + b" >>\n"
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def text_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A PDF whose pages show the given lines of text (Helvetica)."""
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, text in enumerate(pages):
        safe = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 20 150 Td ({safe}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 200] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    extra = b""
    if title:
        objects.append(f"<< /Title ({title}) >>".encode())
        extra = f"/Info {len(objects)} 0 R".encode()
    return _assemble(objects, extra)


def _rc4(key: bytes, data: bytes) -> bytes:
    s = list(range(256))
    j = 0
    for i in range(256):
        j = (j + s[i] + key[i % len(key)]) % 256
        s[i], s[j] = s[j], s[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) % 256
        j = (j + s[i]) % 256
        s[i], s[j] = s[j], s[i]
        out.append(byte ^ s[(s[i] + s[j]) % 256])
    return bytes(out)


def encrypted_pdf(user_password: str = "secret", owner_password: str = "owner") -> bytes:
    """A one-page PDF that needs ``user_password`` to open (no content stream, so nothing else to encrypt)."""
    file_id = hashlib.md5(b"services-test").digest()
    owner = (owner_password.encode() + PAD)[:32]
    user = (user_password.encode() + PAD)[:32]
    o_value = _rc4(hashlib.md5(owner).digest()[:5], user)
    p = -44
    key = hashlib.md5(user + o_value + p.to_bytes(4, "little", signed=True) + file_id).digest()[:5]
    u_value = _rc4(key, PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
        f"<< /Filter /Standard /V 1 /R 2 /O <{o_value.hex()}> /U <{u_value.hex()}> /P {p} >>".encode(),
    ]
    return _assemble(objects, f"/Encrypt 4 0 R /ID [<{file_id.hex()}> <{file_id.hex()}>]".encode())
