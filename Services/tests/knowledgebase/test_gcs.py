"""gs:// sources: a bucket prefix is mirrored through the storage module and built like a folder,
against a real GCS API (the emulator)."""

from __future__ import annotations

import os
from http import HTTPStatus

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from services_app.capabilities.knowledgebase.jobs import build
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from services_app.models import Job

from ..conftest import run_job_now
from .pdfs import text_pdf

pytestmark = pytest.mark.django_db


def _fill(gcs) -> None:
    gcs.put("master/esg/reports/water.txt", b"Water usage fell by ten percent.")
    gcs.put("master/esg/policy.md", b"# Emissions policy\n\nWe cut scope 1 emissions.\n")
    gcs.put("master/news/2024/launch.html", b"<html><head><title>Launch</title></head><body><p>Solar park.</p></body>")
    gcs.put("master/esg/annual.pdf", text_pdf(["Page one text", "Page two text"], title="Annual"))
    gcs.put("master/news/prices.csv", b"product,price\nsolar panel,120\n")
    gcs.put("elsewhere/not-in-the-prefix.txt", b"outside the prefix")


def _mtimes(folder) -> dict[str, int]:
    return {
        os.path.relpath(os.path.join(d, n), folder): os.stat(os.path.join(d, n)).st_mtime_ns
        for d, _, names in os.walk(folder)
        for n in names
        if not n.startswith(".")
    }


def test_build_from_bucket_prefix_then_incremental(gcs):
    _fill(gcs)
    ctx = JobContext(storage=gcs.storage)
    first = build(ctx, {"name": "kb", "source": gcs.url("master"), "include_hidden": True})
    assert first["added"] == 5 and first["files_read"] == 5 and first["errors_total"] == 0

    out = gcs.storage.data_root / "knowledgebases" / "kb" / "output"
    chunks = pq.read_table(out / "knowledge.parquet").to_pylist()
    by_path = {r["path"]: r for r in chunks}
    # paths and folders are relative to the prefix; uri says where the object lives
    assert set(by_path) == {
        "esg/reports/water.txt",
        "esg/policy.md",
        "news/2024/launch.html",
        "esg/annual.pdf",
        "news/prices.csv",
    }
    water = by_path["esg/reports/water.txt"]
    assert water["folder"] == "esg/reports" and water["top_folder"] == "esg" and water["subfolders"] == ["reports"]
    assert water["uri"] == gcs.url("master/esg/reports/water.txt")
    assert water["text"] == "Water usage fell by ten percent."
    pages = [r for r in chunks if r["path"] == "esg/annual.pdf"]
    assert [r["page"] for r in pages] == [1, 2] and pages[0]["title"] == "Annual"
    files = pq.read_table(out / "files.parquet").to_pylist()
    assert {f["uri"] for f in files} == {gcs.url("master/" + p) for p in by_path}  # no cache metadata files
    manifest = (out / "manifest.json").read_text()
    assert gcs.url("master") in manifest

    mirror = gcs.storage.local_copy(gcs.url("master"))
    before = _mtimes(mirror)

    # nothing changed: no object downloaded again, no file read
    again = build(ctx, {"name": "kb", "source": gcs.url("master")})
    assert again["unchanged"] == 5 and again["files_read"] == 0 and again["added"] == again["changed"] == 0
    assert _mtimes(mirror) == before

    # one changed, one removed, one added, one re-uploaded with the same bytes (new generation, same md5)
    gcs.put("master/esg/policy.md", b"# Emissions policy\n\nWe cut scope 1 and scope 2 emissions.\n")
    gcs.storage.gcs_delete(gcs.url("master/news/prices.csv"))
    gcs.put("master/news/2025/new.txt", b"A new report.")
    gcs.put("master/esg/reports/water.txt", b"Water usage fell by ten percent.")
    third = build(ctx, {"name": "kb", "source": gcs.url("master")})
    assert (third["added"], third["changed"], third["removed"]) == (1, 1, 1)
    assert third["files_read"] == 2  # the re-uploaded object has the same content hash: not extracted again
    assert third["unchanged"] == 3
    after = _mtimes(mirror)
    assert after["esg/annual.pdf"] == before["esg/annual.pdf"]  # unchanged generation: not downloaded
    assert "news/prices.csv" not in after
    chunks = pq.read_table(out / "knowledge.parquet").to_pylist()
    assert {r["path"]: r["text"] for r in chunks}["esg/policy.md"].rstrip().endswith("scope 2 emissions.")
    assert {r["path"]: r["uri"] for r in chunks}["news/2025/new.txt"] == gcs.url("master/news/2025/new.txt")


def test_bucket_errors_in_the_job(gcs):
    ctx = JobContext(storage=gcs.storage)
    with pytest.raises(ServiceError) as exc:
        build(ctx, {"name": "kb", "source": "gs://some-other-bucket/master"})
    assert exc.value.status == 403 and exc.value.code == "bucket_not_allowed"
    gcs.put("one/file.txt", b"x")
    with pytest.raises(ServiceError) as exc:
        build(ctx, {"name": "kb", "source": gcs.url("one/file.txt")})
    assert exc.value.code == "not_a_folder"


def test_api_builds_from_bucket(api, gcs):
    _fill(gcs)
    r = api.post(reverse("api:kb_build"), {"name": "kb", "source": gcs.url("master/")})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.result["counts"]["documents"] == 5
    docs = api.get(reverse("api:kb_documents", kwargs={"name": "kb"}), data={"folder": "esg"}).json()["items"]
    assert {d["uri"] for d in docs} == {
        gcs.url("master/esg/reports/water.txt"),
        gcs.url("master/esg/policy.md"),
        gcs.url("master/esg/annual.pdf"),
    }
    assert api.get(reverse("api:kb_get", kwargs={"name": "kb"})).json()["source"] == gcs.url("master/")

    n = Job.objects.count()
    r = api.post(reverse("api:kb_build"), {"name": "kb", "source": "gs://not-allowed-bucket/master"})
    assert r.status_code == HTTPStatus.FORBIDDEN and r.json()["error"]["code"] == "bucket_not_allowed"
    r = api.post(reverse("api:kb_build"), {"name": "kb", "source": gcs.url("missing/")})
    assert r.status_code == HTTPStatus.NOT_FOUND
    assert Job.objects.count() == n  # refused before any job was created
