"""The checks report opened in a real browser (Debian's chromium through Playwright): hostile cells in the
checked data never run as script, and the page is served under a sandboxing Content-Security-Policy."""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

import pytest
from django.urls import reverse

from tests.checks.datagen import tabular_batch
from tests.conftest import run_job_now

HOSTILE = [
    "<script>window.__xss = (window.__xss || 0) + 1; document.title = 'pwned'</script>",
    "<img src=x onerror=\"window.__xss = (window.__xss || 0) + 1; document.title = 'pwned'\">",
    '<svg onload="window.__xss = (window.__xss || 0) + 1"></svg>',
    "</script><script>window.__xss = (window.__xss || 0) + 1</script>",
    '"><iframe src=javascript:parent.__xss=1>',
]


@pytest.fixture
def hostile_files(data_roots):
    ref = tabular_batch(300, seed=1)
    new = tabular_batch(300, seed=2)
    # hostile values in a categorical column, duplicated rows (shown by Data Duplicates), mixed types
    new["region"] = [HOSTILE[i % len(HOSTILE)] if i % 3 == 0 else r for i, r in enumerate(new["region"])]
    new = new.astype({"region": object})
    dup = new.iloc[:30].copy()
    new = new.iloc[:270]
    new = new._append(dup, ignore_index=True)
    ref.to_parquet(data_roots / "ref.parquet")
    new.to_csv(data_roots / "new.csv", index=False)
    return data_roots


def _report(api, job_id):
    return api.get(reverse("api:checks_report", args=[job_id]))


@pytest.mark.django_db
def test_report_is_served_sandboxed(api, hostile_files):
    from services_app.models import Job

    r = api.post(
        reverse("api:checks_run"),
        {"dataset": "new.csv", "reference": "ref.parquet", "label": "risk", "suites": ["integrity"]},
    )
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    report = _report(api, job.pk)
    assert report.status_code == 200
    csp = report["Content-Security-Policy"]
    assert "sandbox" in csp and "allow-same-origin" not in csp
    assert "default-src 'none'" in csp and "connect-src 'none'" in csp
    assert report["X-Content-Type-Options"] == "nosniff"
    html = b"".join(report.streaming_content).decode()
    for payload in HOSTILE:
        assert payload not in html


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_hostile_cells_do_not_run_in_chromium(api, hostile_files, live_server):
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from services_app.models import Job

    r = api.post(
        reverse("api:checks_run"),
        {"dataset": "new.csv", "reference": "ref.parquet", "label": "risk", "suites": ["integrity"]},
    )
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    dialogs: list[str] = []
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(extra_http_headers={"X-API-Key": api.headers["X-API-Key"]})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.route(lambda url: not url.startswith(live_server.url), lambda route: route.abort())
        page.goto(f"{live_server.url}{reverse('api:checks_report', args=[job.pk])}")
        page.wait_for_load_state("load")
        page.wait_for_timeout(1000)  # let any onerror/onload handlers fire
        ran = page.evaluate("() => window.__xss || 0")
        title = page.title()
        text = page.inner_text("body")
        browser.close()
    assert ran == 0 and title != "pwned" and dialogs == []
    assert "Data Duplicates" in text  # the report itself still shows
