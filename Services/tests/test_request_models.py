"""Every capability's one request model: unknown keys are refused (never dropped), at every level and by every
door; a body that is not an object is a 422; what is stored on the job is what the job function reads back."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.urls import reverse

from services_app.errors import ServiceError

# (operation, a body that would otherwise pass validation, a nested object to misspell a key in)
BODIES = [
    ("job_demo", {"seconds": 0}, None),
    ("conversion_create", {"source": "raw/x.csv"}, "options"),
    ("kb_build", {"name": "kb", "source": "x"}, "chunking"),
    ("transform_create", {"job_type": "classification", "source": "x.csv"}, "splits"),
    ("language_model_train", {"source": "x.csv"}, None),
    ("dataset_download", {"connector": "url", "params": {"url": "https://example.org/x.csv"}}, "params"),
    ("model_download", {"name": "m", "version": "v1"}, None),
    ("model_sync", {"direction": "models-local"}, None),
    (
        "run_create",
        {
            "project": "p",
            "run_name": "r",
            "labels": ["a", "b"],
            "files": [
                {"name": "manifest.json", "size": 1, "sha256": "0" * 64},
                {"name": "training.inputs.arrow", "size": 1, "sha256": "0" * 64},
            ],
        },
        "options",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "body", "nested"), BODIES)
def test_unknown_keys_are_a_422_that_names_them_and_lists_the_known_ones(api, operation, body, nested):
    r = api.post(reverse(f"api:{operation}"), {**body, "colour": "blue"})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, r.content
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert "unknown field 'colour'" in err["message"] and "known fields:" in err["message"]
    for known in body:  # the list names the real fields
        assert known in err["message"]
    if nested:
        inner = {**(body.get(nested) or {}), "misspelt": 1}
        r = api.post(reverse(f"api:{operation}"), {**body, nested: inner})
        assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, r.content
        assert "unknown field 'misspelt'" in r.json()["error"]["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["[null, null]", "[]", "null", '"text"', "3"])
def test_a_body_that_is_not_an_object_is_a_422(api, body):
    from services_app.models import Job

    for url in (reverse("api:job_demo"), reverse("api:pipeline_run", args=["text_classification"])):
        r = api.post(url, body, content_type="application/json")
        assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, (url, body, r.content)
        assert r.json()["error"]["code"] == "validation_error"
    assert Job.objects.count() == 0


@pytest.mark.django_db
def test_stored_params_are_the_model_and_the_job_reads_them_back(api):
    from services_app.capabilities.demo import DemoRequest
    from services_app.models import Job

    r = api.post(reverse("api:job_demo"), {"seconds": 0, "steps": 3, "message": "hi", "force": True})
    assert r.status_code == HTTPStatus.ACCEPTED
    job = Job.objects.get(pk=r.json()["id"])
    # submission-only fields are not stored; every other field is, with its default filled in
    assert job.params == {"seconds": 0.0, "steps": 3, "message": "hi"}
    assert DemoRequest.from_params(job.params).steps == 3


def test_job_time_validation_is_a_structured_422():
    from services_app.capabilities.knowledgebase.request import KnowledgeBaseRequest

    with pytest.raises(ServiceError) as exc:
        KnowledgeBaseRequest.from_params({"name": "kb", "source": "x", "chunking": {"mode": "pages"}})
    assert exc.value.status == 422 and exc.value.code == "invalid_params"
    assert exc.value.details[0]["field"] == "chunking.mode"
    assert "chunking.mode" in exc.value.message
    json.dumps(exc.value.as_dict())  # stored on the Job as JSON


@pytest.mark.django_db
def test_free_strings_have_a_length_limit(api):
    r = api.post(
        reverse("api:transform_create"),
        {"job_type": "classification", "source": "x.csv", "text_separator": "-" * 1_000_000},
    )
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "text_separator" in r.json()["error"]["message"]
    r = api.post(reverse("api:language_model_train"), {"source": "x.csv", "text_column": "t" * 10_000})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "text_column" in r.json()["error"]["message"]
