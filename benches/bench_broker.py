"""Broker benchmark: how fast a queue of trivial jobs drains, embedded broker vs Redis.

    .venv/bin/python benches/bench_broker.py            # 500 jobs per broker (make bench)
    .venv/bin/python benches/bench_broker.py --quick    # 60 jobs per broker
    .venv/bin/python benches/bench_broker.py --jobs 200 --brokers embedded

Side by side in one run, for each broker:

- ``embedded``: what ``make run`` uses with nothing configured: SQLite (WAL) and
  the embedded broker, in a fresh temporary ``SERVICES_VAR_DIR``;
- ``redis``: Redis as the broker (``BENCH_REDIS_URL``, default
  ``redis://127.0.0.1:6379/15``; the bench's keys have a prefix of their own,
  deleted at the end, so nothing else in that database is touched) and PostgreSQL when
  ``DATABASE_URL`` is set (else SQLite as above). Skipped when Redis is not
  reachable.

One Celery worker (``--concurrency 2``, as ``make run`` starts it) is started
and warmed with one job; then ``--jobs`` ``demo.sleep`` jobs of zero seconds are
submitted through ``job_submit`` (a Job row each, enqueued on commit) and the
clock runs from the first submission until every job has succeeded. Printed:
jobs, seconds, the part of it spent submitting, jobs/s, and the ratio to the target (embedded >= 20 jobs/s,
Redis >= 50 jobs/s).

The jobs are submitted one after another from one process, as one client would, while the worker
already drains them: where "submit s" is close to "seconds" the worker kept up and the rate is the
rate of submission (three statements and a publish each), not of the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import benchlib

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "Services"
TARGETS = {"embedded": 20.0, "redis": 50.0}
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(url: str, port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or port), timeout=2):
            return True
    except OSError:
        return False


def _env(broker: str, var: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    # the drain rate is the broker's: the per-user queue limit (20 by default) would stop the bench at 20 jobs
    env.update(JOB_MAX_QUEUED_PER_USER="1000000", JOB_MAX_RUNNING_PER_USER="1000")
    env.update(
        SERVICES_VAR_DIR=str(var),
        SERVICES_DATA_ROOT=str(var / "data"),
        SERVICES_MODELS_ROOT=str(var / "models"),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
    )
    if broker == "redis":
        env["REDIS_URL"] = REDIS_URL
        if os.environ.get("DATABASE_URL", "").startswith("postgres"):
            env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    return env


def _drain(n: int) -> None:
    """In a child with the broker's environment: submit n trivial jobs, wait until all succeeded."""
    sys.path.insert(0, str(SERVICES))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "services_project.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from services_app.jobs.services import job_submit
    from services_app.models import Job

    user, _ = get_user_model().objects.get_or_create(username="bench-broker")
    Job.objects.filter(owner=user).delete()

    def wait(ids, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = Job.objects.filter(pk__in=ids, status__in=Job.FINISHED).count()
            if done == len(ids):
                return
            time.sleep(0.05)
        raise SystemExit(f"timed out: {done} of {len(ids)} jobs finished")

    warm, _ = job_submit(owner=user, kind="demo.sleep", params={"seconds": 0, "steps": 1}, force=True)
    wait([warm.pk], 120)
    started = time.monotonic()
    ids = [
        job_submit(owner=user, kind="demo.sleep", params={"seconds": 0, "steps": 1}, force=True)[0].pk for _ in range(n)
    ]
    submitted = time.monotonic() - started
    wait(ids, max(120, n * 2))
    seconds = time.monotonic() - started
    failed = Job.objects.filter(pk__in=ids).exclude(status=Job.Status.SUCCEEDED).count()
    print(json.dumps({"jobs": n, "seconds": seconds, "submit_seconds": submitted, "not_succeeded": failed}))


def run_broker(broker: str, n: int) -> dict | None:
    if broker != "redis":
        return _run_broker(broker, n)
    if not _reachable(REDIS_URL, 6379):
        print(f"{broker:9s} skipped: Redis not reachable at {REDIS_URL}")
        return None
    with benchlib.redis_keys(REDIS_URL, "broker") as prefix:
        return _run_broker(broker, n, {"REDIS_KEY_PREFIX": prefix})


def _run_broker(broker: str, n: int, extra: dict | None = None) -> dict:
    var = Path(tempfile.mkdtemp(prefix=f"bench-broker-{broker}-"))
    env = {**_env(broker, var), **(extra or {})}
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=SERVICES, env=env, check=True)
    log = open(var / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "services_project", "worker", "-Q", "default,gpu"]
        + ["--concurrency", "2", "--loglevel", "WARNING", "--hostname", f"bench-{broker}@%h"],
        cwd=SERVICES,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--_drain", str(n)], env=env, capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            print(out.stdout, out.stderr[-2000:])
            print((var / "worker.log").read_text()[-2000:])
            raise SystemExit(f"{broker}: drain failed")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        # SIGTERM to the main process only: it stops its pool processes itself (a SIGTERM to the whole
        # group at once sometimes left it waiting on them past the 30 s below)
        os.kill(worker.pid, 15)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
        shutil.rmtree(var, ignore_errors=True)
    result["rate"] = result["jobs"] / result["seconds"]
    result["broker"] = broker
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500, help="jobs per broker (default 500)")
    parser.add_argument("--quick", action="store_true", help="60 jobs per broker")
    parser.add_argument("--brokers", default="embedded,redis", help="comma-separated: embedded, redis")
    parser.add_argument("--_drain", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._drain:
        _drain(args._drain)
        return
    n = 60 if args.quick else args.jobs
    rows = [r for b in args.brokers.split(",") if (r := run_broker(b.strip(), n))]
    print(f"{'broker':9s} {'jobs':>5s} {'seconds':>8s} {'submit s':>8s} {'jobs/s':>7s} {'target':>7s} {'ratio':>6s}")
    for r in rows:
        target = TARGETS[r["broker"]]
        print(
            f"{r['broker']:9s} {r['jobs']:5d} {r['seconds']:8.1f} {r['submit_seconds']:8.1f} {r['rate']:7.1f} "
            f"{target:7.0f} "
            f"{r['rate'] / target:5.2f}x" + (f"  ({r['not_succeeded']} not succeeded)" if r["not_succeeded"] else "")
        )
    if len(rows) == 2:
        print(f"embedded drains at {rows[0]['rate'] / rows[1]['rate']:.2f}x the Redis rate")


if __name__ == "__main__":
    main()
