"""dataset and reference at gs:// locations, against the real GCS API of the emulator."""

from __future__ import annotations

import io
from http import HTTPStatus

import pytest
from django.urls import reverse

from ..conftest import run_job_now
from .datagen import tabular_batch

pytestmark = pytest.mark.django_db


def _parquet(df) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


@pytest.fixture
def bucket(gcs):
    gcs.put("training/ref.parquet", _parquet(tabular_batch(300, seed=1)))
    gcs.put("incoming/new.csv", tabular_batch(300, seed=2).to_csv(index=False).encode())
    # A prefix of Parquet parts reads as one table.
    new = tabular_batch(300, seed=3)
    gcs.put("incoming/parts/part-0.parquet", _parquet(new.iloc[:150]))
    gcs.put("incoming/parts/part-1.parquet", _parquet(new.iloc[150:]))
    return gcs


def test_gcs_dataset_and_reference(api, bucket):
    body = {
        "dataset": bucket.url("incoming/new.csv"),
        "reference": bucket.url("training/ref.parquet"),
        "label": "risk",
        "wandb": False,
        "conditions": {"multivariate_drift": {"enabled": False}},
    }
    r = api.post(reverse("api:checks_run"), body)
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    from services_app.models import Job

    job = Job.objects.get(pk=r.json()["id"])
    assert {i["location"] for i in job.inputs} == {body["dataset"], body["reference"]}
    assert all("fingerprint" in i for i in job.inputs)  # generation and md5 of the objects
    done = run_job_now(job)
    assert done.status == "succeeded", done.error
    assert done.result["passed"] is True, done.result["failed_checks"]
    assert done.result["rows"]["dataset"] == 300 and done.result["rows"]["reference"] == 300
    assert done.result["dataset"] == body["dataset"]
    assert api.get(reverse("api:checks_report", args=[job.pk])).status_code == HTTPStatus.OK

    # A prefix (folder of Parquet parts) as the dataset.
    r = api.post(reverse("api:checks_run"), {**body, "dataset": bucket.url("incoming/parts/")})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    done = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert done.status == "succeeded", done.error
    assert done.result["rows"]["dataset"] == 300


def test_gcs_bad_locations_refused_at_submit(api, bucket):
    from services_app.models import Job

    ok = {"dataset": bucket.url("incoming/new.csv"), "label": "risk"}
    r = api.post(reverse("api:checks_run"), {**ok, "reference": "gs://not-allowed-bucket/ref.parquet"})
    assert r.status_code == HTTPStatus.FORBIDDEN
    assert r.json()["error"]["code"] == "bucket_not_allowed"
    r = api.post(reverse("api:checks_run"), {**ok, "dataset": bucket.url("incoming/missing.csv")})
    assert r.status_code == HTTPStatus.NOT_FOUND and r.json()["error"]["code"] == "not_found"
    # Small objects are read at submit: a missing column is a 400 before anything is queued.
    r = api.post(reverse("api:checks_run"), {**ok, "label": "target"})
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "missing_columns"
    assert "columns found: age, income" in r.json()["error"]["message"]
    assert not Job.objects.exists()
