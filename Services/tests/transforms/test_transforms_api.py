"""Transforms through the API: inspect, submit-time validation, jobs run as a worker runs them."""

import io
import json
from http import HTTPStatus

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.urls import reverse

from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db

SOURCE = "jobs/classification/source/reviews.csv"


def _reviews(root, n=120):
    path = root / SOURCE
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = ["positive", "negative", "neutral"]
    pd.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(n)],
            "title": [f"Title number {i}" for i in range(n)],
            "body": [f"This product review number {i} talks about quality and price" for i in range(n)],
            "sentiment": [labels[i % 3] for i in range(n)],
            "country": ["DE", "FR"] * (n // 2),
        }
    ).to_csv(path, index=False)
    return path


def _job(api, payload):
    from services_app.models import Job

    r = api.post(reverse("api:transform_create"), payload)
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    return run_job_now(Job.objects.get(pk=r.json()["id"]))


def test_transform_classification_end_to_end(api, data_roots):
    _reviews(data_roots)
    job = _job(
        api,
        {
            "job_type": "classification",
            "source": SOURCE,
            "text_columns": ["title", "body"],
            "label_columns": ["sentiment"],
            "name": "reviews-v1",
        },
    )
    assert job.status == "succeeded", job.error
    out = data_roots / "jobs/classification/target/reviews-v1"
    assert job.outputs == ["jobs/classification/target/reviews-v1"]
    names = {p.name for p in out.iterdir()}
    for split in ("train", "validation", "test"):
        assert f"{split}.parquet" in names and f"{split}.jsonl" in names
    assert {"label_map.json", "stats.json", "README.md", "manifest.json"} <= names
    train = pq.read_table(out / "train.parquet").to_pandas()
    assert list(train.columns[:4]) == ["text", "label", "label_id", "source_row"]
    assert {"review_id", "country"} <= set(train.columns)  # other columns kept as metadata
    assert train["text"].iloc[0].startswith("Title number")
    label_map = json.loads((out / "label_map.json").read_text())
    assert label_map["labels"] == ["negative", "neutral", "positive"]
    stats = json.loads((out / "stats.json").read_text())
    assert sum(s["rows"] for s in stats["splits"].values()) == 120
    assert stats["splits"]["train"]["label_counts"] == {"negative": 32, "neutral": 32, "positive": 32}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == job.result["rows"]
    assert "Text classification" in (out / "README.md").read_text()
    # jsonl rows match parquet rows
    lines = (out / "test.jsonl").read_text().splitlines()
    assert len(lines) == stats["splits"]["test"]["rows"]
    assert set(json.loads(lines[0])) >= {"text", "label", "label_id"}


def test_job_types_listed(api):
    r = api.get(reverse("api:transform_job_types"))
    assert r.status_code == HTTPStatus.OK, r.content
    assert {t["name"] for t in r.json()} >= {"classification", "multilabel", "ner", "language_modeling"}


def test_unknown_column_is_4xx_listing_columns(api, data_roots):
    _reviews(data_roots)
    r = api.post(
        reverse("api:transform_create"),
        {"job_type": "classification", "source": SOURCE, "text_columns": ["review"], "label_columns": ["sentiment"]},
    )
    assert r.status_code == HTTPStatus.BAD_REQUEST
    err = r.json()["error"]
    assert err["code"] == "unknown_column"
    assert "'review'" in err["message"] and "title, body, sentiment" in err["message"]
    assert err["details"]["missing"] == ["review"]
    assert "country" in err["details"]["columns"]


def test_unknown_label_column_is_4xx(api, data_roots):
    _reviews(data_roots)
    r = api.post(
        reverse("api:transform_create"),
        {"job_type": "classification", "source": SOURCE, "text_columns": ["body"], "label_columns": ["stars"]},
    )
    assert r.status_code == HTTPStatus.BAD_REQUEST
    assert r.json()["error"]["details"]["missing"] == ["stars"]


def test_splits_must_sum_to_one(api, data_roots):
    _reviews(data_roots)
    r = api.post(
        reverse("api:transform_create"),
        {
            "job_type": "classification",
            "source": SOURCE,
            "text_columns": ["body"],
            "label_columns": ["sentiment"],
            "splits": {"train": 0.8, "validation": 0.3, "test": 0.1},
        },
    )
    assert r.status_code == HTTPStatus.BAD_REQUEST
    assert r.json()["error"]["code"] == "invalid_splits"
    assert "sum to 1" in r.json()["error"]["message"]


def test_unknown_job_type(api, data_roots):
    _reviews(data_roots)
    r = api.post(
        reverse("api:transform_create"), {"job_type": "summarisation", "source": SOURCE, "text_columns": ["body"]}
    )
    assert r.status_code == HTTPStatus.BAD_REQUEST
    err = r.json()["error"]
    assert err["code"] == "unknown_job_type"
    assert "classification" in err["details"]["known"]


def test_missing_source_is_404(api):
    r = api.post(
        reverse("api:transform_create"),
        {"job_type": "classification", "source": "nope.csv", "text_columns": ["body"], "label_columns": ["x"]},
    )
    assert r.status_code == HTTPStatus.NOT_FOUND


def test_all_labels_empty_fails_the_job(api, data_roots):
    path = data_roots / "empty.csv"
    pd.DataFrame({"text": ["a text here", "another text"], "label": [None, None]}).to_csv(path, index=False)
    job = _job(
        api, {"job_type": "classification", "source": "empty.csv", "text_columns": ["text"], "label_columns": ["label"]}
    )
    assert job.status == "failed"
    assert job.error["code"] == "all_labels_empty"
    assert "'label'" in job.error["message"]


def test_inspect_upload_then_transform(api, client, api_key):
    body = "\n".join(["text,label"] + [f'"this is a rather long review text {i}",{"ab"[i % 2]}' for i in range(30)])
    upload = io.BytesIO(body.encode())
    upload.name = "reviews.csv"
    r = client.post(reverse("api:dataset_inspect"), {"file": upload}, headers={"X-API-Key": api_key})
    assert r.status_code == HTTPStatus.OK, r.content
    info = r.json()
    assert info["rows"] == 30 and info["format"] == "csv"
    assert [c["name"] for c in info["columns"]] == ["text", "label"]
    assert info["text_columns"] == ["text"] and info["label_columns"] == ["label"]
    assert "classification" in info["suggested_job_types"]
    assert len(info["sample"]) == 5
    params = info["suggested_params"]
    assert params["job_type"] == "classification" and params["label_columns"] == ["label"]
    job = _job(api, params)
    assert job.status == "succeeded", job.error


def test_inspect_location_and_missing(client, api_key, data_roots):
    _reviews(data_roots)
    headers = {"X-API-Key": api_key}
    r = client.post(reverse("api:dataset_inspect"), {"location": SOURCE, "sample_rows": 2}, headers=headers)
    assert r.status_code == HTTPStatus.OK, r.content
    info = r.json()
    assert info["rows"] == 120 and len(info["sample"]) == 2
    roles = {c["name"]: c["looks_like"] for c in info["columns"]}
    assert "text" in roles["body"] and "label" in roles["sentiment"]
    assert "id" in roles["review_id"]
    r = client.post(reverse("api:dataset_inspect"), {"location": "missing.csv"}, headers=headers)
    assert r.status_code == HTTPStatus.NOT_FOUND
    r = client.post(reverse("api:dataset_inspect"), {}, headers=headers)
    assert r.status_code == HTTPStatus.BAD_REQUEST


def test_inspect_takes_a_json_body_like_every_other_endpoint(api, data_roots):
    _reviews(data_roots)
    r = api.post(reverse("api:dataset_inspect"), {"location": SOURCE, "sample_rows": 3})
    assert r.status_code == HTTPStatus.OK, r.content
    assert r.json()["rows"] == 120 and len(r.json()["sample"]) == 3
    r = api.post(reverse("api:dataset_inspect"), {"location": SOURCE, "rows": 3})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert "unknown field 'rows'" in r.json()["error"]["message"]
    r = api.post(reverse("api:dataset_inspect"), {"sample_rows": 3})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and r.json()["error"]["details"][0]["field"].endswith(
        "location"
    )
