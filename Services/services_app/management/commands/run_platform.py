"""Start the web server and a Celery worker together; Ctrl-C stops both.

This is what `make run` calls. On the embedded defaults one worker serves
both queues; a deployment runs web and workers as separate services instead
(see docker-compose.yml)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a worker (queues default and gpu) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")
        parser.add_argument("--concurrency", default="2")
        parser.add_argument("--queues", default="default,gpu")

    def handle(self, *args, host, port, concurrency, queues, **opts):
        manage = Path(__file__).resolve().parents[3] / "manage.py"
        cwd = manage.parent
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "services_project.wsgi:application",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--timeout",
                    "600",
                    "--access-logfile",
                    "-",
                ],
                cwd=cwd,
            ),
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "services_project",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "-Q",
                    queues,
                    "--concurrency",
                    concurrency,
                    "--hostname",
                    f"local-{os.getpid()}@%h",
                ],
                cwd=cwd,
            ),
        ]
        self.stdout.write(
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
            while not stopping and all(p.poll() is None for p in procs):
                time.sleep(0.5)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        failed = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(1)
