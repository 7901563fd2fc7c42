"""Through the API (and the command): jobs, per-file reports, uploads, preview."""

from __future__ import annotations

import gzip
import io
import json
from http import HTTPStatus

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.urls import reverse

from services_app.models import Job
from tests.conftest import run_job_now

from .makers import make_pdf, make_xlsx, make_zip_bomb_xlsx

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(data_roots):
    root = data_roots / "raw" / "batch"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.csv").write_text("id,name\n1,x\n2,\n")
    (root / "bad.csv").write_text("a,b\n1,2\n3,4,5\n")
    (root / "sub" / "b.jsonl").write_text('{"k": 1}\n{"k": 2}\n')
    (root / "sub" / "deeper" / "c.tsv.gz").write_bytes(gzip.compress(b"p\tq\n1\t2\n"))
    (root / "notes.md").write_text("not data")
    (root / "sub" / "bomb.xlsx").write_bytes(make_zip_bomb_xlsx(data_roots / "tmp-bomb.xlsx").read_bytes())
    (data_roots / "tmp-bomb.xlsx").unlink()
    make_xlsx(root / "sub" / "book.xlsx", {"One": [["v"], [1]], "Two": [["w"], ["z"]]})
    make_pdf(root / "doc.pdf", ["first", "second"])
    return root


def test_folder_conversion_reports_every_file(api, tree, data_roots):
    resp = api.post(
        reverse("api:conversion_create"),
        {"source": "raw/batch", "options": {"compression": "zstd", "compression_level": 3}},
    )
    assert resp.status_code == HTTPStatus.ACCEPTED, resp.content
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "succeeded", job.error
    result = job.result
    by_path = {e["relative_path"]: e for e in result["files"]}
    assert by_path["a.csv"]["status"] == "converted" and by_path["a.csv"]["rows"] == 2
    assert by_path["bad.csv"]["status"] == "failed" and "line 3" in by_path["bad.csv"]["error"]["message"]
    assert by_path["sub/bomb.xlsx"]["error"]["code"] == "unsafe_file"
    assert by_path["notes.md"]["status"] == "skipped"
    assert by_path["sub/book.xlsx"]["rows"] == 2
    assert result["converted"] == 5 and result["failed"] == 2 and result["skipped"] == 1
    out = data_roots / "parquet" / "raw" / "batch"
    assert pq.read_table(out / "a.parquet").column("name").to_pylist() == ["x", None]
    assert pq.read_table(out / "sub" / "b.parquet").num_rows == 2
    assert pq.read_table(out / "sub" / "deeper" / "c.parquet").to_pylist() == [{"p": 1, "q": 2}]
    assert (out / "sub" / "book" / "One.parquet").exists() and (out / "sub" / "book" / "Two.parquet").exists()
    assert pq.read_table(out / "doc.parquet").num_rows == 2
    assert not (out / "bad.parquet").exists() and not (out / "sub" / "bomb").exists()
    assert not list(out.rglob(".*tmp"))
    report = json.loads((out / "_conversion_report.json").read_text())
    assert len(report["files"]) == 8
    assert "parquet/raw/batch/a.parquet" in job.outputs
    assert any("bad.csv" in w for w in result.get("warnings", [])) is False  # errors are not warnings

    # the same request again reuses the finished job
    again = api.post(
        reverse("api:conversion_create"),
        {"source": "raw/batch", "options": {"compression": "zstd", "compression_level": 3}},
    )
    assert again.status_code == HTTPStatus.OK and again.json()["id"] == str(job.pk)


def test_single_bad_file_fails_the_job_with_its_error(api, data_roots):
    (data_roots / "empty.csv").write_bytes(b"")
    resp = api.post(reverse("api:conversion_create"), {"source": "empty.csv"})
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "failed"
    assert job.error["code"] == "empty_file" and "empty" in job.error["message"]


def test_single_file_to_named_output_and_preview(api, data_roots):
    (data_roots / "s.csv").write_text("id,when,ok\n1,2024-01-02 03:04:05,true\n2,,false\n")
    resp = api.post(reverse("api:conversion_create"), {"source": "s.csv", "output": "out/s.parquet"})
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.outputs == ["out/s.parquet"]
    prev = api.get(reverse("api:dataset_preview"), data={"location": "out/s.parquet", "rows": 1})
    assert prev.status_code == 200, prev.content
    body = prev.json()
    assert body["rows"] == 2 and len(body["preview"]) == 1
    assert body["preview"][0] == {"id": 1, "when": "2024-01-02T03:04:05", "ok": True}
    assert [c["name"] for c in body["columns"]] == ["id", "when", "ok"]
    assert body["metadata"]["source"] == "s.csv" and len(body["metadata"]["source_sha256"]) == 64
    assert body["metadata"]["options"]["compression"] == "snappy"


def test_preview_errors(api, data_roots):
    (data_roots / "x.csv").write_text("a\n1\n")
    assert api.get(reverse("api:dataset_preview"), data={"location": "x.csv"}).json()["error"]["code"] == "not_parquet"
    assert api.get(reverse("api:dataset_preview"), data={"location": "nope.parquet"}).status_code == 404
    assert api.get(reverse("api:dataset_preview"), data={"location": "../etc/passwd"}).status_code == 400
    assert api.get(reverse("api:dataset_preview"), data={"location": "/etc/passwd"}).status_code == 403


def test_bad_requests_answer_4xx(api, data_roots):
    (data_roots / "a.csv").write_text("a\n1\n")
    url = reverse("api:conversion_create")
    r = api.post(url, {"source": "a.csv", "options": {"column_types": {"a": "complex"}}})
    assert r.status_code == 400 and "column_types" in r.json()["error"]["message"]
    assert api.post(url, {"source": "a.csv", "options": {"compression": "zip"}}).status_code == 422
    assert api.post(url, {"source": "missing.csv"}).status_code == 404
    assert api.post(url, {"source": "/etc"}).status_code == 403
    reserved = api.post(url, {"source": "a.csv", "output": "uploads/0123"})
    assert reserved.status_code == 403 and reserved.json()["error"]["code"] == "reserved_location"


def test_upload_files(client, api_key, data_roots):
    files = [
        io.BytesIO(b"a;b\n1;x\n"),
        io.BytesIO(json.dumps([{"k": 1}, {"k": 2}]).encode()),
    ]
    files[0].name, files[1].name = "one.csv", "two.json"
    resp = client.post(
        reverse("api:conversion_upload"),
        {"files": files, "options": json.dumps({"null_values": ["-"]})},
        headers={"X-API-Key": api_key},
    )
    assert resp.status_code == HTTPStatus.ACCEPTED, resp.content
    job = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.result["converted"] == 2
    outs = sorted(job.outputs)
    assert outs[0].startswith(f"parquet/uploads/{job.pk}/") and outs[0].endswith("one.parquet")
    assert pq.read_table(data_roots / outs[0]).to_pylist() == [{"a": 1, "b": "x"}]
    bad = client.post(
        reverse("api:conversion_upload"),
        {"files": [io.BytesIO(b"a")], "options": "{nope"},
        headers={"X-API-Key": api_key},
    )
    assert bad.status_code == 400


def test_needs_an_api_key(client):
    assert client.post(reverse("api:conversion_create"), {}, content_type="application/json").status_code == 401


def test_management_command(data_roots, capsys):
    (data_roots / "in").mkdir()
    (data_roots / "in" / "ok.csv").write_text("a\n1\n")
    call_command("convert_to_parquet", "in", "--out", "o", "--quiet")
    assert pq.read_table(data_roots / "o" / "ok.parquet").num_rows == 1
    (data_roots / "in" / "bad.csv").write_bytes(b"")
    with pytest.raises(SystemExit) as info:
        call_command("convert_to_parquet", "in", "--out", "o2", "--quiet")
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.err and "bad.csv" in captured.err


def test_openapi_lists_the_conversion_endpoints(client):
    schema = client.get("/api/openapi.json").json()
    assert {"/api/conversions", "/api/conversions/upload", "/api/datasets/preview"} <= set(schema["paths"])


def test_unknown_options_are_refused_and_skip_rows_is_a_real_option(api, data_roots):
    (data_roots / "pre.csv").write_text("exported 2024\na,b\n1,2\n")
    url = reverse("api:conversion_create")
    r = api.post(url, {"source": "pre.csv", "options": {"skiprows": 1}})
    assert r.status_code == 422, r.content
    message = r.json()["error"]["message"]
    assert "skiprows" in message and "skip_rows" in message and "decimal" in message  # the key, and the known ones
    r = api.post(url, {"source": "pre.csv", "options": {"skip_rows": 1, "decimal": ",", "formulas": "text"}})
    assert r.status_code == HTTPStatus.ACCEPTED, r.content
    assert r.json()["params"]["options"] == {"skip_rows": 1, "decimal": ",", "formulas": "text"}
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    entry = job.result["files"][0]
    assert entry["read"]["skipped_lines"] == 1 and entry["read"]["skip_decision"] == "given"
    assert pq.read_table(data_roots / job.outputs[0]).to_pylist() == [{"a": 1, "b": 2}]
    assert api.post(url, {"source": "pre.csv", "options": {"decimal": ";"}}).status_code == 422


def test_a_pdf_password_is_never_shown(api, data_roots, client, user):
    """The password a job needs is hidden in every answer about the job (API and web page)."""
    (data_roots / "s.csv").write_text("id\n1\n")
    resp = api.post(
        reverse("api:conversion_create"), {"source": "s.csv", "options": {"pdf_password": "hunter2-secret"}}
    )
    assert resp.status_code == HTTPStatus.ACCEPTED, resp.content
    job_id = resp.json()["id"]
    assert resp.json()["params"]["options"]["pdf_password"] == "(hidden)"
    for body in (api.get(reverse("api:job_get", args=[job_id])).json(), api.get(reverse("api:job_list")).json()):
        assert "hunter2-secret" not in json.dumps(body)
        assert "(hidden)" in json.dumps(body)
    client.force_login(user)
    page = client.get(f"/jobs/{job_id}/")
    assert page.status_code == 200 and b"hunter2-secret" not in page.content and b"(hidden)" in page.content
    # kept while the job may run, gone from the database once it has ended
    assert Job.objects.get(pk=job_id).params["options"]["pdf_password"] == "hunter2-secret"
    job = run_job_now(Job.objects.get(pk=job_id))
    assert job.status == "succeeded", job.error
    assert Job.objects.get(pk=job_id).params["options"]["pdf_password"] is None


def test_a_second_conversion_of_a_folder_removes_outputs_of_deleted_sources(api, data_roots):
    """The output folder holds the latest conversion only: a source deleted since leaves no stale table."""
    src = data_roots / "raw" / "sales"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("id\n1\n")
    (src / "sub" / "b.csv").write_text("id\n2\n")
    first = run_job_now(
        Job.objects.get(pk=api.post(reverse("api:conversion_create"), {"source": "raw/sales"}).json()["id"])
    )
    assert first.status == "succeeded" and (data_roots / "parquet/raw/sales/a.parquet").is_file()
    (src / "a.csv").unlink()
    (data_roots / "parquet/raw/sales/mine.txt").write_text("not an output of a conversion")
    resp = api.post(reverse("api:conversion_create"), {"source": "raw/sales", "force": True})
    second = run_job_now(Job.objects.get(pk=resp.json()["id"]))
    assert second.status == "succeeded", second.error
    assert second.result["removed_outputs"] == ["parquet/raw/sales/a.parquet"]
    assert any("were not written by this one" in w for w in second.result["warnings"])
    assert not (data_roots / "parquet/raw/sales/a.parquet").exists()
    assert (data_roots / "parquet/raw/sales/sub/b.parquet").is_file()
    assert (data_roots / "parquet/raw/sales/mine.txt").is_file()  # only what a conversion wrote goes


def test_an_identical_conversion_is_reused_only_while_its_outputs_exist(api, data_roots):
    (data_roots / "s.csv").write_text("id\n1\n")
    first = run_job_now(
        Job.objects.get(pk=api.post(reverse("api:conversion_create"), {"source": "s.csv"}).json()["id"])
    )
    again = api.post(reverse("api:conversion_create"), {"source": "s.csv"})
    assert again.status_code == HTTPStatus.OK and again.json()["id"] == str(first.pk)  # reused
    (data_roots / first.outputs[0]).unlink()  # the output was deleted since
    third = api.post(reverse("api:conversion_create"), {"source": "s.csv"})
    assert third.status_code == HTTPStatus.ACCEPTED and third.json()["id"] != str(first.pk)
