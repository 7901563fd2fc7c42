"""What every bench shares: its command line, its temporary folder, and how a child process is measured.

- ``parse_args(__doc__)``: ``--help`` prints the bench's docstring and options and exits without starting
  anything; ``--quick`` selects small sizes (a smoke run that CI makes, so a broken bench is caught).
- ``workspace(name)``: a temporary folder named ``services-bench-<name>-<pid>-...`` under the system's
  temporary directory. It is removed when the bench ends, fails, or is stopped with SIGINT, SIGTERM or
  SIGHUP (the handlers turn the signal into ``SystemExit`` so every ``finally`` runs, and child processes
  the bench started are stopped first). Only SIGKILL cannot be caught: the next run of any bench removes
  folders of this prefix whose process is gone.
- ``redis_keys(url)``: a Redis key prefix of the bench's own (``REDIS_KEY_PREFIX`` for the processes it
  starts), whose keys are deleted at the end: a bench shares a Redis database with whatever else uses it (a
  deployment, a test run) and never flushes it.
- ``measure(cmd)``: runs a command as a user would and reports it *whole process*: wall clock from
  start to exit (interpreter start-up and imports included), CPU seconds and peak RSS (``ru_maxrss`` of
  the process from ``wait4``, which covers the children it waited for). Figures a bench takes inside a
  process around the work alone are *in-process*; every table says which it shows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PREFIX = "services-bench-"
_CHILDREN: list[subprocess.Popen] = []
_STALE = re.compile(re.escape(PREFIX) + r"[a-z0-9_]+-(\d+)-")


def parse_args(doc: str | None, *, add=None, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The bench's options; ``add(parser)`` may add its own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run that checks the bench works (CI runs this)"
    )
    if add:
        add(parser)
    return parser.parse_args(argv)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Remove bench folders left by a bench process that no longer exists (one killed with SIGKILL)."""
    removed = []
    tmp = Path(tempfile.gettempdir())
    for p in tmp.glob(PREFIX + "*"):
        m = _STALE.match(p.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return removed


def track(proc):
    """Remember a child process (``subprocess.Popen`` or ``multiprocessing.Process``) so that a stopped
    bench stops it too."""
    _CHILDREN.append(proc)
    return proc


def _alive(proc) -> bool:
    return proc.is_alive() if hasattr(proc, "is_alive") else proc.poll() is None


def stop_children() -> None:
    for proc in _CHILDREN:
        if _alive(proc):
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in _CHILDREN:
        while _alive(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(proc):
            proc.kill()
    _CHILDREN.clear()


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def workspace(name: str) -> Iterator[Path]:
    """A temporary folder for one bench run, removed however the run ends (see the module docstring)."""
    remove_stale()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{name}-{os.getpid()}-"))
    previous = {s: signal.signal(s, _raise_exit) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        yield path
    finally:
        # no second signal may interrupt the clean-up itself
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        try:
            stop_children()
            shutil.rmtree(path, ignore_errors=True)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


@contextlib.contextmanager
def redis_keys(url: str, name: str) -> Iterator[str]:
    """A key prefix of this run's own in the Redis database at ``url``; its keys are deleted on the way out."""
    import uuid

    import redis

    prefix = f"services-bench-{name}-{uuid.uuid4().hex[:8]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for i in range(0, len(keys), 1000):
            client.delete(*keys[i : i + 1000])


def measure(
    cmd: Sequence[str], *, env: dict | None = None, cwd: str | Path | None = None, log: Path | None = None
) -> dict:
    """Run ``cmd`` to its end; whole-process wall seconds, CPU seconds, peak RSS MB, exit code, output."""
    out = open(log, "w+b") if log else tempfile.TemporaryFile()
    with out:
        started = time.perf_counter()
        proc = track(subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        _CHILDREN.remove(proc)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "rc": proc.returncode,
        "output": text,
    }


def python() -> str:
    return sys.executable


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as ``1.23x``, or ``-`` when either is missing."""
    if not a or not b:
        return "-"
    return f"{a / b:.2f}x"


def data_root_user(username: str):
    """A user whose default workspace is the one whose folder is the data root itself (as every user of an
    installation from before workspaces was migrated), so a bench's files under the data root are theirs.
    Call inside a process where Django is set up."""
    from django.contrib.auth import get_user_model

    from services_app.models import Workspace
    from services_app.workspaces import workspace_add_member

    user, _ = get_user_model().objects.get_or_create(username=username)
    root, _ = Workspace.objects.get_or_create(slug="default", defaults={"folder": "", "buckets": ["*"]})
    workspace_add_member(workspace=root, user=user, default=True)
    return user
