"""The web app in a real headless Chromium (Debian's, driven by Playwright) against a live
server and a real Celery worker on PostgreSQL and Redis.

Set WEB_SCREENSHOTS_DIR to keep a PNG of every page (docs/web/ is made this way)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from services_app.models import Job

from ..conftest import CHROMIUM_ARGS, require_chromium, require_service
from ..conversion.makers import make_xlsx

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long test password 9"
# Cells a hostile spreadsheet could carry: if any of them ran, the page title would change.
HOSTILE = [
    "<script>document.title='pwned';try{parent.document.title='pwned'}catch(e){}</script>",
    "<img src=x onerror=\"document.title='pwned';try{parent.document.title='pwned'}catch(e){}\">",
]
SCREENSHOTS = os.environ.get("WEB_SCREENSHOTS_DIR", "")


@pytest.fixture
def browser():
    require_service("PostgreSQL", "DATABASE_URL", 5432, "postgres")
    require_service("Redis", "REDIS_URL", 6379, "redis")
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still synchronous ones.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
        )
        yield b
        b.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def people(django_user_model):
    """Alice in the workspace whose folder is the data root (where these tests put her files); Bob in a
    workspace of his own, made on first use."""
    from services_app.models import Workspace
    from services_app.workspaces import workspace_add_member

    alice = django_user_model.objects.create_user(username="alice", password=PASSWORD)
    bob = django_user_model.objects.create_user(username="bob", password=PASSWORD)
    default, _ = Workspace.objects.get_or_create(slug="default", defaults={"folder": "", "buckets": ["*"]})
    workspace_add_member(workspace=default, user=alice, default=True)
    return alice, bob


def shot(page, name: str, *, width: int = 1280) -> None:
    if not SCREENSHOTS:
        return
    Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": width, "height": 900})
    page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


AXE = Path(__file__).parent / "axe" / "axe.min.js"  # axe-core 4.14.1 (npm), MPL-2.0


def accessibility_violations(page) -> list[str]:
    """WCAG 2 A and AA rules (labels, names, contrast, structure) that the page breaks, by axe-core."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}))"
        ".violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target).join(' | '))"
    )
    return found


def log_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(base + "/")
    assert "/login/" in page.url
    shot(page, "login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base + "/")
    return page


def _jobs_and_log(worker) -> str:
    """What a timed-out wait for a job reports: every job's state and the worker's log."""
    jobs = [f"{j.kind} {j.status} {j.error or ''}" for j in Job.objects.order_by("created_at")]
    return f"jobs: {jobs}; worker log:\n{worker.output()[-3000:]}"


def test_upload_convert_preview_check_and_report(browser, live_server, people, worker_factory, tmp_path, settings):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    worker = worker_factory()
    base = live_server.url
    rows = [["region", "amount", "comment", "label"]]
    for i in range(60):
        rows.append(["north" if i % 3 else "south", i * 1.5, HOSTILE[i % 2] if i < 4 else f"note {i}", "ab"[i % 2]])
    sheet = make_xlsx(tmp_path / "sales.xlsx", {"Sales": rows})

    page = log_in(browser, base, "alice")
    page.get_by_role("link", name="Upload", exact=True).click()
    page.evaluate("window.__same_page = 42")  # survives only if nothing reloads the page
    page.set_input_files("#files", str(sheet))
    row = page.locator("#result-rows tr").first
    try:
        row.locator(".badge-succeeded").wait_for(timeout=120_000)
    except PlaywrightTimeout:
        rows = page.locator("#result-rows").inner_text()
        raise AssertionError(f"no converted row (rows: {rows!r}); {_jobs_and_log(worker)}") from None
    assert page.evaluate("window.__same_page") == 42
    assert "60 rows" in row.inner_text()
    shot(page, "upload")
    shot(page, "upload-phone", width=390)

    row.get_by_role("link", name="Sales").click()
    page.wait_for_url(re.compile(r"/data/parquet/"))
    assert "60 rows" in page.locator(".facts").inner_text()
    stats = page.locator("table.stats")
    assert stats.locator("th[scope=row]").all_inner_texts() == ["region", "amount", "comment", "label"]
    amount = stats.locator("tr", has=page.locator("th", has_text="amount"))
    assert "88.5" in amount.inner_text() and amount.locator("svg.hist rect").count() == 10
    assert page.title() != "pwned"
    shot(page, "dataset")

    page.get_by_label("Label column").select_option("label")
    page.get_by_role("button", name="Run the checks").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    page.evaluate("window.__same_page = 43")
    try:
        page.locator(".verdict").wait_for(timeout=400_000)
    except PlaywrightTimeout:
        raise AssertionError(f"no verdict; {_jobs_and_log(worker)}") from None
    assert page.evaluate("window.__same_page") == 43  # the verdict arrived by polling, not a reload
    shot(page, "job-check")
    page.get_by_role("link", name="Open the report").click()
    page.wait_for_url(re.compile(r"/checks/[0-9a-f-]+/$"))
    summary = page.locator("section.verdict h2").inner_text()
    assert summary.startswith("Summary:")
    frame_el = page.locator("iframe.report")
    assert frame_el.get_attribute("sandbox") == ""
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_load_state()
    page.wait_for_timeout(1500)  # give a script in the report every chance to run
    assert page.title() != "pwned" and frame.title() != "pwned"
    shot(page, "check-report")

    # the check history of the dataset, and the jobs list with both jobs
    page.get_by_role("link", name="History of this dataset").first.click()
    assert page.locator("svg.chart circle").count() == 1
    shot(page, "check-history")
    page.get_by_role("link", name="Jobs", exact=True).click()
    assert page.locator("table.jobs tbody tr").count() == 2
    shot(page, "jobs")
    shot(page, "jobs-phone", width=390)
    job = Job.objects.get(kind="checks.incoming")
    page.goto(f"{base}/jobs/{Job.objects.get(kind='conversion.parquet').pk}/")
    shot(page, "job-conversion")
    for name, path in (
        ("datasets", "/data/"),
        ("knowledge-bases", "/knowledge-bases/"),
        ("pipelines", "/pipelines/"),
        ("models", "/models/"),
        ("api-keys", "/keys/"),
    ):
        page.goto(base + path)
        assert page.locator("h1").count() == 1
        shot(page, name)
    # every page of this walk, at desktop and phone width, against WCAG 2.1 A/AA
    pages = [
        "/",
        "/upload/",
        "/data/",
        f"/data/parquet/?location={Job.objects.get(kind='conversion.parquet').outputs[0]}",
        f"/jobs/{job.pk}/",
        f"/checks/{job.pk}/",
        f"/checks/history/?dataset={job.params['dataset']}",
        "/knowledge-bases/",
        "/pipelines/",
        "/models/",
        "/keys/",
        "/account/password/",
    ]
    problems = {}
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in pages:
            page.goto(base + path)
            found = accessibility_violations(page)
            if found:
                problems[f"{path} @{width}px"] = found
    page.set_viewport_size({"width": 1280, "height": 900})
    assert problems == {}

    # the second user sees none of it
    other = log_in(browser, base, "bob")
    assert other.locator("table.jobs").count() == 0
    response = other.goto(f"{base}/jobs/{job.pk}/")
    assert response.status == 404
    response = other.goto(f"{base}/checks/{job.pk}/report.html")
    assert response.status == 404
    dataset = Job.objects.get(kind="conversion.parquet").outputs[0]
    response = other.goto(f"{base}/data/parquet/?location={dataset}")
    assert response.status == 404
    assert "sales" not in other.goto(f"{base}/data/").text()


def test_a_report_with_raw_script_runs_nothing(browser, live_server, people, data_roots):
    """A report whose HTML carries live script (as if a report generator failed to escape a cell):
    the sandbox CSP stops it, inside the app's frame and when the report URL is opened directly."""
    alice, _ = people
    job = Job.objects.create(
        owner=alice, kind="checks.incoming", status=Job.Status.SUCCEEDED, params={"dataset": "x.parquet", "label": "y"}
    )
    report = data_roots / "checks" / str(job.pk) / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html><head><title>report</title></head><body>" + "".join(HOSTILE) + "</body></html>")
    job.result = {
        "passed": True,
        "verdict": "passed",
        "failed_checks": [],
        "checks": [],
        "report": f"checks/{job.pk}/report.html",
    }
    job.save()

    page = log_in(browser, live_server.url, "alice")
    page.goto(f"{live_server.url}/checks/{job.pk}/")
    frame = page.locator("iframe.report").element_handle().content_frame()
    frame.wait_for_load_state()
    page.wait_for_timeout(1000)
    assert page.title() != "pwned" and frame.title() == "report"
    direct = page.goto(f"{live_server.url}/checks/{job.pk}/report.html")
    assert direct.headers["content-security-policy"].startswith("sandbox;")
    page.wait_for_timeout(1000)
    assert page.title() == "report"


def test_knowledge_base_search_by_keyboard(browser, live_server, people, data_roots):
    """A knowledge base built with embeddings (the local MiniLM model): search from the keyboard,
    results ranked by score, each linked to its source document."""
    from services_app.jobs.services import job_submit
    from services_app.storage import get_storage

    from ..conftest import run_job_now

    alice, bob = people
    src = data_roots / "master"
    (src / "energy").mkdir(parents=True)
    (src / "food").mkdir()
    (src / "energy" / "solar.txt").write_text("Solar panels on the roof produce renewable electricity.")
    (src / "energy" / "wind.md").write_text("# Wind\n\nOffshore wind turbines generate power at sea.")
    (src / "food" / "bread.txt").write_text("Bake the bread with flour, water and yeast.")
    job, _ = job_submit(
        owner=alice,
        kind="knowledgebase.build",
        params={"name": "handbook", "source": "master", "embed": True},
        inputs=[get_storage().fingerprint("master")],
    )
    assert run_job_now(job).status == Job.Status.SUCCEEDED, job.error

    page = log_in(browser, live_server.url, "alice")
    page.get_by_role("link", name="Knowledge bases").click()
    shot(page, "knowledge-bases")
    page.get_by_role("link", name="handbook").click()
    box = page.get_by_label("Search")
    box.focus()
    page.keyboard.type("how is bread made")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?q="))
    results = page.locator("ol.results li")
    assert results.count() == 3
    scores = [float(s) for s in page.locator("ol.results .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    top = results.first.get_by_role("link")
    assert top.inner_text() == "food/bread.txt"
    with page.expect_download() as download:
        top.click()
    assert Path(download.value.path()).read_text() == "Bake the bread with flour, water and yeast."
    shot(page, "knowledge-base-search")
    assert accessibility_violations(page) == []

    other = log_in(browser, live_server.url, "bob")
    assert other.goto(f"{live_server.url}/knowledge-bases/handbook/").status == 404


def test_a_file_chosen_while_the_page_script_loads_is_still_uploaded(browser, live_server, people, tmp_path):
    """The file inputs work before the upload script has run (a slow network, a busy server): a file chosen
    then is sent when the script starts, not dropped."""
    (tmp_path / "early.csv").write_text("id,name\n1,ann\n")
    page = log_in(browser, live_server.url, "alice")
    held = []
    page.route("**/upload*.js", lambda route: held.append(route))  # held back until the file is chosen
    page.goto(live_server.url + "/upload/", wait_until="commit")
    page.wait_for_selector("#files", state="attached")
    page.set_input_files("#files", str(tmp_path / "early.csv"))
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    row = page.locator("#result-rows tr").first
    row.wait_for(timeout=30_000)
    assert row.get_attribute("data-file") == "early.csv"
    assert Job.objects.filter(owner=people[0], kind="conversion.parquet").count() == 1


def test_upload_a_folder_gives_one_result_per_file(browser, live_server, people, worker_factory, tmp_path):
    """A folder chosen with the folder picker: each file becomes its own job and row; a file that
    cannot be converted says why, beside the ones that converted."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    worker = worker_factory()
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("id,name\n1,ann\n2,bob\n")
    (folder / "sub" / "b.jsonl").write_text('{"id": 1}\n{"id": 2}\n{"id": 3}\n')
    (folder / "broken.xlsx").write_bytes(b"this is not a workbook")

    page = log_in(browser, live_server.url, "alice")
    page.goto(live_server.url + "/upload/")
    page.set_input_files("#folder", str(folder))
    rows = page.locator("#result-rows tr")
    page.wait_for_function("document.querySelectorAll('#result-rows tr').length === 3", timeout=60_000)
    try:
        page.wait_for_function(
            "[...document.querySelectorAll('#result-rows tr')].every(r => !r.hasAttribute('hx-get'))", timeout=120_000
        )
    except PlaywrightTimeout:
        raise AssertionError(f"rows still waiting; {_jobs_and_log(worker)}") from None
    by_file = {r.get_attribute("data-file"): r.inner_text() for r in rows.all()}
    assert set(by_file) == {"batch/a.csv", "batch/sub/b.jsonl", "batch/broken.xlsx"}
    assert "2 rows" in by_file["batch/a.csv"] and "3 rows" in by_file["batch/sub/b.jsonl"]
    assert "failed" in by_file["batch/broken.xlsx"]
    assert Job.objects.filter(owner=people[0], kind="conversion.parquet").count() == 3
    assert accessibility_violations(page) == []
