"""The benchmarks under benches/ keep working: each answers --help without starting a run, runs to
the end at its --quick sizes, and leaves no temporary files, also when it is stopped by a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from .conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
BENCHES = sorted(p.name for p in (REPO / "benches").glob("bench_*.py"))


@pytest.fixture
def tmpdir_(tmp_path) -> Path:
    """The temporary directory the benches see (TMPDIR): empty at the start."""
    path = tmp_path / "tmp"
    path.mkdir()
    return path


def _env(tmpdir_: Path) -> dict:
    """A user's environment: embedded defaults (no test database or broker), temporary files under tmpdir_."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(TMPDIR=str(tmpdir_), SERVICES_VAR_DIR=str(tmpdir_.parent / "var"), PYTHONUNBUFFERED="1")
    # torch keeps a compile cache under the temporary directory by default: a library's cache that is
    # meant to outlive the run, not a file of the bench, so it goes elsewhere here
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmpdir_.parent / "torchinductor")
    return env


# The benches built on benchlib: their figures are labelled in-process / whole process.
LABELLED = {
    "bench_checks.py",
    "bench_conversion.py",
    "bench_knowledgebase.py",
    "bench_model_sync.py",
    "bench_transforms.py",
    "bench_web.py",
}


def test_every_labelled_bench_is_there():
    assert LABELLED <= set(BENCHES), LABELLED - set(BENCHES)


@pytest.mark.parametrize("bench", BENCHES)
def test_help_prints_usage_and_starts_nothing(bench, tmpdir_):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benches" / bench), "--help"],
        env=_env(tmpdir_),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {bench} [-h]") and "--quick" in proc.stdout
    if bench in LABELLED:  # says which figures are whole process and which in-process
        assert "whole" in proc.stdout.lower() and "in-process" in proc.stdout.lower()
    assert list(tmpdir_.iterdir()) == []  # no workspace, no data generated


def test_unknown_option_is_refused(tmpdir_):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benches" / "bench_transforms.py"), "--full-speed"],
        env=_env(tmpdir_),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "unrecognized arguments: --full-speed" in proc.stderr
    assert list(tmpdir_.iterdir()) == []


def _benchlib_script(body: str) -> str:
    return f"import sys, time; sys.path.insert(0, {str(REPO / 'benches')!r}); import benchlib\n" + textwrap.dedent(body)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_workspace_is_removed_when_the_bench_is_stopped(tmpdir_, sig):
    script = _benchlib_script(
        """
        import subprocess
        with benchlib.workspace("probe") as ws:
            (ws / "data.bin").write_bytes(b"x" * 1000)
            child = benchlib.track(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]))
            print(ws, child.pid, flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], env=_env(tmpdir_), stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        ws, child_pid = proc.stdout.readline().split()
        assert Path(ws).parent == tmpdir_ and Path(ws, "data.bin").exists()
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 128 + sig
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not Path(ws).exists()
    assert list(tmpdir_.iterdir()) == []
    wait_for(lambda: _gone(int(child_pid)), timeout=30, message="the bench's child process to stop with it")


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_folders_of_a_killed_bench_are_removed_by_the_next_run(tmpdir_):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmpdir_ / f"services-bench-conversion-{dead.pid}-abc123"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "big.csv").write_text("a,b\n")
    mine = tmpdir_ / f"services-bench-conversion-{os.getpid()}-live"  # a running bench's folder stays
    mine.mkdir()
    other = tmpdir_ / "not-a-bench"
    other.mkdir()
    script = _benchlib_script("print(benchlib.remove_stale())")
    out = subprocess.run(
        [sys.executable, "-c", script], env=_env(tmpdir_), capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == f"['{stale.name}']"
    assert not stale.exists() and mine.exists() and other.exists()


# What each bench must print in its quick run: the labels of whole-process and in-process figures, the
# peers it is compared with, and its ratios.
EXPECTED = {
    "bench_checks.py": ["whole process", "in-proc s", "deepchecks data_integrity + train_test", "Evidently"],
    "bench_conversion.py": ["duckdb_csv_ours", "cmd_duckdb", "pandas_calamine", "fastexcel", "## targets"],
    "bench_knowledgebase.py": ["LlamaIndex SimpleDirectoryReader", "num_workers=", "whole process", "peak RSS"],
    "bench_model_sync.py": ["peer: first sync", "peer: unchanged sync", "whole process", "in-process"],
    "bench_transforms.py": ["in-process s", "whole s", "speed-up:", "peak RSS"],
}


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("bench", BENCHES)
def test_quick_run_completes_and_cleans_up(bench, tmpdir_):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benches" / bench), "--quick"],
        env=_env(tmpdir_),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1400,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    for text in EXPECTED.get(bench, []):
        assert text in out, (text, out[-4000:])
    leftovers = [p.name for p in tmpdir_.iterdir()]
    assert leftovers == [], leftovers
