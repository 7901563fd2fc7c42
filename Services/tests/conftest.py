"""Test fixtures: real PostgreSQL and Redis (from DATABASE_URL / REDIS_URL, which
`make test` sets), real worker processes, per-test data roots.

Under CI=true a missing PostgreSQL or Redis fails the run instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

SERVICES_DIR = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _own_redis_keys() -> str:
    """This test session's own keys in Redis (``REDIS_KEY_PREFIX``), for the test process (whose settings are
    loaded before this file) and, through the environment, every worker and server it starts: a worker of
    another test run, a benchmark or a `make run` on the same Redis database never takes this session's jobs,
    nor this session theirs. The keys are deleted when the session ends."""
    import uuid

    from django.conf import settings

    prefix = os.environ.setdefault("REDIS_KEY_PREFIX", f"services-test-{uuid.uuid4().hex[:12]}:")
    if settings.REDIS_URL:
        from services_project.celery import app

        settings.REDIS_KEY_PREFIX = prefix
        settings.CACHES["default"]["KEY_PREFIX"] = prefix
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            **settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            "global_keyprefix": prefix,
        }
        app.conf.broker_transport_options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    return prefix


REDIS_KEY_PREFIX = _own_redis_keys()


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, env_var: str, default_port: int, scheme_prefix: str) -> str:
    """The URL of a real service, or a skip (a failure under CI)."""
    url = os.environ.get(env_var, "")
    problem = None
    if not url.startswith(scheme_prefix):
        problem = f"{env_var} does not point at {name} (got {url!r}); run the suite with `make test`"
    elif not _reachable(url, default_port):
        problem = f"{name} is not reachable at {url}"
    if problem:
        if IN_CI:
            pytest.fail(f"CI needs a real {name}: {problem}", pytrace=False)
        pytest.skip(problem)
    return url


CHROMIUM = "/usr/bin/chromium"  # Debian's chromium package (`make browser` installs it)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


def require_chromium() -> str:
    """The path of Debian's chromium with Playwright's Python package to drive it, or a skip
    (a failure under CI: a browser test must not pass by not running)."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright's Python package is not installed (make install-dev)"
    if problem is None and not os.path.exists(CHROMIUM):
        problem = f"{CHROMIUM} is missing: install Debian's chromium package (make browser)"
    if problem:
        if IN_CI:
            pytest.fail(f"CI needs a real browser: {problem}", pytrace=False)
        pytest.skip(problem)
    return CHROMIUM


def pytest_sessionfinish(session):
    """Delete this session's keys (queues it left behind, the cache) from the shared Redis database."""
    url = os.environ.get("REDIS_URL", "")
    if url.startswith("redis") and _reachable(url, 6379):
        import redis

        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=REDIS_KEY_PREFIX.replace("*", r"\*") + "*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])


def pytest_sessionstart(session):
    if IN_CI:
        for name, var, port, prefix in (
            ("PostgreSQL", "DATABASE_URL", 5432, "postgres"),
            ("Redis", "REDIS_URL", 6379, "redis"),
        ):
            url = os.environ.get(var, "")
            if not url.startswith(prefix) or not _reachable(url, port):
                raise pytest.UsageError(f"CI=true needs a real {name} in {var} (got {url!r}, reachable: no)")


@pytest.fixture(autouse=True)
def data_roots(settings, tmp_path):
    """Every test gets its own data and models roots."""
    settings.DATA_ROOT = tmp_path / "data"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.DATA_ROOT.mkdir()
    settings.MODELS_ROOT.mkdir()
    return settings.DATA_ROOT


@pytest.fixture
def user(db, django_user_model):
    """Alice, a member of the workspace "default" whose folder is the data root itself (as every user was
    migrated), so tests place her files under ``settings.DATA_ROOT``."""
    from services_app.models import Workspace
    from services_app.workspaces import workspace_add_member

    alice = django_user_model.objects.create_user(username="alice")
    default, _ = Workspace.objects.get_or_create(slug="default", defaults={"folder": "", "buckets": ["*"]})
    workspace_add_member(workspace=default, user=alice, default=True)
    return alice


@pytest.fixture
def other_user(db, django_user_model):
    return django_user_model.objects.create_user(username="bob")


@pytest.fixture
def api_key(user):
    from services_app.models import ApiKey

    return ApiKey.issue(user=user, name="test")[1]


@pytest.fixture
def api(client, api_key):
    """The Django test client with the user's API key on every request."""

    class Api:
        def __init__(self):
            self.headers = {"X-API-Key": api_key}

        def get(self, path, **kw):
            return client.get(path, headers=self.headers, **kw)

        def post(self, path, data=None, **kw):
            if "content_type" not in kw and not any(hasattr(v, "read") for v in (data or {}).values() if data):
                kw["content_type"] = "application/json"
            return client.post(path, data, headers=self.headers, **kw)

        def delete(self, path, **kw):
            return client.delete(path, headers=self.headers, **kw)

    return Api()


def run_job_now(job):
    """Run a queued job in this process exactly as a worker would."""
    from services_app.jobs.services import job_execute

    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


class WorkerProcess:
    """A real `celery worker` subprocess on the test database and broker."""

    def __init__(self, env: dict, queues: str = "default,gpu", concurrency: int = 1, name: str = "w1"):
        self.env, self.queues, self.concurrency, self.name = env, queues, concurrency, name
        self.proc: subprocess.Popen | None = None
        self.log = Path(env.get("SERVICES_VAR_DIR", "/tmp")) / f"worker-{name}-{time.time_ns()}.log"

    def start(self) -> WorkerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "services_project",
                "worker",
                "-Q",
                self.queues,
                "--concurrency",
                str(self.concurrency),
                "--loglevel",
                "INFO",
                "--hostname",
                f"{self.name}-{time.time_ns()}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=SERVICES_DIR,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self, sig=9) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_env(settings, **extra) -> dict:
    """Environment for a worker subprocess that shares this test's database,
    broker and data roots."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update(
        SERVICES_DATA_ROOT=str(settings.DATA_ROOT),
        SERVICES_MODELS_ROOT=str(settings.MODELS_ROOT),
        JOB_HEARTBEAT_SECONDS="1",
        JOB_STALE_AFTER_SECONDS="5",
        JOB_SWEEP_INTERVAL_SECONDS="2",
        JOB_TEST_KINDS_ENABLED="1",
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def worker_factory(settings):
    started: list[WorkerProcess] = []

    def make(**kw) -> WorkerProcess:
        env = worker_env(settings, **kw.pop("env", {}))
        w = WorkerProcess(env, **kw).start()
        started.append(w)
        return w

    yield make
    for w in started:
        w.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
