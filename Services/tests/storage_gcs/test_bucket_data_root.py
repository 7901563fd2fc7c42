"""A data root on a bucket: the web server and a worker run as separate processes with separate local
folders and share only PostgreSQL, Redis and the bucket (the gcp-storage-emulator server).

upload -> conversion -> preview -> knowledge base -> search, then a change in the bucket seen by both."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ..conftest import SERVICES_DIR, WorkerProcess, require_service, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CSV = b"city,population,founded\nBerlin,3850809,1237-01-01\nHamburg,1892122,0808-01-01\nMunich,1512491,1158-06-14\n"
DOCS = {
    "docs/food/bread.md": "# Bread\n\nBake the bread with flour, water and yeast; knead the dough.",
    "docs/energy/solar.txt": "Solar panels on the roof produce renewable electricity.",
    "docs/energy/wind.md": "# Wind\n\nOffshore wind turbines generate power at sea.",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Web:
    """gunicorn serving the API, as a deployment's web host runs it."""

    def __init__(self, env: dict, log: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "services_project.wsgi:application", "--bind", f"127.0.0.1:{self.port}"],
            cwd=SERVICES_DIR,
            env=env,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def call(self, method: str, path: str, *, body=None, data: bytes | None = None, headers=None):
        req = urllib.request.Request(
            self.base + path, method=method, headers={"X-API-Key": self.key, **(headers or {})}
        )
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, data, timeout=60) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/api/health", timeout=5) as res:
                return res.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=30)


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    body.write(f"--{boundary}\r\n".encode())
    body.write(f'Content-Disposition: form-data; name="files"; filename="{name}"\r\n'.encode())
    body.write(b"Content-Type: text/csv\r\n\r\n" + content + b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def deployment(gcs_emulator, settings, tmp_path, user, monkeypatch):
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")
    from services_app.models import ApiKey

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)  # this test's own reads of the bucket

    bucket = f"root-{uuid.uuid4().hex[:10]}"
    gcs_emulator.create_bucket(bucket)
    common = {
        "SERVICES_DATA_ROOT": f"gs://{bucket}/data",
        "STORAGE_EMULATOR_HOST": gcs_emulator.host,
        "GCS_ALLOWED_BUCKETS": "",
        "SERVICES_VAR_DIR": str(tmp_path / "var"),
        "KNOWLEDGEBASE_WORKERS": "1",
    }
    web_cache, worker_cache = tmp_path / "web-cache", tmp_path / "worker-cache"
    web_env = worker_env(settings, **common, SERVICES_DATA_CACHE=str(web_cache))
    web_env.pop("JOB_TEST_KINDS_ENABLED", None)
    worker = WorkerProcess(worker_env(settings, **common, SERVICES_DATA_CACHE=str(worker_cache))).start()
    (tmp_path / "var").mkdir(exist_ok=True)
    web = Web(web_env, tmp_path / "web.log")
    web.key = ApiKey.issue(user=user, name="bucket-root")[1]
    web.bucket, web.web_cache, web.worker_cache, web.worker = bucket, web_cache, worker_cache, worker
    try:
        wait_for(web.up, timeout=90, message=f"web server; log:\n{_tail(web.log)}")
        yield web
    finally:
        web.stop()
        worker.stop()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def _put(bucket: str, key: str, data: bytes) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    gcs.Client(project="test", credentials=AnonymousCredentials()).bucket(bucket).blob(key).upload_from_string(data)


def _get(bucket: str, key: str) -> bytes:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    return gcs.Client(project="test", credentials=AnonymousCredentials()).bucket(bucket).blob(key).download_as_bytes()


def _keys(bucket: str, prefix: str) -> list[str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    client = gcs.Client(project="test", credentials=AnonymousCredentials())
    return sorted(b.name for b in client.list_blobs(bucket, prefix=prefix))


def _finish(web: Web, job: dict) -> dict:
    def done():
        status, body = web.call("GET", f"/api/jobs/{job['id']}")
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    body = wait_for(
        done, timeout=240, interval=0.5, message=f"job {job['kind']}; worker log:\n{web.worker.output()[-3000:]}"
    )
    assert body["status"] == "succeeded", (body.get("error"), web.worker.output()[-3000:], _tail(web.log))
    return body


def _local_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts}


def test_upload_convert_preview_build_search_across_processes(deployment):
    web = deployment
    with urllib.request.urlopen(web.base + "/api/health", timeout=30) as res:
        assert json.loads(res.read())["data_root"] == {"ok": True, "detail": "bucket"}
    # 1. upload and convert: the web server stores the upload in the bucket, the worker converts it
    data, ctype = _multipart("cities.csv", CSV)
    status, job = web.call("POST", "/api/conversions/upload", data=data, headers={"Content-Type": ctype})
    assert status == 202, job
    done = _finish(web, job)
    (entry,) = done["result"]["files"]
    assert entry["status"] == "converted" and entry["rows"] == 3
    out = entry["outputs"][0]["location"]
    assert out == f"parquet/uploads/{job['id']}/cities.parquet"
    objects = _keys(web.bucket, "data/")
    assert any(k.startswith("data/uploads/") and k.endswith("/cities.csv") for k in objects), objects
    assert f"data/{out}" in objects and f"data/parquet/uploads/{job['id']}/_conversion_report.json" in objects
    # the worker read the upload from the bucket: its cache holds the upload and the output, the web's no output
    assert f"{out}" in _local_files(web.worker_cache)
    assert f"{out}" not in _local_files(web.web_cache)

    # 2. preview on the web server: read from the bucket (the web server never converted anything)
    status, preview = web.call("GET", "/api/datasets/preview?" + urllib.parse.urlencode({"location": out}))
    assert status == 200, preview
    assert preview["rows"] == 3 and preview["metadata"]["source"].endswith("cities.csv")
    assert [r["city"] for r in preview["preview"]] == ["Berlin", "Hamburg", "Munich"]
    assert [r["population"] for r in preview["preview"]] == [3850809, 1892122, 1512491]
    table = pq.read_table(web.web_cache / out)  # the web's cached copy is the worker's file, byte for byte
    assert table.column("city").to_pylist() == ["Berlin", "Hamburg", "Munich"]

    # 3. a knowledge base from files put straight into the bucket (as `gsutil cp` would)
    for key, text in DOCS.items():
        _put(web.bucket, f"data/{key}", text.encode())
    status, job = web.call("POST", "/api/knowledgebases", body={"name": "kb", "source": "docs", "embed": True})
    assert status == 202, job
    built = _finish(web, job)
    assert built["result"]["added"] == 3 and built["result"]["errors_total"] == 0
    kb_objects = _keys(web.bucket, "data/knowledgebases/kb/output/")
    assert "data/knowledgebases/kb/output/manifest.json" in kb_objects
    assert "data/knowledgebases/kb/output/vectors.npy" in kb_objects
    # no Qdrant server: no host-local Qdrant folder that only the worker would have, and the manifest says so
    manifest = json.loads(_get(web.bucket, "data/knowledgebases/kb/output/manifest.json"))
    qdrant = manifest["embeddings"]["qdrant"]
    assert qdrant["mode"] == "none" and "QDRANT_URL" in qdrant["reason"], qdrant
    assert not any("/qdrant/" in f for f in _local_files(web.worker_cache))

    # 4. search on the web server
    status, listed = web.call("GET", "/api/knowledgebases")
    assert status == 200, listed
    assert [kb["name"] for kb in listed["items"]] == ["kb"], listed
    status, found = web.call(
        "GET", "/api/knowledgebases/kb/search?" + urllib.parse.urlencode({"q": "how is bread made"})
    )
    assert status == 200, found
    assert found["results"][0]["path"] == "food/bread.md"
    assert {h["path"] for h in found["results"]} == {"food/bread.md", "energy/solar.txt", "energy/wind.md"}
    assert not any(p.startswith("docs/") for p in _local_files(web.web_cache))  # the sources stayed on the worker

    # 5. a change in the bucket: one document replaced, one removed; the rebuild and the search both see it
    _put(web.bucket, "data/docs/food/bread.md", b"# Tea\n\nSteep green tea leaves in hot water for three minutes.")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs

    gcs.Client(project="test", credentials=AnonymousCredentials()).bucket(web.bucket).blob(
        "data/docs/energy/wind.md"
    ).delete()
    time.sleep(0.01)
    status, job = web.call("POST", "/api/knowledgebases", body={"name": "kb", "source": "docs", "embed": True})
    assert status == 202, job
    rebuilt = _finish(web, job)
    assert (rebuilt["result"]["changed"], rebuilt["result"]["removed"]) == (1, 1), rebuilt["result"]
    status, found = web.call("GET", "/api/knowledgebases/kb/search?" + urllib.parse.urlencode({"q": "green tea"}))
    assert status == 200, found
    assert [h["path"] for h in found["results"]] == ["food/bread.md", "energy/solar.txt"]
    assert "Steep green tea" in found["results"][0]["text"]
    assert not (web.worker_cache / "docs/energy/wind.md").exists()  # the worker's cache followed the bucket
