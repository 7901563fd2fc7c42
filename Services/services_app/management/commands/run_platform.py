"""Start the web server and a Celery worker together, keep both up; Ctrl-C stops both.

This is what `make run` calls. On the embedded defaults one worker serves
both queues; a deployment runs web and workers as separate services instead
(see docker-compose.yml and docs/deployment.md).

Supervision: a process that exits while the platform runs is restarted (after
1 s, doubling up to 30 s while it keeps dying within a minute of its start).
The worker runs in its own process group, so when its main process dies
(SIGKILL, out of memory) its pool children are stopped with it: the job they
held is then *lost*, and the new worker's start-up sweep requeues it (or fails
it past `JOB_MAX_ATTEMPTS`). gunicorn keeps serving the API meanwhile. Each
start is logged as ``supervisor: <name> started (pid N)``. On Linux both
children get SIGTERM when the supervisor itself dies, even by SIGKILL
(``PR_SET_PDEATHSIG``), so nothing outlives it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand

RESTART_DELAY = 1.0
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 60.0  # a process that ran this long resets its restart delay


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl)."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Supervised:
    """One child process: started, watched, restarted with a growing delay when it keeps dying."""

    def __init__(self, name: str, argv: list[str], cwd: Path, write, *, own_group: bool):
        self.name, self.argv, self.cwd, self.write, self.own_group = name, argv, cwd, write, own_group
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = RESTART_DELAY
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            process_group=0 if self.own_group else None,
            # neither outlives the supervisor (the worker, in its own group, does not get the terminal's signals)
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.write(f"supervisor: {self.name} started (pid {self.proc.pid})")

    def check(self) -> None:
        """Restart the process if it died (once its delay has passed)."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start()
            return
        code = self.proc.poll() if self.proc else None
        if code is None:
            return
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
        self._kill_group()
        if now - self.started_at >= STABLE_AFTER or self.restarts == 0:
            self.delay = RESTART_DELAY
        else:  # it keeps dying soon after its start: back off
            self.delay = min(self.delay * 2, MAX_RESTART_DELAY)
        self.write(f"supervisor: {self.name} (pid {self.proc.pid}) exited with {how}; restarting in {self.delay:g} s")
        self.restart_at = now + self.delay

    def _kill_group(self) -> None:
        """Stop what the dead process left behind (a worker's pool children)."""
        if self.own_group and self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._kill_group()


class Command(BaseCommand):
    help = "Run the web server and a worker (queues default and gpu) until Ctrl-C, restarting either if it dies."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--concurrency", default="2")
        parser.add_argument("--queues", default="default,gpu")

    def handle(self, *args, host, port, concurrency, queues, **opts):
        manage = Path(__file__).resolve().parents[3] / "manage.py"
        cwd = manage.parent

        def write(msg: str) -> None:
            self.stdout.write(msg)
            self.stdout.flush()

        web = Supervised(
            "web",
            [sys.executable, "-m", "gunicorn", "services_project.wsgi:application", "--bind", f"{host}:{port}"]
            + ["--workers", "2", "--threads", "4", "--timeout", "600", "--access-logfile", "-"],
            cwd,
            write,
            own_group=False,  # Ctrl-C reaches gunicorn directly, as it would in a terminal
        )
        worker = Supervised(
            "worker",
            [sys.executable, "-m", "celery", "-A", "services_project", "worker", "--loglevel", "INFO", "-Q", queues]
            + ["--concurrency", concurrency, "--hostname", f"local-{os.getpid()}@%h"],
            cwd,
            write,
            own_group=True,  # so that its pool children can be stopped with it
        )
        procs = [web, worker]
        for p in procs:
            p.start()
        write(
            f"Services is running: web app http://{host}:{port}/ , API http://{host}:{port}/api/docs"
            "  (Ctrl-C stops web and worker)"
        )
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for p in procs:
                    p.check()
                time.sleep(0.5)
        finally:
            for p in procs:
                p.stop()
            deadline = time.monotonic() + 20
            for p in procs:
                p.wait(deadline)
