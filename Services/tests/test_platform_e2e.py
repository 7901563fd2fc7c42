"""The `make run` configuration end to end: SQLite, the embedded filesystem
broker, gunicorn and a worker started by `manage.py run_platform`, driven
over real HTTP and in a real headless Chromium."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import CHROMIUM_ARGS, SERVICES_DIR, require_chromium, wait_for

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    def __init__(self, root: Path):
        self.root = root
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        }
        self.env.update(
            SERVICES_VAR_DIR=str(root / "var"),
            SERVICES_DATA_ROOT=str(root / "data"),
            SERVICES_MODELS_ROOT=str(root / "models"),
            PYTHONUNBUFFERED="1",
        )
        self.log = root / "platform.log"

    def manage(self, *args) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=SERVICES_DIR, env=self.env, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    def start(self):
        self.manage("migrate", "--no-input", "-v", "0")
        self.key = self.manage("create_api_key", "--user", "local", "--staff", "--key-file", str(self.root / "key"))
        self.key = self.key.strip()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_platform", "--port", str(self.port), "--concurrency", "1"],
            cwd=SERVICES_DIR,
            env=self.env,
            stdout=open(self.log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self._up, timeout=90, message="platform to serve /api/health")
        return self

    def _up(self):
        try:
            return self.call("GET", "/api/health", auth=False)[0] == 200
        except OSError:
            return False

    def call(self, method, path, body=None, auth=True):
        req = urllib.request.Request(self.base + path, method=method)
        if auth:
            req.add_header("X-API-Key", self.key)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, data, timeout=10) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # what Ctrl-C sends
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                raise
        return self.proc.returncode


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    p = Platform(tmp_path_factory.mktemp("platform")).start()
    yield p
    p.stop()


def test_key_is_stable_across_runs(platform):
    again = platform.manage("create_api_key", "--user", "local", "--key-file", str(platform.root / "key")).strip()
    assert again == platform.key
    assert (platform.root / "key").stat().st_mode & 0o777 == 0o600


def test_demo_job_runs_end_to_end_on_embedded_defaults(platform):
    status, health = platform.call("GET", "/api/health", auth=False)
    assert health["database"] == {"ok": True, "detail": "sqlite"}
    assert health["broker"]["ok"]
    status, job = platform.call("POST", "/api/demo-jobs", {"seconds": 1, "steps": 4, "message": "embedded"})
    assert status == 202, job
    wait_for(
        lambda: platform.call("GET", f"/api/jobs/{job['id']}")[1]["status"] in ("succeeded", "failed"),
        timeout=90,
        message=f"demo job; log:\n{platform.log.read_text(errors='replace')[-3000:]}",
    )
    done = platform.call("GET", f"/api/jobs/{job['id']}")[1]
    assert done["status"] == "succeeded" and done["result"]["message"] == "embedded"
    workers = platform.call("GET", "/api/health", auth=False)[1]["queues_served"]
    assert {"default", "gpu"} <= set(workers)
    assert platform.call("GET", "/api/jobs")[0] == 200
    assert platform.call("GET", "/api/jobs", auth=False)[0] == 401


def test_web_app_login_page_and_its_static_files_are_served(platform):
    """`make run` serves the web app at `/` (a login first) and its htmx from the app itself."""
    with urllib.request.urlopen(platform.base + "/", timeout=10) as res:
        assert res.url.startswith(platform.base + "/login/?next=")
        page = res.read().decode()
    assert 'name="username"' in page and "/static/web/htmx-2.0.11.min.js" in page
    with urllib.request.urlopen(platform.base + "/static/web/htmx-2.0.11.min.js", timeout=10) as res:
        assert res.status == 200 and res.read().startswith(b"var htmx=function()")
    link = platform.manage("login_link", "--user", "local", "--base-url", platform.base).strip()
    assert link.startswith(platform.base + "/login/")


def test_swagger_ui_lists_every_router_in_a_real_browser(platform):
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    spec = platform.call("GET", "/api/openapi.json", auth=False)[1]
    expected = {t for ops in spec["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_page()
        page.goto(platform.base + "/api/docs")
        page.wait_for_selector(".opblock-tag", timeout=30_000)
        tags = {t.strip() for t in page.locator(".opblock-tag").all_inner_texts()}
        shown = {t.split("\n")[0].strip() for t in tags}
        assert expected <= shown, (expected, shown)
        assert _mounted_router_tags() <= shown
        page.click("button.authorize")
        page.wait_for_selector("text=X-API-Key", timeout=10_000)
        browser.close()


def _mounted_router_tags() -> set[str]:
    """Tags of every router mounted on the API that has at least one operation."""
    from services_app.api.api import api

    return {tag for _, router in api._routers if router.path_operations for tag in (router.tags or [])}


def _started(platform, name: str) -> list[int]:
    """Pids of ``name`` ("web", "worker") in the order the supervisor started them."""
    log = platform.log.read_text(errors="replace")
    return [int(pid) for pid in re.findall(rf"supervisor: {name} started \(pid (\d+)\)", log)]


def _group(pgid: int) -> list[str]:
    """Live processes of a process group (a killed child that nobody has reaped yet is a zombie: not live)."""
    import psutil

    pids = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    live = []
    for pid in pids:
        try:
            if psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE:
                live.append(pid)
        except psutil.NoSuchProcess:
            pass
    return live


def test_killed_worker_is_restarted_and_its_job_requeued(platform):
    status, job = platform.call("POST", "/api/demo-jobs", {"seconds": 6, "steps": 6, "message": "survivor"})
    assert status == 202, job
    wait_for(
        lambda: platform.call("GET", f"/api/jobs/{job['id']}")[1]["status"] == "running",
        timeout=60,
        message="demo job to start",
    )
    (first,) = _started(platform, "worker")
    os.kill(first, signal.SIGKILL)  # the Celery main process; its pool child goes with its group
    # the API answers while there is no worker
    assert platform.call("GET", "/api/health", auth=False)[0] == 200
    assert platform.call("GET", f"/api/jobs/{job['id']}")[0] == 200
    wait_for(lambda: len(_started(platform, "worker")) == 2, timeout=30, message="a new worker")
    assert f"supervisor: worker (pid {first}) exited with signal SIGKILL" in platform.log.read_text()
    wait_for(lambda: _group(first) == [], timeout=10, message="the old worker's pool to be stopped")
    wait_for(
        lambda: platform.call("GET", f"/api/jobs/{job['id']}")[1]["status"] in ("succeeded", "failed"),
        timeout=120,
        message=f"requeued job; log:\n{platform.log.read_text(errors='replace')[-3000:]}",
    )
    done = platform.call("GET", f"/api/jobs/{job['id']}")[1]
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2  # lost with the first worker, requeued by the new one's sweep
    assert done["result"]["message"] == "survivor"
    # the new worker serves new jobs
    status, again = platform.call("POST", "/api/demo-jobs", {"seconds": 0, "steps": 1, "message": "after"})
    wait_for(
        lambda: platform.call("GET", f"/api/jobs/{again['id']}")[1]["status"] == "succeeded",
        timeout=60,
        message="a job on the new worker",
    )
    assert _started(platform, "web") == _started(platform, "web")[:1]  # the web server was never restarted


def test_ctrl_c_stops_web_and_worker(platform):
    worker = _started(platform, "worker")[-1]
    children = _group(platform.proc.pid) + _group(worker)
    assert len(children) >= 4  # run_platform, gunicorn and its workers; celery and its pool
    assert platform.stop() == 0
    time.sleep(1)
    assert _group(platform.proc.pid) == []
    assert _group(worker) == []
