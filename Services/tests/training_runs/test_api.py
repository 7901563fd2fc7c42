"""The training-run endpoints through Django's test client on PostgreSQL: create, resumable parts,
complete, and the reads once the job ran (in this process, as a worker would)."""

from __future__ import annotations

import hashlib
from http import HTTPStatus

import pytest

from tests.conftest import require_service, run_job_now

from .conftest import log_all, offline_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def real_db():
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")


def _put(client, api_key, run_id, name, offset, data, sha=None):
    return client.put(
        f"/api/runs/{run_id}/files/{name}?offset={offset}",
        data=data,
        content_type="application/octet-stream",
        headers={"X-API-Key": api_key, "X-Part-SHA256": sha or hashlib.sha256(data).hexdigest()},
    )


def _payload(files):
    return {
        "project": "esg",
        "run_name": "v1",
        "labels": ["finance", "sports", "weather", "health"],
        "files": [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()],
    }


def test_create_refuses_what_it_cannot_use(api):
    good = _payload({"manifest.json": b"{}", "training.inputs.arrow": b"x"})
    for change, fragment in [
        ({"colour": "red"}, "colour"),
        ({"files": [{"name": "../etc.npy", "size": 1, "sha256": "0" * 64}, good["files"][0]]}, "file names are"),
        ({"labels": ["a", "a"]}, "labels must be unique"),
        ({"task_type": "ner"}, "task_type"),
        ({"files": [good["files"][1], {**good["files"][1], "name": "training.e0.probs.npy"}]}, "manifest.json"),
    ]:
        response = api.post("/api/runs", {**good, **change})
        assert response.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, (change, response.content)
        assert fragment in response.json()["error"]["message"], response.json()


def test_parts_resume_and_are_checked(api, client, api_key, other_user):
    data = bytes(range(256)) * 40  # 10,240 bytes
    response = api.post("/api/runs", _payload({"manifest.json": b"{}", "training.inputs.arrow": data}))
    assert response.status_code == HTTPStatus.CREATED, response.content
    run = response.json()
    run_id = run["run_id"]
    assert {f["name"]: f["received"] for f in run["files"]} == {"manifest.json": 0, "training.inputs.arrow": 0}
    name = "training.inputs.arrow"
    assert _put(client, api_key, run_id, name, 0, data[:4096]).json() == {"name": name, "received": 4096}
    # a part beyond what the server has: 409 with where to resume
    gap = _put(client, api_key, run_id, name, 8192, data[8192:])
    assert gap.status_code == HTTPStatus.CONFLICT and gap.json()["error"]["details"] == {"received": 4096}
    # a corrupted part is not kept
    bad = _put(client, api_key, run_id, name, 4096, data[4096:8192], sha="0" * 64)
    assert bad.status_code == HTTPStatus.BAD_REQUEST and bad.json()["error"]["code"] == "part_checksum_mismatch"
    status = api.get(f"/api/runs/{run_id}/upload").json()
    assert {f["name"]: f["received"] for f in status["files"]}[name] == 4096
    # re-sending a part the server has is harmless
    assert _put(client, api_key, run_id, name, 0, data[:4096]).json()["received"] == 4096
    past = _put(client, api_key, run_id, name, 4096, data[4096:] + b"extra")
    assert past.status_code == HTTPStatus.BAD_REQUEST and past.json()["error"]["code"] == "part_past_end"
    assert _put(client, api_key, run_id, name, 4096, data[4096:]).json()["received"] == len(data)
    undeclared = _put(client, api_key, run_id, "test.inputs.arrow", 0, b"x")
    assert undeclared.status_code == HTTPStatus.NOT_FOUND
    incomplete = api.post(f"/api/runs/{run_id}/complete")
    assert incomplete.status_code == HTTPStatus.CONFLICT
    assert "manifest.json (0 of 2 bytes)" in incomplete.json()["error"]["message"]
    # not another user's run
    from services_app.models import ApiKey

    other_key = ApiKey.issue(user=other_user, name="t")[1]
    assert client.get(f"/api/runs/{run_id}", headers={"X-API-Key": other_key}).status_code == HTTPStatus.NOT_FOUND
    assert _put(client, other_key, run_id, name, 0, b"x").status_code == HTTPStatus.NOT_FOUND


def _upload(api, client, api_key, bundle, name="v1", options=None):
    files = {p.name: p.read_bytes() for p in sorted(bundle.iterdir())}
    payload = {**_payload(files), "run_name": name, **({"options": options} if options else {})}
    run_id = api.post("/api/runs", payload).json()["run_id"]
    for fname, data in files.items():
        for offset in range(0, len(data), 1 << 20):
            part = data[offset : offset + (1 << 20)]
            assert _put(client, api_key, run_id, fname, offset, part).status_code == HTTPStatus.OK
    return run_id


def test_complete_process_and_read(api, client, api_key, tmp_path, tasks):
    run = offline_run(tmp_path)
    log_all(run, tasks, epochs=3)
    run.prepare()
    run_id = _upload(api, client, api_key, run.dir / "bundle")
    not_ready = api.get(f"/api/runs/{run_id}/summary")
    assert not_ready.status_code == HTTPStatus.CONFLICT and "still uploading" in not_ready.json()["error"]["message"]
    response = api.post(f"/api/runs/{run_id}/complete")
    assert response.status_code == HTTPStatus.ACCEPTED, response.content
    from services_app.models import Job

    queued = api.get(f"/api/runs/{run_id}/samples")
    assert queued.status_code == HTTPStatus.CONFLICT and "its job is queued" in queued.json()["error"]["message"]
    job = run_job_now(Job.objects.get(pk=response.json()["id"]))
    assert job.status == "succeeded", job.error
    again = api.post(f"/api/runs/{run_id}/complete")
    assert again.status_code == HTTPStatus.OK and again.json()["id"] == str(job.id)

    detail = api.get(f"/api/runs/{run_id}").json()
    assert detail["status"] == "succeeded" and detail["splits"]["inference_new_topic"]["coverage"]["drifted"] is True
    assert [r["id"] for r in api.get("/api/runs?project=esg").json()["items"]] == [run_id]
    summary = api.get(f"/api/runs/{run_id}/summary").json()
    assert summary["splits"]["training"]["likely_mislabelled"] > 0
    page = api.get(f"/api/runs/{run_id}/samples?split=training&filter=likely_mislabelled&sort=dep&page_size=10")
    body = page.json()
    assert page.status_code == HTTPStatus.OK and len(body["items"]) == 10 and body["total"] >= 90
    flipped_ids = set(tasks["training"].ids[tasks["training"].flipped].tolist())
    assert sum(item["id"] in flipped_ids for item in body["items"]) >= 9
    bad = api.get(f"/api/runs/{run_id}/samples?filter=colour:red")
    assert bad.status_code == HTTPStatus.BAD_REQUEST and "is not known" in bad.json()["error"]["message"]
    bad_sort = api.get(f"/api/runs/{run_id}/samples?sort=colour")
    assert bad_sort.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    csv_export = api.get(f"/api/runs/{run_id}/export?format=csv")
    assert csv_export["Content-Type"].startswith("text/csv")
    assert csv_export.content.decode().count("\n") == summary["splits"]["training"]["likely_mislabelled"] + 1
    ls = api.get(f"/api/runs/{run_id}/export?format=label_studio&filter=likely_mislabelled,label:sports")
    assert all(t["data"]["label"] == "sports" for t in ls.json())
    compare = api.get(f"/api/runs/{run_id}/compare/{run_id}?split=training").json()
    assert compare["fixed"] == 0 and compare["still"] == compare["problems_before"] > 0
