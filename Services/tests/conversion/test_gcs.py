"""gs:// sources and outputs, against a real GCS API (the emulator)."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from services_app.models import Job
from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db


def test_bucket_prefix_to_bucket_prefix_and_preview(api, gcs):
    gcs.put("raw/a.csv", b"id,name\n1,x\n2,\n")
    gcs.put("raw/sub/b.jsonl", b'{"k": 1}\n')
    gcs.put("raw/sub/bad.csv", b"")
    resp = api.post(reverse("api:conversion_create"), {"source": gcs.url("raw/"), "output": gcs.url("out")})
    assert resp.status_code == 202, resp.content
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.result["converted"] == 2 and job.result["failed"] == 1
    keys = gcs.keys("out/")
    assert "out/a.parquet" in keys and "out/sub/b.parquet" in keys and "out/_conversion_report.json" in keys
    assert not any("bad" in k for k in keys)
    table = pq.read_table(io.BytesIO(gcs.get("out/a.parquet")))
    assert table.column("name").to_pylist() == ["x", None]
    meta = pq.read_metadata(io.BytesIO(gcs.get("out/a.parquet"))).metadata
    assert meta[b"source"].decode() == gcs.url("raw/a.csv")
    assert gcs.url("out/a.parquet") in job.outputs
    prev = api.get(reverse("api:dataset_preview"), data={"location": gcs.url("out/a.parquet")})
    assert prev.status_code == 200, prev.content
    assert prev.json()["rows"] == 2 and prev.json()["location"] == gcs.url("out/a.parquet")


def test_bucket_file_to_local_default(api, gcs, data_roots):
    gcs.put("in/s.csv", b"a\n1\n")
    resp = api.post(reverse("api:conversion_create"), {"source": gcs.url("in/s.csv")})
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.outputs == [f"parquet/gcs/{gcs.name}/in/s.parquet"]
    assert pq.read_table(data_roots / job.outputs[0]).num_rows == 1


def test_bucket_not_allowed(api, data_roots):
    (data_roots / "a.csv").write_text("a\n1\n")
    resp = api.post(reverse("api:conversion_create"), {"source": "a.csv", "output": "gs://not-allowed/x"})
    assert resp.status_code == 403
