"""Run a native reader in a child process with a memory cap and a timeout.

Some readers are native code that can take the whole process down on a bad
file: python-calamine (Rust) panics and aborts (SIGABRT) on a workbook whose
sheet declares a far cell such as ``XFD1048576``; pypdfium2 can loop or
balloon on a hostile PDF. No Python ``try`` contains that. `run_isolated`
calls the reader in a child process instead:

- the child starts from a **forkserver** (``spawn`` where there is none),
  never by forking the caller: the caller is often a worker that holds
  threads (DuckDB, torch, the job heartbeat), and a fork copies their locks
  in whatever state they were (Python documents this hazard for ``fork`` in
  threaded processes; 3.12 warns and 3.14 switched its default). The
  forkserver preloads pyarrow and the readers once, so each child starts in
  a few milliseconds;
- the child's address space is capped (``RLIMIT_AS``, ``READER_MEMORY_LIMIT_MB``,
  default 4096): a reader that balloons gets a ``MemoryError`` or aborts,
  instead of pushing the machine into swap or the OOM killer;
- the caller waits at most ``timeout`` seconds, then kills the child.

A child that dies raises `ReaderCrashed` with its signal (``SIGABRT``,
``SIGKILL``, ...) or exit status; a child that runs past its time raises
`ReaderTimeout`. Exceptions the reader raises normally (a corrupt file) are
re-raised in the caller unchanged.

Also here: `pool_context()`, the start method for every process pool of the
platform (the knowledge base's pebble pool), and `allow_children`, which lets
a daemonic process (a Celery prefork child) start these children.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

# Imported once by the forkserver, so that every reader child starts warm.
PRELOAD = [
    "pyarrow",
    "pandas",  # pyarrow imports it on the first pa.array(): 0.3 s per child if not preloaded
    "python_calamine",
    "pypdfium2",
    "services_app.isolation",
    "duckdb",
    "services_app.tables",
    "services_app.tables.excel",
    "services_app.tables._pdf_child",
    "services_app.capabilities.knowledgebase.build",
    "services_app.capabilities.knowledgebase.extract",
    "charset_normalizer",
    "docx",
    "selectolax.lexbor",
]
DEFAULT_MEMORY_LIMIT_MB = 4096


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``; never ``fork``."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


_ctx_lock = threading.Lock()
_ctx = None


def pool_context():
    """The multiprocessing context every child process and pool of the platform starts from."""
    global _ctx
    with _ctx_lock:
        if _ctx is None:
            ctx = multiprocessing.get_context(start_method())
            if ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload(PRELOAD)
            _ctx = ctx
    return _ctx


def memory_limit_bytes() -> int | None:
    """The address-space cap of a reader child, from ``READER_MEMORY_LIMIT_MB`` (0: none)."""
    raw = os.environ.get("READER_MEMORY_LIMIT_MB", "")
    try:
        mb = int(raw) if raw.strip() else DEFAULT_MEMORY_LIMIT_MB
    except ValueError:
        mb = DEFAULT_MEMORY_LIMIT_MB
    return mb * 1024 * 1024 if mb > 0 else None


def limit_memory(limit: int | None) -> None:
    """Cap this process's address space (``RLIMIT_AS``) at ``limit`` bytes; a no-op without ``resource``."""
    if not limit:
        return
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class ReaderCrashed(Exception):
    """The reader's process died: ``signal_name`` (e.g. ``SIGABRT``) or ``exit_status``."""

    def __init__(self, exitcode: int | None):
        self.exitcode = exitcode
        self.signal_name = None
        if exitcode is not None and exitcode < 0:
            try:
                self.signal_name = signal.Signals(-exitcode).name
            except ValueError:
                self.signal_name = f"signal {-exitcode}"
        self.exit_status = exitcode if exitcode is not None and exitcode >= 0 else None
        how = f"was killed by {self.signal_name}" if self.signal_name else f"exited with status {exitcode}"
        super().__init__(f"the reader process {how}")

    def details(self) -> dict:
        return {"signal": self.signal_name, "exit_status": self.exit_status}


class ReaderTimeout(Exception):
    def __init__(self, seconds: float):
        self.seconds = seconds
        super().__init__(f"the reader did not finish within {seconds:g} s and was stopped")


class _Remote(Exception):
    """An exception from the child that could not be pickled: its type name and message."""


def _child(conn, fn, args, kwargs, memory_limit) -> None:
    limit_memory(memory_limit)
    try:
        payload = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        payload = ("error", exc)
    try:
        conn.send(payload)
    except Exception as exc:  # noqa: BLE001 - an exception or result that cannot be pickled
        what = payload[1] if payload[0] == "error" else exc
        conn.send(("error", _Remote(f"{type(what).__name__}: {what}"[:2000])))
    conn.close()


class allow_children:
    """Let a Celery prefork child start children of its own. Such a process is daemonic (the
    standard library refuses it children) and its authkey is billiard's, which the standard
    library's forkserver and spawn refuse to pickle; both are set aside while children start.
    The children are ours, and are stopped (or have ended) before the call that started them
    returns."""

    def __enter__(self):
        from multiprocessing.process import AuthenticationString

        self.proc = multiprocessing.current_process()
        self.daemon = self.proc._config.get("daemon")
        if self.daemon:
            self.proc._config["daemon"] = False
        self.authkey = self.proc._config.get("authkey")
        if self.authkey is not None and type(self.authkey) is not AuthenticationString:
            self.proc._config["authkey"] = AuthenticationString(bytes(self.authkey))
        return self

    def __exit__(self, *exc):
        if self.daemon:
            self.proc._config["daemon"] = self.daemon
        if self.authkey is not None:
            self.proc._config["authkey"] = self.authkey


def run_isolated(fn: Callable[..., Any], *args, timeout: float, memory_limit: int | None = -1, **kwargs) -> Any:
    """``fn(*args, **kwargs)`` in a child process; its return value (pickled) or its exception.

    ``fn`` must be importable by name (a module-level function). ``memory_limit`` in bytes;
    -1 takes `memory_limit_bytes()`, None means no cap. Raises `ReaderCrashed` when the child
    dies without an answer, `ReaderTimeout` past ``timeout`` seconds."""
    if memory_limit == -1:
        memory_limit = memory_limit_bytes()
    ctx = pool_context()
    recv, send = ctx.Pipe(duplex=False)
    with allow_children():  # the child copies this process's settings when it is made
        proc = ctx.Process(target=_child, args=(send, fn, args, kwargs, memory_limit), daemon=True)
        proc.start()
    send.close()
    try:
        deadline = time.monotonic() + timeout
        payload = None
        # wait for the answer or for the child's death, whichever comes first
        while payload is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ReaderTimeout(timeout)
            if recv.poll(min(remaining, 0.5)):
                try:
                    payload = recv.recv()
                except (EOFError, OSError):
                    break
            elif not proc.is_alive() and not recv.poll(0):
                break
    finally:
        recv.close()
        if payload is None and proc.is_alive():
            proc.kill()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    if payload is None:
        raise ReaderCrashed(proc.exitcode)
    status, value = payload
    if status == "error":
        raise value
    return value
