"""gs:// sources and outputs for transforms, against a real GCS API (the emulator)."""

import io
import json
from http import HTTPStatus

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db


def _csv(n=90) -> bytes:
    labels = ["positive", "negative", "neutral"]
    frame = pd.DataFrame(
        {
            "title": [f"Title number {i}" for i in range(n)],
            "body": [f"Review {i} talks about quality and price" for i in range(n)],
            "sentiment": [labels[i % 3] for i in range(n)],
        }
    )
    return frame.to_csv(index=False).encode()


def _submit(api, payload):
    return api.post(reverse("api:transform_create"), payload)


def test_gcs_csv_to_gcs_folder(api, gcs, data_roots):
    from services_app.models import Job

    gcs.put("raw/reviews.csv", _csv())
    payload = {
        "job_type": "classification",
        "source": gcs.url("raw/reviews.csv"),
        "text_columns": ["title", "body"],
        "label_columns": ["sentiment"],
        "output": gcs.url("datasets/reviews-v1"),
    }
    r = _submit(api, payload)
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.outputs == [gcs.url("datasets/reviews-v1")] and job.result["output"] == gcs.url("datasets/reviews-v1")
    keys = set(gcs.keys("datasets/reviews-v1/"))
    for split in ("train", "validation", "test"):
        assert f"datasets/reviews-v1/{split}.parquet" in keys and f"datasets/reviews-v1/{split}.jsonl" in keys
    assert {"datasets/reviews-v1/manifest.json", "datasets/reviews-v1/label_map.json"} <= keys
    assert not (data_roots / "jobs" / "classification" / "target").exists()  # nothing written locally
    manifest = json.loads(gcs.get("datasets/reviews-v1/manifest.json"))
    assert manifest["source"]["location"] == gcs.url("raw/reviews.csv")
    assert {f["name"] for f in manifest["files"]} | {"manifest.json"} == {k.rsplit("/", 1)[1] for k in keys}
    train = pq.read_table(io.BytesIO(gcs.get("datasets/reviews-v1/train.parquet")))
    assert train.num_rows == manifest["rows"]["train"] and train.column_names[:3] == ["text", "label", "label_id"]
    assert sum(manifest["rows"].values()) == 90
    lines = gcs.get("datasets/reviews-v1/test.jsonl").decode().splitlines()
    assert len(lines) == manifest["rows"]["test"]

    # Run again with parquet only: the previous run's jsonl files go, the new manifest lists what is there.
    r = _submit(api, {**payload, "formats": ["parquet"], "force": True})
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    keys = set(gcs.keys("datasets/reviews-v1/"))
    assert not any(k.endswith(".jsonl") for k in keys)
    manifest = json.loads(gcs.get("datasets/reviews-v1/manifest.json"))
    assert {f["name"] for f in manifest["files"]} | {"manifest.json"} == {k.rsplit("/", 1)[1] for k in keys}


def test_gcs_source_columns_are_checked_at_submit(api, gcs):
    gcs.put("raw/reviews.csv", _csv())
    r = _submit(
        api,
        {
            "job_type": "classification",
            "source": gcs.url("raw/reviews.csv"),
            "text_columns": ["nope"],
            "label_columns": ["sentiment"],
        },
    )
    assert r.status_code == HTTPStatus.BAD_REQUEST
    assert r.json()["error"]["code"] == "unknown_column" and "body" in r.json()["error"]["details"]["columns"]
    r = _submit(api, {"job_type": "language_modeling", "source": gcs.url("raw/missing.csv"), "text_columns": ["body"]})
    assert r.status_code == HTTPStatus.NOT_FOUND


def test_gcs_source_to_local_output_and_inspect(api, client, api_key, gcs, data_roots):
    from services_app.models import Job

    gcs.put("raw/reviews.csv", _csv())
    r = client.post(
        reverse("api:dataset_inspect"), {"location": gcs.url("raw/reviews.csv")}, headers={"X-API-Key": api_key}
    )
    assert r.status_code == HTTPStatus.OK, r.content
    body = r.json()
    assert body["location"] == gcs.url("raw/reviews.csv") and body["rows"] == 90
    assert body["suggested_params"]["source"] == gcs.url("raw/reviews.csv")
    r = _submit(api, {**body["suggested_params"], "name": "from-bucket"})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    out = data_roots / "jobs" / body["suggested_params"]["job_type"] / "target" / "from-bucket"
    assert (out / "manifest.json").is_file() and pq.read_table(out / "train.parquet").num_rows > 0


@pytest.mark.parametrize("where", ["source", "output"])
def test_bucket_not_allowed_is_403(api, data_roots, where):
    (data_roots / "reviews.csv").write_bytes(_csv())
    payload = {"job_type": "language_modeling", "source": "reviews.csv", "text_columns": ["body"]}
    payload[where] = "gs://not-allowed/x/reviews.csv"
    r = _submit(api, payload)
    assert r.status_code == HTTPStatus.FORBIDDEN, r.content
    assert r.json()["error"]["code"] == "bucket_not_allowed"


def test_large_gcs_source_is_checked_when_the_job_starts(api, gcs, monkeypatch):
    from services_app.models import Job
    from services_app.storage import folders

    monkeypatch.setattr(folders, "SUBMIT_COPY_LIMIT", 100)  # the source counts as large: no copy at submit
    gcs.put("raw/reviews.csv", _csv())
    r = _submit(api, {"job_type": "language_modeling", "source": gcs.url("raw/reviews.csv"), "text_columns": ["nope"]})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "failed" and job.error["code"] == "unknown_column"
    assert "body" in job.error["message"]
