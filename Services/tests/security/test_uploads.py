"""Uploads: refused early by Content-Length, aborted while streaming once over the cap, temporary files
removed; too many parts a clear 400. Requests go through Django's real WSGI handler with a body that is
generated as it is read, so the test sees how many bytes the server pulled in."""

from __future__ import annotations

import io
import json
from http import HTTPStatus

import pytest
from django.core.handlers.wsgi import WSGIHandler

MiB = 1024 * 1024
BOUNDARY = "----servicesboundary"


class LazyMultipart(io.RawIOBase):
    """A multipart body with one file of ``size`` bytes, produced as it is read; counts what was read."""

    def __init__(self, size: int, field: str = "files", filename: str = "big.csv"):
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.total = len(self.head) + size + len(self.tail)
        self.pos = 0

    def readable(self):
        return True

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.total - self.pos
        out = bytearray()
        while n > 0 and self.pos < self.total:
            if self.pos < len(self.head):
                chunk = self.head[self.pos : self.pos + n]
            elif self.pos < len(self.head) + self.size:
                left = len(self.head) + self.size - self.pos
                chunk = b"a" * min(n, left, 4 * MiB)
            else:
                off = self.pos - len(self.head) - self.size
                chunk = self.tail[off : off + n]
            out += chunk
            self.pos += len(chunk)
            n -= len(chunk)
        return bytes(out)

    def readline(self, size=-1):
        return self.read(size if size and size > 0 else 65536)


def wsgi_post(path: str, body: io.RawIOBase, *, content_length: int, api_key: str) -> tuple[int, dict]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": body,
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
        "CONTENT_LENGTH": str(content_length),
        "HTTP_X_API_KEY": api_key,
        "REMOTE_ADDR": "127.0.0.1",
    }
    status: dict = {}

    def start_response(s, headers):
        status["code"] = int(s.split()[0])

    chunks = WSGIHandler()(environ, start_response)
    data = b"".join(chunks)
    return status["code"], json.loads(data)


@pytest.fixture
def capped(settings, tmp_path):
    settings.MAX_UPLOAD_BYTES = 1 * MiB
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    (tmp_path / "upload-tmp").mkdir()
    return tmp_path / "upload-tmp"


def _leftovers(settings, tmp_dir):
    files = [p for p in tmp_dir.rglob("*") if p.is_file()]
    uploads = settings.DATA_ROOT / "uploads"
    if uploads.exists():
        files += [p for p in uploads.rglob("*") if p.is_file()]
    return files


@pytest.mark.django_db(transaction=True)
def test_300_mib_upload_with_1_mib_cap_is_refused_before_reading(api_key, settings, capped):
    body = LazyMultipart(300 * MiB)
    code, payload = wsgi_post("/api/conversions/upload", body, content_length=body.total, api_key=api_key)
    assert code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE, payload
    assert payload["error"]["code"] == "too_large"
    assert "1048576" in payload["error"]["message"]
    assert body.pos < 1 * MiB  # refused from Content-Length: (almost) nothing was read
    assert _leftovers(settings, capped) == []


@pytest.mark.django_db(transaction=True)
def test_upload_over_the_cap_is_aborted_while_streaming(api_key, settings, capped):
    """A body whose Content-Length passes the early check (cap plus envelope) but whose file is over the cap:
    the stream is cut at the cap and the partial temporary file removed."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024  # so the part goes to a temporary file on disk
    body = LazyMultipart(MiB + 512 * 1024)
    code, payload = wsgi_post("/api/conversions/upload", body, content_length=body.total, api_key=api_key)
    assert code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE, payload
    assert "big.csv" in payload["error"]["message"]
    assert body.pos < MiB + 256 * 1024  # reading stopped near the cap, not at the end of the body
    assert _leftovers(settings, capped) == []


@pytest.mark.django_db(transaction=True)
def test_upload_under_the_cap_still_works(api_key, settings, capped):
    body = LazyMultipart(100 * 1024)
    code, payload = wsgi_post("/api/conversions/upload", body, content_length=body.total, api_key=api_key)
    assert code == HTTPStatus.ACCEPTED, payload
    assert [p for p in capped.rglob("*") if p.is_file()] == []  # Django's temporary files are gone


@pytest.mark.django_db
def test_a_thousand_parts_answer_400(api, settings):
    files = {f"f{i}": io.BytesIO(b"a,b\n1,2\n") for i in range(1000)}
    for i, f in enumerate(files.values()):
        f.name = f"part{i}.csv"
    r = api.post("/api/conversions/upload", files)
    assert r.status_code == HTTPStatus.BAD_REQUEST, r.content[:300]
    error = r.json()["error"]
    assert error["code"] == "too_many_files" and error["details"]["max_files"] == settings.DATA_UPLOAD_MAX_NUMBER_FILES
