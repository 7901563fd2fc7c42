"""Data download connectors against a local HTTP server that plays the real APIs
(paging, rate limits, 500 storms, cut-off bodies) and against the GCS emulator."""

from __future__ import annotations

import hashlib
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from services_app.capabilities.downloads.jobs import download
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from tests.conftest import run_job_now

CSV = b"name,value\nalpha,1\nbeta,2\ngamma,3\n"
STOCK = "cd2bda71-760b-4fcc-8a0b-3877c10000a8"
A2 = "c0016b33-8cf7-415c-ac6e-deba0d21440d"
PROCESSES = [
    {
        "uuid": f"00000000-0000-0000-0000-{i:012d}",
        "name": f"Concrete C{i}",
        "version": "00.01.000",
        "classific": "Mineral building products",
        "geo": "DE",
        "refYear": 2020 + i % 3,
        "stock": i % 2 == 0,
        "a2": i % 3 == 0,
    }
    for i in range(7)
]


class Api(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    events: list[tuple] = []  # ("hit", path) in the order the server saw the requests
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body: bytes, ctype="application/json", headers=None, length=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        with self.lock:
            n = self.hits[url.path] = self.hits.get(url.path, 0) + 1
            self.events.append(("hit", url.path))
        path = url.path
        if path == "/data.csv":
            return self._send(200, CSV, "text/csv; charset=utf-8")
        if path == "/flaky.csv":
            if n <= 2:
                return self._send(503, b"busy", "text/plain", {"Retry-After": "0"})
            return self._send(200, CSV, "text/csv")
        if path == "/limited.csv":
            if n == 1:
                return self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
            return self._send(200, CSV, "text/csv")
        if path == "/storm.csv" or path.startswith("/storm/"):
            return self._send(500, b"oops", "text/plain")
        if path == "/cut.csv":
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(CSV)
            self.wfile.flush()
            self.close_connection = True
            return None
        if path == "/page.html":
            return self._send(200, b"<html></html>", "text/html")
        if path == "/big.bin":
            return self._send(200, b"x" * 5000, "application/octet-stream")
        if path.startswith("/resource/"):
            return self._soda(path[len("/resource") :], q)
        return self._send(404, b"{}")

    def _soda(self, path, q):
        assert q.get("format") == "JSON"
        items = PROCESSES
        if path.startswith(f"/datastocks/{STOCK}/"):
            items = [p for p in items if p["stock"]]
            path = path[len(f"/datastocks/{STOCK}") :]
        if q.get("compliance") == A2:
            assert q.get("search") == "true"
            items = [p for p in items if p["a2"]]
        if path == "/processes":
            start, size = int(q.get("startIndex", 0)), int(q.get("pageSize", 500))
            page = {
                "startIndex": start,
                "pageSize": size,
                "totalCount": len(items),
                "data": items[start : start + size],
            }
            return self._send(200, json.dumps(page).encode())
        uid = path.rsplit("/", 1)[-1]
        match = [p for p in PROCESSES if p["uuid"] == uid]
        if match:
            return self._send(200, json.dumps({"processInformation": {"dataSetInformation": {"UUID": uid}}}).encode())
        return self._send(404, b"{}")


@pytest.fixture
def server():
    Api.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ctx(tmp_path):
    from services_app.storage import Storage

    return JobContext(storage=Storage(data_root=tmp_path / "data"))


FAST = {"retries": 3, "backoff_seconds": 0.01, "max_wait_seconds": 2}


def raw_files(ctx):
    root = ctx.storage.data_root / "raw"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_url_download_records_checksum_and_converts(ctx, server):
    sha = hashlib.sha256(CSV).hexdigest()
    out = download(
        ctx,
        {
            "connector": "url",
            "params": {"url": f"{server}/data.csv", "sha256": sha, "content_type": "text/csv"},
            "convert": True,
        },
    )
    f = out["files"][0]
    assert f["location"] == "raw/url/127.0.0.1/data.csv" and f["sha256"] == sha and f["size"] == len(CSV)
    assert (ctx.storage.data_root / f["location"]).read_bytes() == CSV
    sidecar = json.loads((ctx.storage.data_root / out["manifest"]).read_text())
    assert sidecar["sha256"] == sha and sidecar["source"] == f"{server}/data.csv"
    assert out["parquet"] == ["parquet/url/127.0.0.1/data.parquet"]
    table = pq.read_table(ctx.storage.data_root / out["parquet"][0])
    assert table.column("name").to_pylist() == ["alpha", "beta", "gamma"]


def test_retries_5xx_and_429_honouring_retry_after(ctx, server, monkeypatch):
    """The waits between attempts are the server's Retry-After, in order between its requests (the
    downloader's sleeps are recorded next to the server's log of requests, not timed)."""
    import time
    import types

    from services_app.capabilities.downloads import http

    def sleep(seconds):
        with Api.lock:
            Api.events.append(("sleep", seconds))

    monkeypatch.setattr(http, "time", types.SimpleNamespace(time=time.time, sleep=sleep))
    Api.events.clear()
    out = download(ctx, {"connector": "url", "params": {"url": f"{server}/flaky.csv", **FAST}})
    assert out["files"][0]["size"] == len(CSV) and Api.hits["/flaky.csv"] == 3
    flaky = [("hit", "/flaky.csv"), ("sleep", 0.0)] * 2 + [("hit", "/flaky.csv")]
    assert Api.events[: len(flaky)] == flaky
    Api.events.clear()
    download(ctx, {"connector": "url", "params": {"url": f"{server}/limited.csv", **FAST}})
    assert Api.hits["/limited.csv"] == 2
    assert Api.events[:3] == [("hit", "/limited.csv"), ("sleep", 1.0), ("hit", "/limited.csv")]


def test_500_storm_fails_clearly_after_retries(ctx, server):
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": {"url": f"{server}/storm.csv", **FAST}})
    assert exc.value.code == "download_failed" and "4 attempts" in exc.value.message and "HTTP 500" in exc.value.message
    assert Api.hits["/storm.csv"] == 4 and raw_files(ctx) == []


def test_cut_off_download_fails_and_leaves_nothing(ctx, server):
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": {"url": f"{server}/cut.csv", **FAST, "retries": 1}})
    assert exc.value.code == "download_failed" and "cut off" in exc.value.message
    assert raw_files(ctx) == []


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"url": "/data.csv", "sha256": "0" * 64}, "checksum_mismatch"),
        ({"url": "/data.csv", "md5": "0" * 32}, "checksum_mismatch"),
        ({"url": "/page.html", "content_type": "text/csv"}, "content_type_mismatch"),
        ({"url": "/big.bin", "max_bytes": 1000}, "too_large"),
        ({"url": "/nope.csv"}, "http_error"),
    ],
)
def test_bad_downloads_leave_nothing_at_target(ctx, server, extra, code):
    params = {**FAST, **extra, "url": server + extra["url"]}
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": params})
    assert exc.value.code == code
    assert raw_files(ctx) == []


def test_unknown_connector_and_bad_url(ctx):
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "ftp", "params": {}})
    assert exc.value.code == "invalid_params" and exc.value.status == 422 and "oekobaudat" in exc.value.message
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": {"url": "file:///etc/passwd"}})
    assert exc.value.code == "invalid_params" and "give an http, https or gs:// URL, not file://" in exc.value.message


def test_oekobaudat_pages_through_all_processes(ctx, server):
    out = download(ctx, {"connector": "oekobaudat", "params": {"base_url": f"{server}/resource", "page_size": 3}})
    assert out["records"] == 7 and out["total_count"] == 7
    folder = ctx.storage.data_root / "raw" / "oekobaudat" / "all"
    assert sorted(p.name for p in (folder / "pages").iterdir()) == [
        "page-00000.json",
        "page-00001.json",
        "page-00002.json",
    ]
    table = pq.read_table(folder / "records.parquet")
    assert table.column("uuid").to_pylist() == [p["uuid"] for p in PROCESSES]
    assert table.column("name").to_pylist()[0] == "Concrete C0" and "raw_json" in table.column_names
    manifest = json.loads((folder / "manifest.json").read_text())
    for f in manifest["files"]:
        assert hashlib.sha256((ctx.storage.data_root / f["location"]).read_bytes()).hexdigest() == f["sha256"]


def test_oekobaudat_stock_compliance_datasets_and_limit(ctx, server):
    out = download(
        ctx,
        {
            "connector": "oekobaudat",
            "params": {
                "base_url": f"{server}/resource",
                "data_stock": STOCK,
                "compliance": "A2",
                "page_size": 1,
                "fetch_datasets": True,
            },
        },
    )
    expected = [p["uuid"] for p in PROCESSES if p["stock"] and p["a2"]]
    assert out["records"] == len(expected) == 2
    folder = ctx.storage.data_root / "raw" / "oekobaudat" / f"{STOCK}-A2"
    assert sorted(p.stem for p in (folder / "datasets").iterdir()) == expected
    limited = download(
        ctx, {"connector": "oekobaudat", "params": {"base_url": f"{server}/resource", "max_records": 4, "page_size": 3}}
    )
    assert limited["records"] == 4


def test_oekobaudat_500_storm(ctx, server):
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "oekobaudat", "params": {"base_url": f"{server}/storm", **FAST}})
    assert exc.value.code == "download_failed" and "HTTP 500" in exc.value.message
    assert Api.hits["/storm/processes"] == 4
    assert not (ctx.storage.data_root / "raw" / "oekobaudat" / "all").exists()


def test_url_connector_reads_gs(gcs):
    gcs.put("exports/data.csv", CSV)
    ctx = JobContext(storage=gcs.storage)
    out = download(ctx, {"connector": "url", "params": {"url": gcs.url("exports/data.csv")}, "convert": True})
    assert out["files"][0]["location"] == f"raw/url/gcs/{gcs.name}/data.csv"
    assert out["files"][0]["sha256"] == hashlib.sha256(CSV).hexdigest()
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": {"url": "gs://not-allowed/x.csv"}})
    assert exc.value.code == "bucket_not_allowed"
    with pytest.raises(ServiceError) as exc:
        download(ctx, {"connector": "url", "params": {"url": gcs.url("missing.csv")}})
    assert exc.value.status == 404


@pytest.mark.django_db
def test_api_download_job(api, server, settings):
    r = api.post(
        reverse("api:dataset_download"), {"connector": "url", "params": {"url": f"{server}/data.csv"}, "convert": True}
    )
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    from services_app.models import Job

    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert (settings.DATA_ROOT / "raw/url/127.0.0.1/data.csv").read_bytes() == CSV
    assert "parquet/url/127.0.0.1/data.parquet" in job.outputs
    r = api.post(reverse("api:dataset_download"), {"connector": "nope", "params": {}})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "'url'" in r.json()["error"]["message"] and "'oekobaudat'" in r.json()["error"]["message"]
    # a misspelt connector parameter is refused with the known ones, not dropped
    r = api.post(reverse("api:dataset_download"), {"connector": "url", "params": {"url": f"{server}/x", "sha": "0"}})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    message = r.json()["error"]["message"]
    assert "unknown field 'sha'" in message and "sha256" in message and "max_bytes" in message
    r = api.post(
        reverse("api:dataset_download"), {"connector": "url", "params": {"url": f"{server}/storm.csv", **FAST}}
    )
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "failed" and job.error["code"] == "download_failed"


@pytest.mark.django_db
def test_download_data_command(settings, server, tmp_path):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("download_data", stdout=out)
    assert "no downloads configured" in out.getvalue()
    config = settings.DATA_ROOT / "downloads.yaml"
    config.write_text(f"downloads:\n  - connector: url\n    params:\n      url: {server}/data.csv\n    convert: true\n")
    out = io.StringIO()
    call_command("download_data", "--dry-run", stdout=out)
    assert "would run url" in out.getvalue() and not (settings.DATA_ROOT / "raw").exists()
    call_command("download_data", stdout=io.StringIO())
    assert (settings.DATA_ROOT / "parquet/url/127.0.0.1/data.parquet").exists()
