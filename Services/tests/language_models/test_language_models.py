"""Language models on small real corpora: pure functions, the API and the command."""

import json
import math
import random
from http import HTTPStatus

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command
from django.urls import reverse

from services_app.capabilities.language_models.artifacts import load_model
from services_app.capabilities.language_models.jobs import train
from services_app.capabilities.language_models.ngram import BOS_ID, EOS_ID, pad_documents
from services_app.capabilities.transforms.jobs import transform
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from services_app.storage import Storage
from tests.conftest import run_job_now

SUBJECTS = ["the cat", "the dog", "a bird", "my friend"]
VERBS = ["eats", "sees", "likes"]
OBJECTS = ["fish", "seeds", "bones", "cake"]


def _corpus(n=1500, seed=0):
    rnd = random.Random(seed)
    return [f"{rnd.choice(SUBJECTS)} {rnd.choice(VERBS)} {rnd.choice(OBJECTS)}." for _ in range(n)]


@pytest.fixture
def storage(tmp_path):
    s = Storage(data_root=tmp_path / "root")
    pd.DataFrame({"text": _corpus(), "source": "synthetic"}).to_parquet(s.data_root / "corpus.parquet")
    return s


def _train(storage, **params):
    return train(JobContext(storage=storage), {"source": "corpus.parquet", "min_count": 1, **params})


def test_padding():
    seq, predicted = pad_documents(np.array([10, 11, 12]), np.array([0, 0, 2]), 3, 3)
    assert list(seq) == [BOS_ID, BOS_ID, 10, 11, EOS_ID, BOS_ID, BOS_ID, 12, EOS_ID]
    assert list(predicted) == [False, False, True, True, True, False, False, True, True]


@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_ngram_probabilities_sum_to_one_and_predict(storage, smoothing):
    result = _train(storage, kind="ngram", n=3, smoothing=smoothing, add_k=0.1, name=smoothing)
    assert result["validation_tokens"] > 0 and 1 < result["validation_perplexity"] < 20
    model = load_model(storage.data_root / result["model"])
    dist = model.next_words("the cat", k=len(model.vocab))
    assert math.isclose(sum(d["probability"] for d in dist), 1.0, abs_tol=1e-3)
    assert {d["word"] for d in dist[:3]} == set(VERBS)
    assert model.next_words("my friend likes", k=4)[0]["word"] in OBJECTS
    good = model.perplexity(["the dog likes fish"])
    bad = model.perplexity(["fish likes the the dog"])
    assert good["perplexity"] < bad["perplexity"]
    unseen = model.perplexity(["the zebra eats pizza"])
    assert unseen["oov_rate"] == 0.4  # 2 of 5 predicted tokens (incl. </s>) are <unk>
    assert math.isfinite(unseen["perplexity"])


def test_validation_sentences_are_unseen_yet_scored_better_than_uniform(storage):
    """The hash split keeps equal texts together, so validation sentences never occur in train."""
    for smoothing in ("kneser-ney", "add-k"):
        result = _train(storage, kind="ngram", n=3, smoothing=smoothing, name=smoothing)
        assert 1 < result["validation_perplexity"] < result["vocab_size"] - 1


def test_cooccurrence_similar_words_and_artifacts(storage):
    result = _train(storage, kind="cooccurrence", window=2, name="cooc")
    folder = storage.data_root / result["model"]
    assert {"cooccurrence.npz", "ppmi.npz", "vocab.json", "model.json", "manifest.json"} <= {
        p.name for p in folder.iterdir()
    }
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model_kind"] == "cooccurrence" and manifest["model"]["vocab_size"] == 14
    model = load_model(folder)
    assert model.counts.nnz > 0 and (model.counts != model.counts.T).nnz == 0  # symmetric
    assert model.similar("cat", 1)[0]["word"] == "dog"
    assert model.similar("fish", 3)[0]["word"] in OBJECTS
    with pytest.raises(ServiceError) as err:
        model.similar("zebra")
    assert err.value.status == 404


def test_trains_on_a_transformed_dataset(storage):
    ctx = JobContext(storage=storage)
    out = transform(
        ctx,
        {
            "job_type": "language_modeling",
            "source": "corpus.parquet",
            "text_columns": "text",
            "deduplicate": False,
            "name": "corpus",
        },
    )
    result = _train(storage, source=out["output"], kind="ngram", n=2)
    # train_tokens counts the words read (4 per sentence); validation_tokens the tokens predicted (</s> too)
    assert result["train_tokens"] == out["rows"]["train"] * 4
    assert result["validation_tokens"] == out["rows"]["validation"] * 5  # 4 words + </s>


@pytest.mark.parametrize(
    "bad, status, code, says",
    [
        ({"kind": "transformer"}, 422, "invalid_params", "kind: Input should be 'cooccurrence' or 'ngram'"),
        ({"smoothing": "witten-bell"}, 422, "invalid_params", "smoothing: Input should be 'kneser-ney' or 'add-k'"),
        ({"n": 0}, 422, "invalid_params", "n: Input should be greater than or equal to 1"),
        ({"text_column": "body"}, 400, "unknown_column", "its columns are: text, source"),
        ({"source": "missing.parquet"}, 404, "not_found", "'missing.parquet' does not exist"),
        ({"colour": "red"}, 422, "invalid_params", "unknown field 'colour'; known fields: add_k"),
    ],
)
def test_bad_params(storage, bad, status, code, says):
    with pytest.raises(ServiceError) as err:
        _train(storage, **bad)
    assert (err.value.status, err.value.code) == (status, code)
    assert says in err.value.message


@pytest.mark.django_db
def test_api_train_and_query(api, data_roots):
    pd.DataFrame({"text": _corpus()}).to_parquet(data_roots / "corpus.parquet")
    from services_app.models import Job

    ids = {}
    for kind in ("ngram", "cooccurrence"):
        r = api.post(
            reverse("api:language_model_train"), {"source": "corpus.parquet", "kind": kind, "min_count": 1, "window": 2}
        )
        assert r.status_code == HTTPStatus.ACCEPTED, r.content
        job = run_job_now(Job.objects.get(pk=r.json()["id"]))
        assert job.status == "succeeded", job.error
        assert job.outputs == [f"jobs/language_modeling/models/{job.id}"]
        ids[kind] = job.id
    r = api.get(reverse("api:language_model_next", args=[ids["ngram"]]), data={"context": "the cat", "k": 3})
    assert r.status_code == HTTPStatus.OK
    assert {d["word"] for d in r.json()["next"]} == set(VERBS)
    r = api.post(reverse("api:language_model_perplexity", args=[ids["ngram"]]), {"texts": ["the cat eats fish"]})
    assert r.status_code == HTTPStatus.OK and r.json()["perplexity"] > 1
    r = api.get(reverse("api:language_model_similar", args=[ids["cooccurrence"]]), data={"word": "cat", "k": 2})
    assert r.status_code == HTTPStatus.OK and r.json()["similar"][0]["word"] == "dog"
    # wrong kind, unknown word, unknown job, bad request
    r = api.get(reverse("api:language_model_similar", args=[ids["ngram"]]), data={"word": "cat"})
    assert r.status_code == HTTPStatus.CONFLICT
    r = api.get(reverse("api:language_model_similar", args=[ids["cooccurrence"]]), data={"word": "zebra"})
    assert r.status_code == HTTPStatus.NOT_FOUND
    r = api.get(reverse("api:language_model_next", args=["00000000-0000-0000-0000-000000000000"]))
    assert r.status_code == HTTPStatus.NOT_FOUND
    r = api.post(reverse("api:language_model_train"), {"source": "corpus.parquet", "text_column": "body"})
    assert r.status_code == HTTPStatus.BAD_REQUEST and "text" in r.json()["error"]["details"]["columns"]


@pytest.mark.django_db
def test_management_command(data_roots, capsys):
    pd.DataFrame({"text": _corpus(300)}).to_csv(data_roots / "small.csv", index=False)
    call_command(
        "train_language_model", "--source", "small.csv", "--kind", "ngram", "--n", "2", "--min-count", "1", "--quiet"
    )
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "jobs/language_modeling/models/small-ngram"
    assert result["validation_perplexity"] > 1
