"""Error messages name locations as the user gave them: never a server path, never the SQL that ran."""

from __future__ import annotations

import json
from http import HTTPStatus

import pytest
from django.urls import reverse

from services_app.models import Job
from tests.conftest import run_job_now

SQL_MARKERS = ("LINE 1", "SELECT", "read_csv(", "read_json(", "COPY (", "DESCRIBE")


@pytest.fixture
def files(data_roots):
    (data_roots / "raw").mkdir()
    (data_roots / "raw/a.csv").write_text("id,name\n1,alpha\n2,beta\n")
    (data_roots / "raw/b.jsonl").write_text('{"id": 1, "name": "alpha"}\n')
    return data_roots


@pytest.mark.django_db
@pytest.mark.parametrize(
    "source, column_types, code",
    [
        ("raw/a.csv", {"missing": "integer"}, "column_not_found"),
        ("raw/a.csv", {"name": "integer"}, "type_error"),
        ("raw/b.jsonl", {"name": "integer"}, "type_error"),
        ("raw/b.jsonl", {"id": "date"}, "type_error"),
    ],
)
def test_conversion_errors_hold_no_sql_and_no_server_path(api, files, settings, source, column_types, code):
    r = api.post(reverse("api:conversion_create"), {"source": source, "options": {"column_types": column_types}})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "failed"
    shown = api.get(reverse("api:job_get", args=[job.pk])).json()
    text = json.dumps(shown["error"])
    assert shown["error"]["code"] == code, text
    assert str(settings.DATA_ROOT) not in text and "/tmp/" not in text, text
    for marker in SQL_MARKERS:
        assert marker not in text, (marker, text)


@pytest.mark.django_db
def test_unexpected_job_errors_keep_their_text_in_the_log(api, settings, caplog, monkeypatch):
    """A crash inside a job (here: a file the converter trips over) ends failed with the kind of error and the
    job id, not the exception text or a traceback with server paths."""
    from services_app.capabilities.conversion import jobs as conversion_jobs

    def boom(*args, **kwargs):
        raise OSError(f"[Errno 5] Input/output error: '{settings.DATA_ROOT}/raw/a.csv'")

    monkeypatch.setattr(conversion_jobs, "collect_inputs", boom)
    (settings.DATA_ROOT / "x.csv").write_text("a\n1\n")
    r = api.post(reverse("api:conversion_create"), {"source": "x.csv"})
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "failed" and job.error["code"] == "internal_error"
    text = json.dumps(job.error)
    assert str(settings.DATA_ROOT) not in text and "Traceback" not in text and "OSError" in text
    assert str(job.pk) in job.error["message"]
    assert str(settings.DATA_ROOT) in caplog.text  # the operator still has the whole story in the log
