"""Listing through the JSON API: paging, the fields asked for, placeholders, and error answers.

The emulator returns every object in one page and ignores ``fields``, so these run against a small
HTTP server that speaks the JSON API's list call the way GCS does (pages of ``maxResults`` with a
``nextPageToken``, strings for size and generation, base64 checksums)."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from services_app.errors import ServiceError
from services_app.storage import GCS_LIST_FIELDS, Storage


class _Bucket:
    def __init__(self, keys: list[str], page: int) -> None:
        self.keys, self.page, self.requests = sorted(keys), page, []
        self.status = 200

    def item(self, key: str) -> dict:
        data = key.encode()
        return {
            "name": key,
            "size": str(len(data)),
            "generation": "1700000000000001",
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "crc32c": base64.b64encode(b"\x01\x02\x03\x04").decode(),
        }


@pytest.fixture
def fake_gcs(monkeypatch):
    state = {"bucket": _Bucket([], 2)}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            b: _Bucket = state["bucket"]
            url = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            b.requests.append((url.path, q))
            if b.status != 200:
                body = json.dumps({"error": {"code": b.status, "message": "nope"}}).encode()
                self.send_response(b.status)
            else:
                keys = [k for k in b.keys if k.startswith(q.get("prefix", ""))]
                start = int(q.get("pageToken", 0))
                size = min(int(q.get("maxResults", 1000)), b.page)
                out: dict = {"items": [b.item(k) for k in keys[start : start + size]]}
                if start + size < len(keys):
                    out["nextPageToken"] = str(start + size)
                body = json.dumps(out).encode()
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    # without a scheme, as the client library also accepts it
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"127.0.0.1:{server.server_address[1]}")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def test_listing_follows_pages_and_asks_only_for_needed_fields(fake_gcs, tmp_path):
    keys = [f"m/v1/part-{i:02d}.bin" for i in range(7)] + ["m/v1/folder/", "other/x.bin", ".services-tmp/u/x"]
    fake_gcs["bucket"] = b = _Bucket(keys, page=3)
    s = Storage(data_root=tmp_path, allowed_buckets=("bkt",))
    objs = s.gcs_list("gs://bkt/m")
    assert [o.key for o in objs] == [f"m/v1/part-{i:02d}.bin" for i in range(7)]  # no placeholder
    first = objs[0]
    assert first.bucket == "bkt" and first.size == len(first.key) and first.generation == 1700000000000001
    assert first.md5 == hashlib.md5(first.key.encode()).hexdigest() and first.crc32c == "01020304"
    assert len(b.requests) == 3  # 8 objects under m/ in pages of 3
    path, q = b.requests[0]
    assert path == "/storage/v1/b/bkt/o" and q["prefix"] == "m/" and q["fields"] == GCS_LIST_FIELDS
    assert [r[1].get("pageToken") for r in b.requests] == [None, "3", "6"]
    # the whole bucket: temporary objects of unfinished uploads are left out
    assert [o.key for o in s.gcs_list("gs://bkt/")][-1] == "other/x.bin"
    assert "prefix" not in b.requests[-1][1]


@pytest.mark.parametrize(
    ("status", "code", "http"),
    [(404, "not_found", 404), (403, "gcs_forbidden", 403), (401, "gcs_forbidden", 403), (400, "gcs_error", 502)],
)
def test_listing_errors_become_service_errors(fake_gcs, tmp_path, status, code, http):
    fake_gcs["bucket"].status = status
    s = Storage(data_root=tmp_path, allowed_buckets=("bkt",))
    with pytest.raises(ServiceError) as exc:
        s.gcs_list("gs://bkt/m")
    assert exc.value.code == code and exc.value.status == http and "gs://bkt/m/" in exc.value.message


def test_listing_unreachable_server(monkeypatch, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    s = Storage(data_root=tmp_path, allowed_buckets=("bkt",))
    with pytest.raises(ServiceError) as exc:
        s.gcs_list("gs://bkt/")
    assert exc.value.code == "gcs_unreachable" and exc.value.status == 502


def test_without_credentials_listing_and_transfers_say_how_to_provide_them(monkeypatch, tmp_path):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # do not wait for a metadata server
    s = Storage(data_root=tmp_path / "d", allowed_buckets=("bkt",))
    for call in (lambda: s.gcs_list("gs://bkt/"), lambda: s.gcs_stat("gs://bkt/x")):
        with pytest.raises(ServiceError) as exc:
            call()
        assert exc.value.code == "gcs_credentials" and exc.value.status == 503
        assert "GOOGLE_APPLICATION_CREDENTIALS" in exc.value.message


def test_a_server_that_never_answers_is_a_quick_502_not_a_hang(monkeypatch, tmp_path):
    """A bucket that takes the connection and never answers (a frozen server) gives up within the
    metadata deadline, with the error code a user can act on."""
    import socket

    from services_app.storage import gcs

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts (the kernel does) and never answers
    try:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setattr(gcs, "METADATA_TIMEOUT", (1, 1))
        monkeypatch.setattr(gcs, "METADATA_DEADLINE", 2.0)
        s = Storage(data_root=tmp_path, allowed_buckets=("bkt",))
        with pytest.raises(ServiceError) as exc:
            s.gcs_stat("gs://bkt/x.csv")
        assert exc.value.code == "gcs_unreachable" and exc.value.status == 502
        assert "did not answer" in exc.value.message
    finally:
        listener.close()


@pytest.mark.django_db
def test_health_reports_a_data_root_bucket_that_does_not_answer(client, settings, monkeypatch, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    settings.DATA_ROOT, settings.DATA_ROOT_REMOTE = tmp_path / "cache", "gs://acme/data"
    body = client.get("/api/health").json()
    assert body["data_root"] == {"ok": False, "detail": "gcs_unreachable"}
    assert body["status"] == "down" and "the data root's bucket is unreachable" in body["problems"]
    settings.DATA_ROOT_REMOTE = None
    assert client.get("/api/health").json()["data_root"] == {"ok": True, "detail": "local"}
