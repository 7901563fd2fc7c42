"""Native readers run in child processes that start from a forkserver (never a fork of the
caller), with a memory cap and a timeout; a crash there is an error in the caller, not its death."""

from __future__ import annotations

import os
import threading
import time

import pytest

from services_app import isolation
from services_app.capabilities.conversion import ConversionError
from services_app.isolation import ReaderCrashed, ReaderTimeout, run_isolated
from services_app.tables.excel import read_sheets, read_sheets_here

from .conversion.makers import make_far_cell_xlsx, make_xlsx

# Set by the tests in this process only: a forked child would see the changed value (it copies
# this process's memory), a child from a forkserver or spawn sees the module's own value.
MARK = "as imported"


def _mark_and_pid() -> tuple[str, int, int]:
    return MARK, os.getpid(), os.getppid()


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def _raise_conversion_error() -> None:
    raise ConversionError("sheet 'x' cannot be read", code="corrupt_file", details={"sheet": "x"})


@pytest.fixture
def marked(monkeypatch):
    monkeypatch.setattr(__import__(__name__, fromlist=["MARK"]), "MARK", "changed in the parent")


def test_start_method_is_never_fork():
    assert isolation.start_method() in ("forkserver", "spawn")
    assert isolation.pool_context().get_start_method() == isolation.start_method()


def test_reader_child_is_not_a_fork_of_a_threaded_caller(marked):
    stop = threading.Event()
    busy = threading.Thread(target=stop.wait, daemon=True)  # the caller holds a thread, like a worker
    busy.start()
    try:
        mark, pid, ppid = run_isolated(_mark_and_pid, timeout=60)
    finally:
        stop.set()
    assert mark == "as imported"
    assert pid != os.getpid()
    if isolation.start_method() == "forkserver":
        assert ppid != os.getpid()  # its parent is the forkserver, not this process


def test_knowledge_base_pool_does_not_fork(marked):
    from services_app.capabilities.knowledgebase.build import _pool

    pool = _pool(1)
    try:
        mark, pid, _ = pool.schedule(_mark_and_pid).result(timeout=60)
    finally:
        pool.stop()
        pool.join()
    assert mark == "as imported"
    assert pid != os.getpid()


def test_aborting_reader_is_an_error_with_its_signal(tmp_path):
    bad = make_far_cell_xlsx(tmp_path / "far.xlsx")
    with pytest.raises(ReaderCrashed) as crashed:
        run_isolated(read_sheets_here, bad, sheets=None, header=None, timeout=60)
    assert crashed.value.signal_name == "SIGABRT"
    assert crashed.value.details() == {"signal": "SIGABRT", "exit_status": None}
    with pytest.raises(ConversionError) as err:
        read_sheets(bad, sheets=None, header=None, warn=lambda m: None)
    assert err.value.code == "reader_crashed"
    assert err.value.details["signal"] == "SIGABRT"
    assert "SIGABRT" in err.value.message
    # this process is alive and the next workbook reads normally
    good = make_xlsx(tmp_path / "good.xlsx", {"S": [["a", "b"], [1, "x"], [2, "y"]]})
    ((name, table),) = read_sheets(good, sheets=None, header=None, warn=lambda m: None)
    assert name == "S"
    assert table.to_pydict() == {"a": [1, 2], "b": ["x", "y"]}


def test_memory_cap_stops_a_reader_that_balloons():
    assert run_isolated(_allocate, 64, timeout=60, memory_limit=1024 * 1024 * 1024) == 64 * 1024 * 1024
    with pytest.raises((MemoryError, ReaderCrashed)):
        run_isolated(_allocate, 3000, timeout=60, memory_limit=1024 * 1024 * 1024)


def test_memory_cap_from_the_environment(monkeypatch):
    monkeypatch.setenv("READER_MEMORY_LIMIT_MB", "512")
    assert isolation.memory_limit_bytes() == 512 * 1024 * 1024
    monkeypatch.setenv("READER_MEMORY_LIMIT_MB", "0")
    assert isolation.memory_limit_bytes() is None


def test_reader_past_its_time_is_stopped():
    # other libraries in this process (joblib's loky workers) may hold children of their own: compare, not count
    before = {p.pid for p in isolation.pool_context().active_children()}
    with pytest.raises(ReaderTimeout) as err:
        run_isolated(time.sleep, 60, timeout=1)
    assert err.value.seconds == 1
    left = {p.pid for p in isolation.pool_context().active_children()} - before
    assert left == set()  # killed and reaped, not left running


def test_reader_exceptions_pass_through_unchanged():
    with pytest.raises(ConversionError) as err:
        run_isolated(_raise_conversion_error, timeout=60)
    assert (err.value.code, err.value.status, err.value.details) == ("corrupt_file", 422, {"sheet": "x"})
