"""Source hashes the conversion already knows: an upload's content address, and a cached hash of a
large file that has not changed since it was last converted."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from services_app.capabilities.conversion import hashes
from services_app.capabilities.conversion.jobs import convert
from services_app.jobs.context import JobContext
from services_app.storage import get_storage
from tests.conftest import SERVICES_DIR


def _big_csv(path, fill: str = "x") -> bytes:
    row = f"1,{fill * 40}\n"
    data = ("id,text\n" + row * (hashes.MIN_BYTES // len(row) + 10)).encode()
    path.write_bytes(data)
    return data


def _source_sha(parquet_path) -> str:
    return pq.read_metadata(parquet_path).metadata[b"source_sha256"].decode()


def test_an_upload_is_not_hashed_again(data_roots):
    storage = get_storage()
    stored = storage.store_upload(io.BytesIO(b"a,b\n1,2\n"), "small.csv")
    path = storage.resolve(stored.location)
    digest = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    assert hashes.known_sha256(path, data_roots) == digest
    result = convert(JobContext(storage=storage), {"files": [stored.location], "output": "up"})
    (entry,) = result["files"]
    assert entry["sha256"] == digest
    assert _source_sha(data_roots / "up" / "small.parquet") == digest


def test_a_large_unchanged_file_reuses_its_hash_and_an_edit_is_noticed(data_roots):
    storage = get_storage()
    src = data_roots / "big.csv"
    first = _big_csv(src, "x")
    assert hashes.known_sha256(src, data_roots) is None  # never converted
    convert(JobContext(storage=storage), {"source": "big.csv", "output": "one.parquet"})
    assert hashes.known_sha256(src, data_roots) == hashlib.sha256(first).hexdigest()

    # same size, same mtime, new content: the ctime gives it away
    st = os.stat(src)
    time.sleep(0.05)
    second = _big_csv(src, "y")
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (os.stat(src).st_size, os.stat(src).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert hashes.known_sha256(src, data_roots) is None
    result = convert(JobContext(storage=storage), {"source": "big.csv", "output": "two.parquet"})
    assert result["files"][0]["sha256"] == hashlib.sha256(second).hexdigest()
    assert _source_sha(data_roots / "two.parquet") == hashlib.sha256(second).hexdigest()


def test_small_files_are_not_cached(data_roots):
    src = data_roots / "small.csv"
    src.write_text("a\n1\n")
    hashes.remember(src, "0" * 64, data_roots)
    assert hashes.known_sha256(src, data_roots) is None


def test_a_prefetched_hash_is_used_once_and_a_changed_file_is_hashed_again(data_roots, monkeypatch):
    storage = get_storage()
    src = data_roots / "early.csv"
    first = _big_csv(src, "x")
    assert hashes.prefetch(src)
    key = hashes.stat_key(src)
    started = hashes._started[key]
    begun = []
    real_begin = hashes.begin
    monkeypatch.setattr(hashes, "begin", lambda path: begun.append(real_begin(path)) or begun[-1])
    result = convert(JobContext(storage=storage), {"source": "early.csv", "output": "one.parquet"})
    assert begun == [started] and key not in hashes._started  # the early thread's result, taken once
    assert result["files"][0]["sha256"] == hashlib.sha256(first).hexdigest()
    assert _source_sha(data_roots / "one.parquet") == hashlib.sha256(first).hexdigest()

    # started early, then the file changed before the conversion: a new key, hashed anew
    other = data_roots / "later.csv"
    _big_csv(other, "x")
    assert hashes.prefetch(other)
    time.sleep(0.05)
    second = _big_csv(other, "z")
    result = convert(JobContext(storage=storage), {"source": "later.csv", "output": "two.parquet"})
    assert result["files"][0]["sha256"] == hashlib.sha256(second).hexdigest()
    assert _source_sha(data_roots / "two.parquet") == hashlib.sha256(second).hexdigest()


def test_prefetch_only_starts_for_a_large_file_inside_the_data_root(data_roots, tmp_path, monkeypatch):
    from services_app.capabilities.conversion.cli import prefetch_source_hash

    monkeypatch.setenv("SERVICES_DATA_ROOT", str(data_roots))
    inside, outside = data_roots / "in.csv", tmp_path / "out.csv"
    _big_csv(inside)
    _big_csv(outside)
    (data_roots / "small.csv").write_text("a\n1\n")
    hashes._started.clear()
    for argv in (
        [str(outside)],
        ["small.csv"],
        ["--help"],
        [".", "--out", "x"],
        ["gs://bucket/in.csv"],
        ["--out", "in.parquet"],
        ["-v", "2"],  # the verbosity's value is not a source
    ):
        prefetch_source_hash(argv)
    assert hashes._started == {}
    prefetch_source_hash(["--out", "x.parquet", "-v", "2", "--quiet", "in.csv"])
    assert list(hashes._started) == [hashes.stat_key(inside)]
    assert hashes.begin(inside).result() == hashlib.sha256(inside.read_bytes()).hexdigest()
    assert hashes._started == {}


def test_a_forked_hash_matches_and_reports_a_replaced_file(tmp_path):
    src = tmp_path / "f.csv"
    data = _big_csv(src)
    job = hashes.ForkedDigest(src, hashes.stat_key(src))
    assert job.result() == hashlib.sha256(data).hexdigest() and not job.is_alive()
    assert job.result() == hashlib.sha256(data).hexdigest()  # asked twice: the same answer, the child reaped once

    key = hashes.stat_key(src)
    src.rename(tmp_path / "old.csv")  # kept, so that the new file cannot reuse its inode
    _big_csv(src, "y")  # a new file where the looked-up one was
    job = hashes.ForkedDigest(src, key)
    try:
        job.result()
        raise AssertionError("a replaced file was hashed")
    except OSError as exc:
        assert "was replaced" in str(exc)


def test_a_forked_hash_whose_child_dies_is_taken_in_the_caller(tmp_path):
    src = tmp_path / "f.csv"
    with open(src, "wb") as f:
        f.truncate(2 << 30)  # sparse: a second or so of hashing, time enough to kill the child
    job = hashes.ForkedDigest(src, hashes.stat_key(src))
    os.kill(job._pid, signal.SIGKILL)
    with open(src, "rb") as f:
        expected = hashlib.file_digest(f, "sha256").hexdigest()
    assert job.result() == expected


def test_a_mapped_hash_is_the_files_sha256_at_every_size(tmp_path):
    step = hashes.MAP_STEP
    for size in (0, 1, step - 1, step, step + 1, 2 * step + 12345):
        data = os.urandom(size)
        (tmp_path / "f.bin").write_bytes(data)
        assert hashes.file_sha256(tmp_path / "f.bin", mapped=True) == hashlib.sha256(data).hexdigest(), size


def test_a_file_truncated_under_the_mapping_child_costs_only_the_child(tmp_path):
    """The child hashes through a memory map; a file cut short under it ends the child with SIGBUS, and the
    caller hashes what the file is now instead of failing (or dying itself)."""
    src = tmp_path / "f.csv"
    with open(src, "wb") as f:
        f.truncate(2 << 30)
    job = hashes.ForkedDigest(src, hashes.stat_key(src))
    time.sleep(0.05)
    os.truncate(src, 1 << 20)
    assert job.result() == hashlib.sha256(bytes(1 << 20)).hexdigest()


def test_prefetch_forks_only_while_the_process_has_no_other_thread(data_roots, monkeypatch):
    storage = get_storage()
    src = data_roots / "forked.csv"
    data = _big_csv(src)
    hashes._started.clear()
    monkeypatch.setattr(hashes.threading, "active_count", lambda: 1)  # as at the command's start
    assert hashes.prefetch(src)
    assert isinstance(hashes._started[hashes.stat_key(src)], hashes.ForkedDigest)
    result = convert(JobContext(storage=storage), {"source": "forked.csv", "output": "f.parquet"})
    assert result["files"][0]["sha256"] == hashlib.sha256(data).hexdigest() and hashes._started == {}
    assert _source_sha(data_roots / "f.parquet") == hashlib.sha256(data).hexdigest()

    monkeypatch.setattr(hashes.threading, "active_count", lambda: 3)  # a worker with threads: no fork
    assert hashes.prefetch(src)
    assert isinstance(hashes._started.pop(hashes.stat_key(src)), hashes.Digest)


def _command(data_root, tmp_path, *args):
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "SERVICES_DATA_ROOT": str(data_root),
        "SERVICES_VAR_DIR": str(tmp_path / "var"),
    }
    # output to files, and only the command's own exit awaited (a pipe would also wait for any child
    # process left holding it)
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "convert_to_parquet", *args], cwd=SERVICES_DIR, env=env, stdout=o, stderr=e
        )
        code = proc.wait(timeout=120)
    return subprocess.CompletedProcess(proc.args, code, out.read_text(), err.read_text())


def _processes_naming(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(proc.name)
    return found


def test_the_command_hashes_early_and_leaves_no_process_behind(data_roots, tmp_path):
    marker = f"early-{os.getpid()}-{time.time_ns()}"
    data = _big_csv(data_roots / f"{marker}.csv")
    proc = _command(data_roots, tmp_path, f"{marker}.csv", "--out", "out.parquet", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = data.count(b"\n") - 1
    assert f"{marker}.csv: {rows} rows -> out.parquet" in proc.stdout  # every line of output arrives
    assert proc.stdout.rstrip().splitlines()[-1].startswith("1 converted, 0 failed, 0 skipped")
    assert _source_sha(data_roots / "out.parquet") == hashlib.sha256(data).hexdigest()
    assert pq.read_metadata(data_roots / "out.parquet").num_rows == rows
    assert _processes_naming(marker) == []

    # the request is refused after the early hash of a large file started (a sparse 4 GB file: seconds of
    # hashing): the command says why, exits 1, and its hashing child does not outlive it
    with open(data_roots / f"{marker}-large.csv", "wb") as f:
        f.truncate(4 << 30)
    proc = _command(data_roots, tmp_path, f"{marker}-large.csv", "--out", "o2.parquet", "--options", "{not json")
    assert proc.returncode == 1 and "--options is not valid JSON" in proc.stderr
    assert not (data_roots / "o2.parquet").exists()
    assert _processes_naming(marker) == []
    # the same through Django's own command route (taken with --pythonpath), which ends the usual way
    proc = _command(
        data_roots, tmp_path, "--pythonpath", str(tmp_path), f"{marker}-large.csv", "--options", "{not json"
    )
    assert proc.returncode == 1 and "--options is not valid JSON" in proc.stderr
    assert _processes_naming(marker) == []


def test_the_command_reports_bad_arguments_once_and_json_alone_on_stdout(data_roots, tmp_path):
    (data_roots / "a.csv").write_text("id,x\n1,a\n2,b\n")
    proc = _command(data_roots, tmp_path, "--quiet")  # no source: Django's parser says so, once
    assert proc.returncode == 2 and proc.stderr.count("usage:") == 1
    assert "manage.py convert_to_parquet: error: the following arguments are required: source" in proc.stderr
    proc = _command(data_roots, tmp_path, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() and proc.stderr == ""
    proc = _command(data_roots, tmp_path, "a.csv", "--options", '"x"')
    assert proc.returncode == 1 and "--options must be a JSON object" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _command(data_roots, tmp_path, "a.csv", "--out", "a.parquet", "--json", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)  # the JSON alone: the summary lines went to stderr
    assert result["converted"] == 1 and result["rows"] == 2
    assert "1 converted, 0 failed, 0 skipped" in proc.stderr


def test_a_terminated_command_leaves_no_half_written_output(data_roots, tmp_path):
    """SIGTERM (a service manager, `timeout`, a cancelled CI job) in the middle of the COPY stops the command
    as Ctrl-C does: exit 130, a message, and no temporary or final output left behind."""
    row = "1,2024-01-01,some words in a row,3.25,true\n"
    with open(data_roots / "big.csv", "w") as f:
        f.write("id,day,text,amount,flag\n")
        f.write(row * (100_000_000 // len(row)))
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "SERVICES_DATA_ROOT": str(data_roots),
        "SERVICES_VAR_DIR": str(tmp_path / "var"),
    }
    (data_roots / "out").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "convert_to_parquet", "big.csv", "--out", "out/big.parquet", "--quiet"],
        cwd=SERVICES_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in (data_roots / "out").iterdir()):  # the COPY is writing
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err and "Traceback" not in err
    assert list((data_roots / "out").iterdir()) == []
