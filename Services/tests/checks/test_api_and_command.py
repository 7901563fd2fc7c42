"""The API (bad input answers 4xx), the report endpoint, the CI command, and import hygiene."""

from __future__ import annotations

import re
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from ..conftest import CHROMIUM_ARGS, SERVICES_DIR, require_chromium, run_job_now
from .datagen import tabular_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(data_roots):
    tabular_batch(300, seed=1).to_parquet(data_roots / "ref.parquet")
    tabular_batch(300, seed=2).to_csv(data_roots / "new.csv", index=False)
    return data_roots


def post(api, **body):
    return api.post(reverse("api:checks_run"), {"dataset": "new.csv", "reference": "ref.parquet", **body})


def test_missing_label_column_lists_columns(api, files):
    r = post(api, label="target")
    assert r.status_code == HTTPStatus.BAD_REQUEST
    err = r.json()["error"]
    assert err["code"] == "missing_columns" and "'target'" in err["message"]
    assert err["details"]["columns"] == ["age", "income", "score", "region", "channel", "risk"]


def test_missing_text_column(api, files):
    r = post(api, label="risk", text="body", task="text_classification")
    assert r.status_code == HTTPStatus.BAD_REQUEST and "'body'" in r.json()["error"]["message"]
    assert "columns found: age, income" in r.json()["error"]["message"]


def test_a_number_column_given_as_text_is_refused(api, files):
    """`income` holds numbers: text checks on str(42000.0) would pass or fail for no reason."""
    for column, kind in (("income", "numbers"), ("region", None)):
        r = post(api, label="risk", text=column, task="text_classification")
        if kind is None:  # a text column is accepted
            assert r.status_code == HTTPStatus.ACCEPTED, r.json()
            continue
        assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, r.json()
        err = r.json()["error"]
        assert err["code"] == "not_text_column" and err["details"]["column"] == column
        assert f"column {column!r} holds {kind}" in err["message"]


def test_single_class_label(api, files):
    df = tabular_batch(50, seed=3).assign(risk="low")
    df.to_csv(files / "one.csv", index=False)
    r = post(api, dataset="one.csv", label="risk")
    assert r.status_code == HTTPStatus.BAD_REQUEST
    assert r.json()["error"]["code"] == "single_class_label" and "one class" in r.json()["error"]["message"]


def test_empty_dataset(api, files):
    (files / "empty.csv").write_text("")
    tabular_batch(0, seed=1).to_csv(files / "header_only.csv", index=False)
    for name in ("empty.csv", "header_only.csv"):
        r = post(api, dataset=name, label="risk")
        assert r.status_code == HTTPStatus.BAD_REQUEST, r.json()
        assert r.json()["error"]["code"] == "empty_dataset"


def test_different_columns(api, files):
    tabular_batch(100, seed=4).rename(columns={"income": "salary"}).to_csv(files / "renamed.csv", index=False)
    r = post(api, dataset="renamed.csv", label="risk")
    assert r.status_code == HTTPStatus.BAD_REQUEST
    err = r.json()["error"]
    assert err["code"] == "column_mismatch"
    assert err["details"] == {"only_in_dataset": ["salary"], "only_in_reference": ["income"]}


def test_non_tabular_file(api, files):
    (files / "report.pdf").write_bytes(b"%PDF-1.4\n%binary\n")
    r = post(api, dataset="report.pdf", label="risk")
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "not_tabular"
    (files / "garbage.parquet").write_bytes(b"\x00\x01not parquet at all")
    r = post(api, dataset="garbage.parquet", label="risk")
    assert r.status_code == HTTPStatus.BAD_REQUEST and "could not read" in r.json()["error"]["message"]


def test_bad_conditions_and_paths(api, files):
    r = post(api, label="risk", conditions={"feature_drift": {"max_drift": 0.3}})
    assert r.status_code == HTTPStatus.BAD_REQUEST and "max_wasserstein" in r.json()["error"]["message"]
    r = post(api, label="risk", conditions={"nope": {}})
    assert r.status_code == HTTPStatus.BAD_REQUEST and "unknown check" in r.json()["error"]["message"]
    r = post(api, dataset="../etc/passwd", label="risk")
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "path_outside_root"


def test_check_job_report_and_summary(api, files, settings):
    settings.CELERY_GPU_QUEUE_ENABLED = False  # and no live worker serves "gpu": the job goes to "default"
    r = post(api, label="risk", conditions={"multivariate_drift": {"enabled": False}})
    assert r.status_code == HTTPStatus.ACCEPTED
    job = r.json()
    assert job["kind"] == "checks.incoming" and job["queue"] == "default"
    from services_app.models import Job

    done = run_job_now(Job.objects.get(pk=job["id"]))
    assert done.status == "succeeded", done.error
    result = done.result
    assert result["passed"] is True and result["failed_checks"] == []
    assert "multivariate_drift" not in {c["id"] for c in result["checks"]}
    assert result["wandb"]["mode"] == "offline" and Path(result["wandb"]["dir"]).is_dir()
    assert Path(result["wandb"]["dir"]).is_relative_to(files)
    report = api.get(reverse("api:checks_report", args=[job["id"]]))
    assert report.status_code == 200 and report["Content-Type"].startswith("text/html")
    html = b"".join(report.streaming_content)
    assert b"Feature Drift" in html and b"Verdict: PASSED" in html
    assert html.index(b"services-summary") < html.index(b"Data Duplicates")  # our summary first
    assert not re.search(rb"<script[^>]+src=[\"']https?:", html)  # scripts are inlined: opens offline
    summary = api.get(reverse("api:checks_summary", args=[job["id"]])).json()
    assert summary["checks"] == result["checks"]
    rows = api.get(reverse("api:checks_rows", args=[job["id"]]), data={"limit": 5}).json()
    assert rows["limit"] == 5 and len(rows["rows"]) == 5 and rows["total"] == 300
    assert set(rows["rows"][0]) >= {"row", "label", "label_quality", "suggested_label", "duplicate_set", "issues"}
    for name, kind in (("fix_first.csv", "text/csv"), ("label_studio.json", "application/json")):
        got = api.get(reverse("api:checks_export", args=[job["id"], name]))
        assert got.status_code == 200 and got["Content-Type"] == kind
    assert api.get(reverse("api:checks_export", args=[job["id"], "summary.json"])).status_code == 422
    bad = api.get(reverse("api:checks_rows", args=[job["id"]]), data={"issue": "nope"})
    assert bad.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    # Unknown fields are refused (one request model, extra="forbid").
    extra = post(api, label="risk", colour="red")
    assert extra.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "colour" in extra.json()["error"]["message"]
    # Same inputs and params again: the finished job is reused.
    assert post(api, label="risk", conditions={"multivariate_drift": {"enabled": False}}).status_code == HTTPStatus.OK


def test_upload_endpoint(client, api_key, files):
    with open(files / "new.csv", "rb") as new, open(files / "ref.parquet", "rb") as ref:
        r = client.post(
            reverse("api:checks_upload"),
            {"dataset": new, "reference": ref, "label": "nope"},
            headers={"X-API-Key": api_key},
        )
    assert r.status_code == HTTPStatus.BAD_REQUEST and r.json()["error"]["code"] == "missing_columns"


def test_conditions_endpoint(api):
    body = api.get(reverse("api:checks_conditions")).json()
    assert body["tabular"]["feature_drift"]["max_wasserstein"] == 0.1
    assert body["tabular"]["conflicting_labels"]["max_ratio"] == 0.01
    assert {"label_issues", "near_duplicates", "coverage", "language_mix", "markup", "empty_texts"} <= set(
        body["text_classification"]
    )
    assert "embedding_drift" in body["text_classification"]


def test_command_gates_ci(files, capsys, tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as ok:
        call_command(
            "check_incoming_data", "new.csv", "--reference", "ref.parquet", "--label", "risk", "--no-wandb", "--quiet"
        )
    assert ok.value.code == 0
    assert "verdict: PASSED" in capsys.readouterr().out
    df = tabular_batch(300, seed=5)
    df["age"] += 15
    df.to_csv(files / "shifted.csv", index=False)
    with pytest.raises(SystemExit) as bad:
        call_command(
            "check_incoming_data",
            "shifted.csv",
            "--reference",
            "ref.parquet",
            "--label",
            "risk",
            "--no-wandb",
            "--quiet",
        )
    out = capsys.readouterr().out
    assert bad.value.code == 1 and "feature_drift" in out and "FAIL" in out and "verdict: FAILED" in out
    # A project defaults file loosens the threshold; the same data then passes.
    project = tmp_path / "conditions.yaml"
    project.write_text(
        "tabular:\n  feature_drift: {enabled: false}\n  multivariate_drift: {enabled: false}\n"
        "  coverage: {enabled: false}\n"
    )
    with pytest.raises(SystemExit) as loose:
        call_command(
            "check_incoming_data",
            "shifted.csv",
            "--reference",
            "ref.parquet",
            "--label",
            "risk",
            "--no-wandb",
            "--quiet",
            "--conditions-file",
            str(project),
        )
    assert loose.value.code == 0
    with pytest.raises(SystemExit) as bad_input:
        call_command("check_incoming_data", "new.csv", "--label", "target", "--no-wandb", "--quiet")
    assert bad_input.value.code == 2 and "columns found" in capsys.readouterr().err


def test_web_process_does_not_import_heavy_libraries():
    code = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'services_project.settings'); "
        "django.setup(); import services_app.api.api; import services_project.urls; "
        "heavy = [m for m in ('deepchecks', 'torch', 'sentence_transformers', 'wandb') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=SERVICES_DIR, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_report_renders_offline_in_chromium(api, files, live_server):
    chromium = require_chromium()
    from playwright import sync_api as playwright

    from services_app.models import Job

    job = post(api, label="risk", suites=["integrity"]).json()
    run_job_now(Job.objects.get(pk=job["id"]))
    requests_outside: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(extra_http_headers={"X-API-Key": api.headers["X-API-Key"]})
        page.on(
            "request",
            lambda req: (
                None
                if req.url.startswith(live_server.url) or req.url.startswith("data:")
                else requests_outside.append(req.url)
            ),
        )
        page.route(lambda url: not url.startswith(live_server.url), lambda route: route.abort())
        page.goto(f"{live_server.url}{reverse('api:checks_report', args=[job['id']])}")
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        browser.close()
    assert "Data Duplicates" in text and "Mixed Data Types" in text
    assert requests_outside == []
