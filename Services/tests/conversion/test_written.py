"""An output's sha256 is computed from the bytes as DuckDB writes them: it must be the sha256 of the finished
file (whose footer is changed after the COPY), and anything the writes do not account for falls back to
reading the file."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading

import pyarrow.parquet as pq
import pytest

from services_app.capabilities.conversion import convert_file, written
from services_app.tables import TableError
from tests.conftest import SERVICES_DIR


def _file_sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def streamed(monkeypatch):
    """What each `HashingWriter.sha256` answered (None: the caller read the file instead)."""
    answers = []
    original = written.HashingWriter.sha256

    def spy(self):
        answers.append(original(self))
        return answers[-1]

    monkeypatch.setattr(written.HashingWriter, "sha256", spy)
    return answers


def _csv(path, rows: int):
    lines = ["id,name,amount"] + [f"{i},name {i % 97},{i * 0.25}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_streamed_sha256_is_that_of_the_finished_file(tmp_path, monkeypatch, streamed):
    # a small lag, so that most of the output is hashed while DuckDB writes it, over many writes
    monkeypatch.setattr(written, "LAG", 4096)
    src = _csv(tmp_path / "in.csv", 60_000)
    out = tmp_path / "out.parquet"
    report = convert_file(src, out, {"row_group_size": 1000})
    (output,) = report["outputs"]
    assert streamed and streamed[-1] is not None  # computed from the writes, not by reading the file
    assert output["sha256"] == streamed[-1] == _file_sha(out)
    # the footer was changed after the COPY (the source's sha256 stamped in) and the hash covers that
    meta = pq.read_metadata(out)
    assert meta.metadata[b"source_sha256"].decode() == _file_sha(src) == report["sha256"]
    assert meta.num_row_groups >= 20 and report["rows"] == 60_000  # written over many writes


def test_a_footer_longer_than_the_lag_is_hashed_from_the_file(tmp_path, monkeypatch, streamed):
    monkeypatch.setattr(written, "LAG", 0)  # everything hashed as written, the footer included
    src = _csv(tmp_path / "in.csv", 5_000)
    out = tmp_path / "out.parquet"
    report = convert_file(src, out, {"row_group_size": 1000})
    assert streamed == [None]  # refused: the footer changed after it was hashed
    assert report["outputs"][0]["sha256"] == _file_sha(out)


def test_writes_out_of_order_are_hashed_in_file_order(tmp_path, monkeypatch):
    monkeypatch.setattr(written, "LAG", 0)
    data = os.urandom(50_000) + b"\x10\x00\x00\x00PAR1"  # ends like a Parquet file: a 16-byte footer
    path = tmp_path / "f"
    w = written.HashingWriter(path)
    pieces = [(0, 10_000), (30_000, 40_000), (10_000, 20_000), (40_000, len(data)), (20_000, 30_000)]
    for start, end in pieces:
        w.seek(start)
        assert w.write(data[start:end]) == end - start
    assert w.sha256() is None  # the footer's bytes were hashed before the end: not trusted
    monkeypatch.setattr(written, "LAG", 1 << 20)
    w = written.HashingWriter(tmp_path / "g")
    for start, end in pieces:
        w.seek(start)
        w.write(data[start:end])
    assert w.sha256() == hashlib.sha256(data).hexdigest() == _file_sha(tmp_path / "g")


@pytest.mark.parametrize(
    "pieces",
    [
        [(0, 100), (50, 200)],  # a region written twice
        [(0, 100), (150, 200)],  # a gap never filled
        [(0, 100), (100, 200), (300, 400)],  # bytes beyond a gap
    ],
)
def test_writes_that_do_not_account_for_the_file_are_not_trusted(tmp_path, pieces):
    data = os.urandom(400)
    w = written.HashingWriter(tmp_path / "f")
    for start, end in pieces:
        w.seek(start)
        w.write(data[start:end])
    assert w.sha256() is None


def test_a_file_changed_behind_the_writer_is_not_trusted(tmp_path):
    w = written.HashingWriter(tmp_path / "f")
    w.write(os.urandom(100) + b"\x10\x00\x00\x00PAR1")
    w.close()
    with open(tmp_path / "f", "ab") as f:
        f.write(b"more")
    assert w.sha256() is None


def test_a_failed_conversion_leaves_no_writer_and_no_file(tmp_path):
    (tmp_path / "work").mkdir()
    src = tmp_path / "work" / "in.csv"
    src.write_text("n\n" + "1\n" * 50_000 + "1.5\n")  # declared integers; the last one is not
    out = tmp_path / "work" / "out.parquet"
    with pytest.raises(TableError) as err:
        convert_file(src, out, {"column_types": {"n": "bigint"}})
    assert err.value.code == "type_error"
    assert not written._filesystem.writers  # no writer (and the bytes it holds) kept
    assert sorted(os.listdir(tmp_path / "work")) == ["in.csv"]


def test_an_output_that_cannot_be_written_is_a_clear_error(tmp_path):
    """A real failed write: the process may write files of at most 200 KB (RLIMIT_FSIZE, with SIGXFSZ
    ignored, so that the write fails with EFBIG instead of killing the process)."""
    (tmp_path / "work").mkdir()
    src = _csv(tmp_path / "work" / "in.csv", 200_000)
    script = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
from services_app.capabilities.conversion import convert_file, written
from services_app.tables import TableError
from tests.conftest import SERVICES_DIR
try:
    convert_file({str(src)!r}, {str(tmp_path / "work" / "out.parquet")!r}, None)
except TableError as exc:
    print(exc.code, exc.message, sorted(written._filesystem.writers))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=SERVICES_DIR, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "write_error cannot write the output out.parquet: File too large []", done.stderr
    assert sorted(os.listdir(tmp_path / "work")) == ["in.csv"]  # no half-written output


def test_threads_that_seek_and_write_at_once_each_write_where_they_sought(tmp_path):
    """DuckDB's threads call seek then write; another thread may seek in between (the interpreter switches
    threads between bytecodes, here every microsecond): each write still lands where its thread sought."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        data = os.urandom(400 * 1000) + b"\x10\x00\x00\x00PAR1"
        offsets = list(range(0, 400 * 1000, 1000))
        random.Random(7).shuffle(offsets)
        w = written.HashingWriter(tmp_path / "f")

        def run(mine):
            for start in mine:
                w.seek(start)
                w.write(data[start : start + 1000])

        threads = [threading.Thread(target=run, args=(offsets[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        w.seek(400 * 1000)
        w.write(data[400 * 1000 :])
    finally:
        sys.setswitchinterval(previous)
    assert (tmp_path / "f").read_bytes() == data
    assert w.sha256() == hashlib.sha256(data).hexdigest()
