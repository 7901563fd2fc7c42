from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db


def test_list_pipelines_with_their_committed_metrics(api):
    r = api.get(reverse("api:pipeline_list"))
    assert r.status_code == HTTPStatus.OK
    items = {p["name"]: p for p in r.json()["items"]}
    assert {"text_classification", "regression"} <= set(items)
    tc = items["text_classification"]
    assert tc["metrics_source"] == "repository"
    assert tc["metrics"]["metrics/evaluate.json"]["accuracy"] > 0.85
    assert tc["passed"] is True and {c["metric"] for c in tc["checks"]} >= {"accuracy", "accuracy_drop"}
    assert [s["name"] for s in tc["stages"]][:2] == ["prepare", "featurize"]
    assert tc["params"]["train"]["model"] == "logistic_regression"


def test_bad_run_requests_are_refused(api):
    url = reverse("api:pipeline_run", kwargs={"name": "nope"})
    r = api.post(url, {})
    assert r.status_code == HTTPStatus.NOT_FOUND and "known pipelines" in r.json()["error"]["message"]
    url = reverse("api:pipeline_run", kwargs={"name": "regression"})
    r = api.post(url, {"params": {"models.lasso.alhpa": 1}})
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "unknown_param"
    r = api.post(url, {"stages": ["fly"]})
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "unknown_stage"


def test_requires_api_key(client):
    assert client.get(reverse("api:pipeline_list")).status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.slow
def test_run_a_pipeline_through_the_api(api, data_roots):
    url = reverse("api:pipeline_run", kwargs={"name": "regression"})
    r = api.post(url, {"params": {"models.lasso.alpha": 0.2}})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    job = r.json()
    assert job["kind"] == "pipelines.run"
    from services_app.models import Job

    done = run_job_now(Job.objects.get(pk=job["id"]))
    assert done.status == "succeeded", done.error
    assert set(done.result["stages_run"]) == {"generate", "train@linear", "train@lasso", "evaluate"}
    assert done.result["passed"] is True
    run_dir = data_roots / done.result["location"]
    assert (run_dir / "metrics" / "regression.json").is_file() and (run_dir / "report.md").is_file()
    assert "alpha: 0.2" in (run_dir / "params.yaml").read_text()

    again = api.post(url, {"params": {"models.lasso.alpha": 0.2}})
    assert again.status_code == HTTPStatus.OK and again.json()["id"] == job["id"]  # identical request reuses the job

    other = api.post(url, {"params": {"models.lasso.alpha": 0.5}, "stages": ["evaluate"]})
    assert other.status_code == HTTPStatus.ACCEPTED
    done2 = run_job_now(Job.objects.get(pk=other.json()["id"]))
    assert done2.status == "succeeded", done2.error
    assert done2.result["stages_run"] == ["train@lasso", "evaluate"]  # the workspace kept the rest

    listed = {p["name"]: p for p in api.get(reverse("api:pipeline_list")).json()["items"]}["regression"]
    assert listed["metrics_source"] == "run" and listed["latest_run"]["job_id"] == str(done2.pk)
    assert listed["latest_run"]["params_overrides"] == {"models.lasso.alpha": 0.5}
