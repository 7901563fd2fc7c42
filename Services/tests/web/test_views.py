"""The web app's views through Django's test client: who may see what, escaping, and each
page's content. The browser tests (test_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import io
import json
from http import HTTPStatus
from urllib.parse import urlencode

import pyarrow as pa
import pytest
from django.test import Client
from django.urls import reverse

from services_app.models import ApiKey, Job
from services_app.web import access

from ..conftest import run_job_now
from .conftest import write_parquet

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _job(owner, **kw) -> Job:
    kw.setdefault("kind", "demo.sleep")
    kw.setdefault("status", Job.Status.SUCCEEDED)
    return Job.objects.create(owner=owner, **kw)


def _loc(name: str, location: str) -> str:
    return reverse(name) + "?" + urlencode({"location": location})


PAGES = [
    ("web:jobs", []),
    ("web:data", []),
    ("web:upload", []),
    ("web:knowledge_bases", []),
    ("web:pipelines", []),
    ("web:models", []),
    ("web:api_keys", []),
    ("web:password", []),
]


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_page_needs_a_login(client, name, args):
    res = client.get(reverse(name, args=args))
    assert res.status_code == HTTPStatus.FOUND
    assert res["Location"].startswith(reverse("web:login") + "?next=")


def test_a_live_part_after_the_session_ended_goes_to_the_login_page(client, user):
    job = _job(user, status=Job.Status.RUNNING)
    res = client.get(reverse("web:job_row", args=[job.pk]), HTTP_HX_REQUEST="true")
    assert res.status_code == HTTPStatus.NO_CONTENT and res["HX-Redirect"] == reverse("web:login")
    assert client.get(reverse("web:job_row", args=[job.pk])).status_code == HTTPStatus.FOUND


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_page_renders_for_a_user(alice_client, name, args):
    res = alice_client.get(reverse(name, args=args))
    assert res.status_code == HTTPStatus.OK, res.content[:500]
    assert b'<main id="main"' in res.content


def test_job_pages_of_another_user_are_not_found(alice_client, user, other_user):
    mine, theirs = _job(user), _job(other_user, status=Job.Status.RUNNING)
    listing = alice_client.get(reverse("web:jobs")).content.decode()
    assert str(mine.pk) not in listing or f"job-{mine.pk}" in listing
    assert f"job-{mine.pk}" in listing and f"job-{theirs.pk}" not in listing
    for name in ("web:job", "web:job_row", "web:job_panel", "web:check_report", "web:check_report_html"):
        assert alice_client.get(reverse(name, args=[theirs.pk])).status_code == HTTPStatus.NOT_FOUND, name
    for name in ("web:job_cancel", "web:job_rerun"):
        assert alice_client.post(reverse(name, args=[theirs.pk])).status_code == HTTPStatus.NOT_FOUND, name
    theirs.refresh_from_db()
    assert theirs.status == Job.Status.RUNNING and not theirs.cancel_requested
    assert Job.objects.count() == 2


def test_staff_see_every_job_and_can_filter_by_owner(staff_client, user, other_user):
    a, b = _job(user), _job(other_user)
    page = staff_client.get(reverse("web:jobs")).content.decode()
    assert f"job-{a.pk}" in page and f"job-{b.pk}" in page
    page = staff_client.get(reverse("web:jobs") + "?owner=bob").content.decode()
    assert f"job-{a.pk}" not in page and f"job-{b.pk}" in page


def test_job_filters_kind_status_and_dates(alice_client, user):
    demo = _job(user, kind="demo.sleep", status=Job.Status.FAILED)
    conv = _job(user, kind="conversion.parquet")
    page = alice_client.get(reverse("web:jobs") + "?kind=conversion.parquet").content.decode()
    assert f"job-{conv.pk}" in page and f"job-{demo.pk}" not in page
    page = alice_client.get(reverse("web:jobs") + "?status=failed").content.decode()
    assert f"job-{demo.pk}" in page and f"job-{conv.pk}" not in page
    today = demo.created_at.date().isoformat()
    page = alice_client.get(reverse("web:jobs") + f"?since={today}&until={today}").content.decode()
    assert f"job-{demo.pk}" in page
    page = alice_client.get(reverse("web:jobs") + "?since=2999-01-01").content.decode()
    assert f"job-{demo.pk}" not in page
    bad = alice_client.get(reverse("web:jobs") + "?since=yesterday")
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "YYYY-MM-DD" in bad.content.decode()


def test_unfinished_rows_poll_and_finished_rows_do_not(alice_client, user):
    running = _job(user, status=Job.Status.RUNNING, progress=0.4, progress_message="step 2 of 5")
    done = _job(user)
    row = alice_client.get(reverse("web:job_row", args=[running.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in row and "40%" in row and "step 2 of 5" in row
    row = alice_client.get(reverse("web:job_row", args=[done.pk])).content.decode()
    assert "hx-trigger" not in row
    panel = alice_client.get(reverse("web:job_panel", args=[running.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in panel
    assert reverse("web:job_cancel", args=[running.pk]) in panel  # cancel lives in the live part
    panel = alice_client.get(reverse("web:job_panel", args=[done.pk])).content.decode()
    assert "hx-trigger" not in panel and reverse("web:job_cancel", args=[done.pk]) not in panel


def test_job_page_escapes_parameters_errors_and_progress(alice_client, user):
    job = _job(
        user,
        status=Job.Status.FAILED,
        params={"source": HOSTILE, "options": {"null_values": [HOSTILE]}},
        progress_message=HOSTILE,
        error={"code": "bad_input", "message": f"column {HOSTILE} is missing: give it", "details": None},
    )
    for name in ("web:job", "web:job_panel", "web:job_row"):
        html = alice_client.get(reverse(name, args=[job.pk])).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, name
        assert "&lt;script&gt;alert" in html, name
    html = alice_client.get(reverse("web:job", args=[job.pk])).content.decode()
    assert "options.null_values" in html  # nested parameters flattened into readable rows
    assert "What went wrong" in html and "is missing: give it" in html


def test_internal_error_details_are_shown_to_staff_only(alice_client, staff_client, user):
    job = _job(
        user,
        status=Job.Status.FAILED,
        error={"code": "internal_error", "message": "KeyError: 'x'", "details": {"traceback": "File /srv/x.py"}},
    )
    assert "/srv/x.py" not in alice_client.get(reverse("web:job", args=[job.pk])).content.decode()
    assert "/srv/x.py" in staff_client.get(reverse("web:job", args=[job.pk])).content.decode()


def test_cancel_and_run_again(alice_client, user):
    queued = _job(user, status=Job.Status.QUEUED, params={"seconds": 1, "steps": 1})
    res = alice_client.post(reverse("web:job_cancel", args=[queued.pk]))
    assert res.status_code == HTTPStatus.FOUND
    queued.refresh_from_db()
    assert queued.status == Job.Status.CANCELLED
    again = alice_client.post(reverse("web:job_cancel", args=[queued.pk]))
    assert again.status_code == HTTPStatus.CONFLICT and "nothing to cancel" in again.content.decode()
    res = alice_client.post(reverse("web:job_rerun", args=[queued.pk]))
    new = Job.objects.exclude(pk=queued.pk).get()
    assert res["Location"] == reverse("web:job", args=[new.pk])
    assert (new.kind, new.params, new.owner, new.status) == (queued.kind, queued.params, user, Job.Status.QUEUED)


def test_staff_may_see_but_not_cancel_for_others_without_being_owner(staff_client, user):
    # staff act on any job (as in the API); the new run belongs to the staff user
    job = _job(user, params={"seconds": 1, "steps": 1})
    staff_client.post(reverse("web:job_rerun", args=[job.pk]))
    assert Job.objects.exclude(pk=job.pk).get().owner.username == "carol"


def test_posts_need_the_csrf_token(user):
    c = Client(enforce_csrf_checks=True)
    c.force_login(user)
    job = _job(user, status=Job.Status.QUEUED)
    assert c.post(reverse("web:job_cancel", args=[job.pk])).status_code == HTTPStatus.FORBIDDEN
    assert c.post(reverse("web:api_keys"), {"name": "x"}).status_code == HTTPStatus.FORBIDDEN
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and not ApiKey.objects.exists()


# --- datasets ---------------------------------------------------------------------------------


def test_parquet_page_schema_rows_stats_and_conversion(alice_client, alice_dataset):
    location, job = alice_dataset
    res = alice_client.get(_loc("web:dataset", location))
    assert res.status_code == HTTPStatus.OK
    stats = {s.name: s for s in res.context["stats"]}
    assert res.context["total"] == 5 and res.context["covered"] == 5
    assert (stats["region"].nulls, stats["region"].distinct) == (1, 3)
    assert (stats["region"].minimum, stats["region"].maximum) == ("east", "south")
    assert (stats["amount"].nulls, stats["amount"].minimum, stats["amount"].maximum) == (1, "10.0", "50.0")
    assert sum(stats["amount"].histogram) == 4 and len(stats["amount"].histogram) == 10
    assert stats["region"].histogram == []  # text: no histogram
    html = res.content.decode()
    assert "windows-1252" in html and "became null" in html  # what the conversion decided
    assert reverse("web:job", args=[job.pk]) in html
    assert res.context["rows"][2] == [None, 30.0, "a"]


def test_data_of_another_user_is_not_found(bob_client, alice_dataset):
    location, job = alice_dataset
    for name in ("web:dataset", "web:download", "web:data"):
        res = bob_client.get(_loc(name, location))
        assert res.status_code == HTTPStatus.NOT_FOUND, name
        assert "that you can see" in res.content.decode()
    assert bob_client.get(_loc("web:data", "parquet")).status_code == HTTPStatus.NOT_FOUND
    top = bob_client.get(reverse("web:data")).content.decode()
    assert "sales.parquet" not in top and "parquet/uploads" not in top


def test_owner_browses_and_downloads_their_data(alice_client, alice_dataset, data_roots):
    location, _ = alice_dataset
    write_parquet(data_roots, "parquet/uploads/someone-else/x.parquet", pa.table({"x": [1]}))
    write_parquet(data_roots, "parquet/other.parquet", pa.table({"x": [1]}))
    top = alice_client.get(reverse("web:data"))
    assert [e.location for e in top.context["entries"]] == ["parquet", "uploads"]
    # above what her jobs wrote, only the way down to it is listed
    above = alice_client.get(_loc("web:data", "parquet"))
    assert [e.location for e in above.context["entries"]] == ["parquet/uploads"]
    above = alice_client.get(_loc("web:data", "parquet/uploads"))
    assert [e.location for e in above.context["entries"]] == ["parquet/uploads/j1"]
    folder = alice_client.get(_loc("web:data", "parquet/uploads/j1"))
    assert [e.name for e in folder.context["entries"]] == ["sales.parquet"]
    assert alice_client.get(_loc("web:dataset", "parquet/other.parquet")).status_code == HTTPStatus.NOT_FOUND
    assert alice_client.get(_loc("web:data", "parquet/uploads/someone-else")).status_code == HTTPStatus.NOT_FOUND
    res = alice_client.get(_loc("web:download", location))
    assert res.status_code == HTTPStatus.OK
    assert b"".join(res.streaming_content) == (data_roots / location).read_bytes()
    assert res["Content-Disposition"].startswith("attachment")
    assert res["Content-Security-Policy"].startswith("sandbox;") and res["X-Content-Type-Options"] == "nosniff"


def test_a_symlink_in_your_folder_does_not_reach_other_data(alice_client, user, other_user, data_roots):
    theirs = write_parquet(data_roots, "bob/secret.parquet", pa.table({"x": [1]}))
    _job(other_user, outputs=[theirs])
    (data_roots / "mine").mkdir()
    (data_roots / "mine" / "link.parquet").symlink_to(data_roots / theirs)
    (data_roots / "mine" / "dir").symlink_to(data_roots / "bob")
    _job(user, outputs=["mine/link.parquet"], result={"output": "mine"})
    for name, location in (
        ("web:dataset", "mine/link.parquet"),
        ("web:download", "mine/link.parquet"),
        ("web:data", "mine/dir"),
        ("web:dataset", "mine/dir/secret.parquet"),
    ):
        assert alice_client.get(_loc(name, location)).status_code == HTTPStatus.NOT_FOUND, (name, location)


def test_staff_browse_the_whole_data_root_but_not_the_platform_areas(staff_client, alice_dataset, data_roots):
    (data_roots / ".cache").mkdir()
    top = staff_client.get(reverse("web:data"))
    assert [e.name for e in top.context["entries"]] == ["parquet"]
    assert staff_client.get(_loc("web:data", ".cache")).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize("location", ["../../etc/passwd", "/etc/passwd", "parquet/../../x", "\x00", ""])
def test_bad_locations_get_a_4xx_not_a_500(alice_client, alice_dataset, location):
    for name in ("web:dataset", "web:download"):
        res = alice_client.get(_loc(name, location))
        assert 400 <= res.status_code < 500, (name, location, res.status_code)
        assert "/etc" not in res.content.decode().replace(location, "")


def test_hostile_cells_are_escaped_in_the_preview(alice_client, user, data_roots):
    location = write_parquet(data_roots, "parquet/evil.parquet", pa.table({HOSTILE: [HOSTILE, "ok"], "n": [1, 2]}))
    _job(user, kind="conversion.parquet", outputs=[location])
    html = alice_client.get(_loc("web:dataset", location)).content.decode()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert html.count("&lt;script&gt;alert") >= 3  # column header, stats row and the cell


def test_a_folder_or_non_parquet_file_says_what_to_do(alice_client, user, data_roots):
    (data_roots / "mine").mkdir()
    (data_roots / "mine" / "notes.txt").write_text("hello")
    _job(user, outputs=["mine/notes.txt"], result={"output": "mine"})
    res = alice_client.get(_loc("web:dataset", "mine/notes.txt"))
    assert res.status_code == HTTPStatus.BAD_REQUEST and "not a readable Parquet file" in res.content.decode()
    res = alice_client.get(_loc("web:dataset", "mine"))
    assert res.status_code == HTTPStatus.BAD_REQUEST and "is a folder" in res.content.decode()


# --- upload -----------------------------------------------------------------------------------


def test_upload_one_file_makes_a_job_whose_row_follows_it(alice_client, user):
    f = io.BytesIO(b"name,score\nann,1\nbob,2\n")
    f.name = "scores.csv"
    res = alice_client.post(reverse("web:upload_file"), {"file": f})
    assert res.status_code == HTTPStatus.OK
    job = Job.objects.get()
    assert job.owner == user and job.kind == "conversion.parquet"
    assert 'hx-trigger="every 2s"' in res.content.decode() and "scores.csv" in res.content.decode()
    run_job_now(job)
    row = alice_client.get(reverse("web:upload_row", args=[job.pk]) + "?name=scores.csv").content.decode()
    assert "hx-trigger" not in row and "2 rows" in row
    assert _loc("web:dataset", job.outputs[0]).replace("&", "&amp;") in row or "data/parquet/?location=" in row
    page = alice_client.get(_loc("web:dataset", job.outputs[0]))
    assert page.status_code == HTTPStatus.OK and page.context["total"] == 2


def test_an_upload_rows_link_opens_the_table_in_a_workspace_of_its_own(bob_client, other_user):
    """Bob's default workspace has a folder of its own: the row's link names the table's place in the whole
    data root (what the pages browse), not its place inside his workspace (which answered 404)."""
    import re

    f = io.BytesIO(b"name,score\nann,1\nbob,2\n")
    f.name = "scores.csv"
    assert bob_client.post(reverse("web:upload_file"), {"file": f}).status_code == HTTPStatus.OK
    job = run_job_now(Job.objects.get(owner=other_user))
    row = bob_client.get(reverse("web:upload_row", args=[job.pk])).content.decode()
    href = re.search(r'href="([^"]*/data/parquet/\?location=[^"]*)"', row).group(1).replace("&amp;", "&")
    assert "location=workspaces%2F" in href
    page = bob_client.get(href)
    assert page.status_code == HTTPStatus.OK and page.context["total"] == 2
    report = page.context["made_by"]["report"]  # the conversion report's link, on the table's page
    assert report and report.startswith("workspaces/")
    assert bob_client.get(_loc("web:download", report)).status_code == HTTPStatus.OK


def test_upload_row_shows_the_path_inside_a_folder_escaped(alice_client):
    f = io.BytesIO(b"a\n1\n")
    f.name = "x.csv"
    res = alice_client.post(reverse("web:upload_file"), {"file": f, "path": f"{HOSTILE}/x.csv"})
    html = res.content.decode()
    assert "&lt;script&gt;" in html and "<script>alert" not in html and "<img src=x" not in html
    assert Job.objects.get().params["files"][0].endswith("/x.csv")


def test_upload_without_a_file_says_what_to_send(alice_client):
    res = alice_client.post(reverse("web:upload_file"), HTTP_HX_REQUEST="true")
    assert res.status_code == HTTPStatus.BAD_REQUEST
    assert "send one file" in res.content.decode()
    assert "<html" not in res.content.decode()  # a fragment for the page's script


# --- checks -----------------------------------------------------------------------------------


def _check_job(owner, data_roots, *, passed=True, dataset="parquet/uploads/j1/sales.parquet", report=True):
    job = _job(owner, kind="checks.incoming", params={"dataset": dataset, "label": "label"})
    result = {
        "passed": passed,
        "verdict": "passed" if passed else "failed",
        "failed_checks": [] if passed else ["mixed_nulls"],
        "dataset": dataset,
        "label": "label",
        "task": "tabular",
        "rows": {"dataset": 5, "reference": None},
        "checks": [
            {
                "id": "is_single_value",
                "name": "Single Value in Column",
                "status": "pass",
                "passed": True,
                "conditions": [
                    {
                        "condition": "Does not contain only a single value",
                        "status": "pass",
                        "details": "Passed for 3 relevant columns",
                    }
                ],
            },
            {
                "id": "mixed_nulls",
                "name": "Mixed Nulls",
                "status": "pass" if passed else "fail",
                "passed": passed,
                "conditions": [
                    {"condition": "Not more than 1 different null types", "status": "x", "details": HOSTILE}
                ],
            },
        ],
    }
    if report:
        path = data_roots / "checks" / str(job.pk) / "report.html"
        path.parent.mkdir(parents=True)
        path.write_text(f"<html><body><h1>Report</h1>{HOSTILE}</body></html>")
        result["report"] = f"checks/{job.pk}/report.html"
    job.result = result
    job.outputs = [result["report"]] if report else []
    job.save()
    return job


def test_report_page_has_the_summary_and_a_sandboxed_frame(alice_client, user, data_roots):
    job = _check_job(user, data_roots, passed=False)
    html = alice_client.get(reverse("web:check_report", args=[job.pk])).content.decode()
    assert "1 of 2 checks failed" in html
    assert f'sandbox src="{reverse("web:check_report_html", args=[job.pk])}"' in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html


def test_report_file_is_sent_with_a_sandbox_csp(alice_client, user, data_roots):
    job = _check_job(user, data_roots)
    res = alice_client.get(reverse("web:check_report_html", args=[job.pk]))
    assert res.status_code == HTTPStatus.OK
    csp = res["Content-Security-Policy"]
    assert csp.split(";")[0].strip() == "sandbox"  # no allow-scripts, no allow-same-origin
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'self'" in csp
    assert res["X-Content-Type-Options"] == "nosniff"
    assert res["X-Frame-Options"] == "SAMEORIGIN"
    download = alice_client.get(reverse("web:check_report_html", args=[job.pk]) + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")


def test_report_of_a_job_without_one(alice_client, user, data_roots):
    pending = _job(user, kind="checks.incoming", status=Job.Status.RUNNING, params={"dataset": "x", "label": "y"})
    res = alice_client.get(reverse("web:check_report_html", args=[pending.pk]))
    assert res.status_code == HTTPStatus.CONFLICT and "no report yet" in res.content.decode()
    demo = _job(user)
    assert alice_client.get(reverse("web:check_report", args=[demo.pk])).status_code == HTTPStatus.NOT_FOUND


def test_check_history_chart(alice_client, bob_client, user, other_user, data_roots):
    _check_job(user, data_roots, passed=True)
    _check_job(user, data_roots, passed=False)
    _check_job(other_user, data_roots, passed=False)  # bob's run of the same location is not alice's history
    res = alice_client.get(reverse("web:check_history") + "?dataset=parquet/uploads/j1/sales.parquet")
    assert [p["score"] for p in res.context["points"]] == [1.0, 0.5]
    marks = res.context["chart"]["marks"]
    assert [m["passed"] for m in marks] == [True, False] and marks[0]["y"] < marks[1]["y"]
    assert res.content.decode().count("<circle") == 2
    assert (
        len(bob_client.get(res.request["PATH_INFO"] + "?dataset=parquet/uploads/j1/sales.parquet").context["points"])
        == 1
    )


def test_run_a_check_from_the_dataset_page(alice_client, alice_dataset, user):
    location, _ = alice_dataset
    res = alice_client.post(reverse("web:check_run"), {"dataset": location, "label": "label"})
    job = Job.objects.get(kind="checks.incoming")
    assert res["Location"] == reverse("web:job", args=[job.pk])
    # the checks' own request model, as the API stores it: what was chosen, and every default spelt out
    assert job.owner == user
    assert {k: job.params[k] for k in ("dataset", "label", "wandb", "reference")} == {
        "dataset": location,
        "label": "label",
        "wandb": False,
        "reference": None,
    }
    assert job.inputs[0]["location"] == location and len(job.inputs[0]["sha256"]) == 64
    bad = alice_client.post(reverse("web:check_run"), {"dataset": location, "label": "nope"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST and "nope" in bad.content.decode()


def test_a_check_of_data_you_cannot_see_is_refused(bob_client, alice_dataset):
    location, _ = alice_dataset
    res = bob_client.post(reverse("web:check_run"), {"dataset": location, "label": "label"})
    assert res.status_code == HTTPStatus.NOT_FOUND
    assert not Job.objects.filter(kind="checks.incoming").exists()


# --- knowledge bases, pipelines, models -------------------------------------------------------


def _kb(data_roots, name: str) -> None:
    out = data_roots / "knowledgebases" / name / "output"
    out.mkdir(parents=True)
    manifest = {
        "name": name,
        "source": "docs",
        "built_at": "2026-11-01T10:00:00",
        "counts": {"documents": 3, "chunks": 7, "errors": 0},
        "embeddings": None,
    }
    (out / "manifest.json").write_text(json.dumps(manifest))


def test_knowledge_bases_follow_the_jobs_that_built_them(alice_client, bob_client, user, data_roots):
    _kb(data_roots, "alice-kb")
    _kb(data_roots, "orphan-kb")
    _job(user, kind="knowledgebase.build", params={"name": "alice-kb", "source": "docs"})
    html = alice_client.get(reverse("web:knowledge_bases")).content.decode()
    assert "alice-kb" in html and "orphan-kb" not in html
    assert "alice-kb" not in bob_client.get(reverse("web:knowledge_bases")).content.decode()
    res = bob_client.get(reverse("web:knowledge_base", args=["alice-kb"]))
    assert res.status_code == HTTPStatus.NOT_FOUND


def test_knowledge_base_search_without_embeddings_says_how_to_fix(alice_client, user, data_roots):
    _kb(data_roots, "alice-kb")
    _job(user, kind="knowledgebase.build", params={"name": "alice-kb", "source": "docs"})
    res = alice_client.get(reverse("web:knowledge_base", args=["alice-kb"]) + "?q=emissions")
    assert res.status_code == HTTPStatus.CONFLICT
    assert "rebuild it with embed: true" in res.content.decode()


def test_pipelines_list_metrics_against_thresholds(alice_client):
    res = alice_client.get(reverse("web:pipelines"))
    names = [p["name"] for p in res.context["pipelines"]]
    assert "text_classification" in names
    tc = next(p for p in res.context["pipelines"] if p["name"] == "text_classification")
    assert tc["checks"] and all(c["passed"] in (True, False) for c in tc["checks"])
    assert f'action="{reverse("web:pipeline_run", args=["text_classification"])}"' in res.content.decode()


def test_pipeline_history_chart_from_runs(alice_client, user):
    checks = [{"metric": "accuracy", "passed": True}, {"metric": "macro_f1", "passed": False}]
    _job(user, kind="pipelines.run", params={"pipeline": "text_classification"}, result={"checks": checks})
    _job(
        user,
        kind="pipelines.run",
        params={"pipeline": "text_classification"},
        result={"checks": [dict(c, passed=True) for c in checks], "passed": True},
    )
    _job(user, kind="pipelines.run", params={"pipeline": "regression"}, result={"checks": checks})
    res = alice_client.get(reverse("web:pipelines"))
    tc = next(p for p in res.context["pipelines"] if p["name"] == "text_classification")
    assert [m["value"] for m in tc["chart"]["marks"]] == [0.5, 1.0]  # oldest first
    assert len(tc["runs"]) == 2


def test_pipeline_trigger_makes_a_job(alice_client, user):
    res = alice_client.post(reverse("web:pipeline_run", args=["text_classification"]))
    job = Job.objects.get()
    assert res["Location"] == reverse("web:job", args=[job.pk])
    assert job.kind.startswith("pipelines.run") and job.params["pipeline"] == "text_classification"
    missing = alice_client.post(reverse("web:pipeline_run", args=["no-such-pipeline"]))
    assert missing.status_code == HTTPStatus.NOT_FOUND


def test_models_page_lists_local_models_when_no_bucket_is_allowed(alice_client, settings):
    model = settings.MODELS_ROOT / "classifier" / "v1"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"x" * 10)
    res = alice_client.get(reverse("web:models"))
    assert res.status_code == HTTPStatus.OK
    assert [(m["name"], m["version"], m["status"]) for m in res.context["models"]] == [("classifier", "v1", "unknown")]
    assert res.context["problem"]


# --- API keys and login -----------------------------------------------------------------------


def test_create_use_and_revoke_own_api_keys(alice_client, bob_client, user, client):
    res = alice_client.post(reverse("web:api_keys"), {"name": "laptop"})
    raw = res.context["new_key"]
    assert raw.startswith("svc_") and raw in res.content.decode()
    assert client.get(reverse("api:job_list"), headers={"X-API-Key": raw}).status_code == HTTPStatus.OK
    key = ApiKey.objects.get(user=user)
    assert alice_client.get(reverse("web:api_keys")).content.decode().count(raw) == 0  # shown once
    assert bob_client.post(reverse("web:api_key_revoke", args=[key.pk])).status_code == HTTPStatus.NOT_FOUND
    key.refresh_from_db()
    assert not key.revoked
    alice_client.post(reverse("web:api_key_revoke", args=[key.pk]))
    key.refresh_from_db()
    assert key.revoked
    assert client.get(reverse("api:job_list"), headers={"X-API-Key": raw}).status_code == HTTPStatus.UNAUTHORIZED
    assert alice_client.post(reverse("web:api_keys"), {"name": ""}).status_code == HTTPStatus.BAD_REQUEST


def test_login_with_a_password_and_log_out(client, user):
    user.set_password("correct horse 7")
    user.save()
    bad = client.post(reverse("web:login"), {"username": "alice", "password": "wrong"})
    assert bad.status_code == HTTPStatus.OK and "did not match" in bad.content.decode()
    ok = client.post(reverse("web:login"), {"username": "alice", "password": "correct horse 7"})
    assert ok["Location"] == reverse("web:jobs")
    assert client.get(reverse("web:jobs")).status_code == HTTPStatus.OK
    client.post(reverse("web:logout"))
    assert client.get(reverse("web:jobs")).status_code == HTTPStatus.FOUND


def test_one_time_login_link_then_set_a_password(client, db, django_user_model):
    from django.core.management import call_command

    out = io.StringIO()
    call_command("login_link", "--user", "local", "--staff", "--base-url", "http://h:1", stdout=out)
    link = out.getvalue().strip()
    assert link.startswith("http://h:1/login/")
    path = link.removeprefix("http://h:1")
    first = client.get(path)
    assert first["Location"] == reverse("web:password")  # no password yet: asked to set one
    res = client.post(reverse("web:password"), {"new_password1": "a long pass 42!", "new_password2": "a long pass 42!"})
    assert "password is saved" in res.content.decode()
    assert django_user_model.objects.get(username="local").check_password("a long pass 42!")
    client.logout()
    again = Client().get(path)
    assert again.status_code == HTTPStatus.BAD_REQUEST and "not valid" in again.content.decode()


def test_selector_outermost_locations(user):
    _job(user, outputs=["a/b/c.parquet", "a/b", "x.parquet"], inputs=[{"location": "./a/b/d.csv"}])
    assert access.data_roots(user) == ["a/b", "x.parquet"]
    assert access.location_visible(user, "a/b/c.parquet")
    assert not access.location_visible(user, "a/bc")
    assert not access.location_visible(user, "a")
