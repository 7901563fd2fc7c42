import json
from http import HTTPStatus
from uuid import uuid4

import pytest
from django.urls import reverse

from services_app.jobs.services import job_submit

pytestmark = pytest.mark.django_db


def test_health_needs_no_key(client):
    res = client.get(reverse("api:health"))
    assert res.status_code == HTTPStatus.OK
    body = res.json()
    assert body["database"]["ok"] is True
    # no worker runs in this test: the platform answers but jobs would wait, and health says so
    assert body["workers"] == [] and body["queues_served"] == []
    assert body["status"] == "degraded" and body["ok"] is False
    assert "no live worker serves the default queue" in body["problems"][0]


def test_docs_and_openapi_need_no_key_and_list_every_router(client):
    assert client.get("/api/docs").status_code == HTTPStatus.OK
    spec = client.get("/api/openapi.json").json()
    tags = {t for op in spec["paths"].values() for m in op.values() for t in m.get("tags", [])}
    assert {"Health", "Jobs", "Parquet conversion", "Knowledge base", "Incoming data checks", "Job transforms"} <= tags
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-API-Key"


def test_every_operation_documents_the_statuses_it_can_answer(client):
    spec = client.get("/api/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if op.get("security"):
                assert "401" in codes, (method, path)
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in codes, (method, path)
    # the job in an example is a job, not the demo kind on every operation
    assert "demo.sleep" not in json.dumps(spec["components"]["schemas"]["JobOut"])


def test_job_list_leaves_results_to_the_job_page(api):
    from services_app.jobs.services import job_submit
    from services_app.models import Job

    job, _ = job_submit(
        owner=Job._meta.get_field("owner").related_model.objects.get(username="alice"),
        kind="demo.sleep",
        params={"seconds": 0},
    )
    Job.objects.filter(pk=job.pk).update(status="succeeded", result={"big": "x" * 10_000}, outputs=["a", "b"])
    listed = api.get(reverse("api:job_list")).json()["items"][0]
    assert "result" not in listed and "inputs" not in listed and listed["outputs_count"] == 2
    one = api.get(reverse("api:job_get", args=[job.pk])).json()
    assert one["result"] == {"big": "x" * 10_000} and one["outputs"] == ["a", "b"]


def test_missing_key_is_401_with_error_shape(client):
    res = client.get(reverse("api:job_list"))
    assert res.status_code == HTTPStatus.UNAUTHORIZED
    assert res.json()["error"]["code"] == "unauthorized"
    assert "X-API-Key" in res.json()["error"]["message"]


def test_bad_key_is_401(client, user):
    res = client.get(reverse("api:job_list"), headers={"X-API-Key": "svc_not-a-real-key"})
    assert res.status_code == HTTPStatus.UNAUTHORIZED


def test_revoked_key_is_401(client, user):
    from services_app.models import ApiKey

    key, raw = ApiKey.issue(user=user, name="old")
    key.revoked = True
    key.save()
    assert client.get(reverse("api:job_list"), headers={"X-API-Key": raw}).status_code == HTTPStatus.UNAUTHORIZED


def test_keys_are_stored_hashed(user):
    from services_app.models import ApiKey

    key, raw = ApiKey.issue(user=user, name="k")
    assert raw not in (key.hashed_key, key.prefix) and len(key.hashed_key) == 64
    assert ApiKey.lookup(raw) == key


def test_other_users_job_is_404(api, other_user):
    job, _ = job_submit(owner=other_user, kind="demo.sleep", params={"seconds": 0})
    res = api.get(reverse("api:job_get", args=[job.pk]))
    assert res.status_code == HTTPStatus.NOT_FOUND
    assert res.json()["error"]["code"] == "job_not_found"
    assert api.post(reverse("api:job_cancel", args=[job.pk])).status_code == HTTPStatus.NOT_FOUND


def test_staff_see_every_job(api, user, other_user):
    user.is_staff = True
    user.save()
    job, _ = job_submit(owner=other_user, kind="demo.sleep", params={"seconds": 0})
    assert api.get(reverse("api:job_get", args=[job.pk])).status_code == HTTPStatus.OK


def test_unknown_job_is_404(api):
    assert api.get(reverse("api:job_get", args=[uuid4()])).status_code == HTTPStatus.NOT_FOUND


def test_bad_body_is_422_with_error_shape(api):
    res = api.post(reverse("api:job_demo"), {"seconds": "soon", "steps": 0})
    assert res.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    err = res.json()["error"]
    assert err["code"] == "validation_error"
    fields = {d["field"] for d in err["details"]}
    assert any(f.endswith("seconds") for f in fields) and any(f.endswith("steps") for f in fields)


def test_malformed_json_is_400_that_says_where(api):
    res = api.post(reverse("api:job_demo"), '{"seconds": 1,\n "steps": }', content_type="application/json")
    assert res.status_code == 400
    error = res.json()["error"]
    assert error["code"] == "invalid_json" and error["details"] == {"line": 2, "column": 11}
    assert error["message"].startswith("the request body is not valid JSON: Expecting value at line 2, column 11")
    res = api.post(reverse("api:job_demo"), b'{"message": "\xff"}', content_type="application/json")
    assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_json"
    assert "not UTF-8" in res.json()["error"]["message"]


def test_submit_answers_202_and_lists(api):
    res = api.post(reverse("api:job_demo"), {"seconds": 0, "steps": 1})
    assert res.status_code == HTTPStatus.ACCEPTED
    job = res.json()
    assert job["status"] == "queued" and job["kind"] == "demo.sleep" and job["owner"] == "alice"
    listed = api.get(reverse("api:job_list"), data={"kind": "demo.sleep", "status": "queued"}).json()
    assert listed["count"] == 1 and listed["items"][0]["id"] == job["id"]
    assert api.get(reverse("api:job_list"), data={"status": "failed"}).json()["count"] == 0
    assert api.get(reverse("api:job_list"), data={"status": "nonsense"}).status_code == 422


def test_absurd_pagination_is_422_not_a_database_error(api):
    res = api.get(reverse("api:job_list"), data={"offset": 10**20, "limit": 5})
    assert res.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert api.get(reverse("api:job_list"), data={"limit": 100_000}).status_code == HTTPStatus.UNPROCESSABLE_ENTITY


@pytest.mark.parametrize("path", ["/api/conversions/upload", "/api/checks/upload", "/api/datasets/inspect"])
def test_multipart_without_boundary_is_400(client, api_key, path):
    res = client.post(path, b"garbage", content_type="multipart/form-data", headers={"X-API-Key": api_key})
    assert res.status_code == HTTPStatus.BAD_REQUEST, res.content
    assert res.json()["error"]["code"] == "bad_multipart"


def test_gcs_without_credentials_is_503_not_500(api, settings, monkeypatch):
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    settings.GCS_ALLOWED_BUCKETS = [settings.GCS_MODELS_BUCKET]
    res = api.get("/api/models")
    assert res.status_code == HTTPStatus.SERVICE_UNAVAILABLE, res.json()
    error = res.json()["error"]
    assert error["code"] == "gcs_credentials"
    assert "no Google credentials found" in error["message"] and "GOOGLE_APPLICATION_CREDENTIALS" in error["message"]
    assert "/nonexistent" not in json.dumps(res.json())  # the server's key path is in no part of the answer


def test_connectors_are_listed(api):
    res = api.get("/api/datasets/connectors")
    assert res.status_code == HTTPStatus.OK
    assert {c["name"] for c in res.json()} >= {"url", "oekobaudat"}


def test_unknown_endpoint_and_wrong_method_have_the_error_shape(api):
    res = api.get("/api/no-such-thing")
    assert res.status_code == HTTPStatus.NOT_FOUND and res.json()["error"]["code"] == "not_found"
    res = api.delete(reverse("api:job_list"))
    assert res.status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert res.json()["error"]["code"] == "method_not_allowed" and "GET" in res["Allow"]
