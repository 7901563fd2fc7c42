"""Language models trained from gs:// datasets and saved to gs://, against a real GCS API (the emulator)."""

import io
import json
from http import HTTPStatus

import pandas as pd
import pytest
from django.urls import reverse

from tests.conftest import run_job_now
from tests.language_models.test_language_models import VERBS, _corpus

pytestmark = pytest.mark.django_db


def _parquet(texts) -> bytes:
    buf = io.BytesIO()
    pd.DataFrame({"text": texts}).to_parquet(buf)
    return buf.getvalue()


def _train(api, payload):
    from services_app.models import Job

    r = api.post(reverse("api:language_model_train"), payload)
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    return run_job_now(Job.objects.get(pk=r.json()["id"]))


def test_train_from_gcs_dataset_folder_to_gcs_and_query(api, gcs, data_roots):
    # a transformed dataset folder in the bucket: train.parquet + validation.parquet
    gcs.put("datasets/corpus/train.parquet", _parquet(_corpus(1200, seed=1)))
    gcs.put("datasets/corpus/validation.parquet", _parquet(_corpus(150, seed=2)))
    job = _train(
        api,
        {"source": gcs.url("datasets/corpus"), "kind": "ngram", "min_count": 1, "output": gcs.url("models/corpus-3g")},
    )
    assert job.status == "succeeded", job.error
    assert job.result["model"] == gcs.url("models/corpus-3g") and job.outputs == [gcs.url("models/corpus-3g")]
    assert job.result["validation_perplexity"] > 1
    keys = set(gcs.keys("models/corpus-3g/"))
    manifest = json.loads(gcs.get("models/corpus-3g/manifest.json"))
    assert {f"models/corpus-3g/{f['name']}" for f in manifest["files"]} | {"models/corpus-3g/manifest.json"} == keys
    assert manifest["params"]["source"] == gcs.url("datasets/corpus")
    assert not (data_roots / "jobs" / "language_modeling").exists()
    r = api.get(reverse("api:language_model_next", args=[job.id]), data={"context": "the cat", "k": 3})
    assert r.status_code == HTTPStatus.OK, r.content
    assert {d["word"] for d in r.json()["next"]} == set(VERBS)


def test_train_from_gcs_file_to_local(api, gcs, data_roots):
    gcs.put("raw/corpus.parquet", _parquet(_corpus(800)))
    job = _train(api, {"source": gcs.url("raw/corpus.parquet"), "kind": "cooccurrence", "min_count": 1, "window": 2})
    assert job.status == "succeeded", job.error
    assert (data_roots / job.result["model"] / "manifest.json").is_file()
    r = api.get(reverse("api:language_model_similar", args=[job.id]), data={"word": "cat", "k": 2})
    assert r.status_code == HTTPStatus.OK and r.json()["similar"][0]["word"] == "dog"


def test_gcs_source_checked_at_submit(api, gcs):
    gcs.put("raw/corpus.parquet", _parquet(_corpus(50)))
    r = api.post(reverse("api:language_model_train"), {"source": gcs.url("raw/corpus.parquet"), "text_column": "body"})
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "unknown_column"
    r = api.post(reverse("api:language_model_train"), {"source": gcs.url("raw/none.parquet")})
    assert r.status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("where", ["source", "output"])
def test_bucket_not_allowed_is_403(api, data_roots, where):
    pd.DataFrame({"text": _corpus(50)}).to_parquet(data_roots / "corpus.parquet")
    payload = {"source": "corpus.parquet", where: "gs://not-allowed/models/x"}
    r = api.post(reverse("api:language_model_train"), payload)
    assert r.status_code == HTTPStatus.FORBIDDEN, r.content
    assert r.json()["error"]["code"] == "bucket_not_allowed"
