"""An output that cannot be written is a clear per-file error naming the output and the reason, with nothing
left behind: not DuckDB's message inside "cannot read the file"."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from services_app.capabilities.conversion import convert_file
from services_app.tables import TableError
from tests.conftest import SERVICES_DIR


def _csv(path, rows: int):
    lines = ["id,name,amount"] + [f"{i},name {i % 97},{i * 0.25}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_output_that_cannot_be_written_is_a_clear_error(tmp_path):
    """A real failed write: the process may write files of at most 200 KB (RLIMIT_FSIZE, with SIGXFSZ
    ignored, so that the write fails with EFBIG instead of killing the process)."""
    (tmp_path / "work").mkdir()
    src = _csv(tmp_path / "work" / "in.csv", 200_000)
    script = f"""
import resource, signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
from services_app.capabilities.conversion import convert_file
from services_app.tables import TableError
try:
    convert_file({str(src)!r}, {str(tmp_path / "work" / "out.parquet")!r}, None)
except TableError as exc:
    print(exc.code, exc.message)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=SERVICES_DIR, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "write_error cannot write the output out.parquet: File too large", done.stderr
    assert sorted(os.listdir(tmp_path / "work")) == ["in.csv"]  # no half-written output


def test_long_names_convert_or_fail_cleanly(tmp_path):
    """The temporary file of an output has a bounded name: an output whose own name the file system takes
    is written; one it does not take (over 255 bytes) is a write_error that names it, and nothing is left."""
    src = _csv(tmp_path / "in.csv", 10)
    fits = tmp_path / "out" / ("n" * 245 + ".parquet")  # 253 characters: its temporary name used to be 267
    assert convert_file(src, fits, None)["rows"] == 10
    assert pq.read_table(fits).num_rows == 10
    too_long = tmp_path / "out" / ("m" * 250 + ".parquet")
    with pytest.raises(TableError) as err:
        convert_file(src, too_long, None)
    assert err.value.code == "write_error"
    assert err.value.message == f"cannot write the output {too_long.name}: File name too long"
    assert str(tmp_path) not in err.value.message
    assert os.listdir(tmp_path / "out") == [fits.name]
    wide = tmp_path / "out" / ("é" * 117 + ".parquet")  # 242 bytes in 125 characters: bounded by bytes
    assert convert_file(src, wide, None)["rows"] == 10
    assert sorted(os.listdir(tmp_path / "out")) == sorted([fits.name, wide.name])


def test_a_folder_whose_report_cannot_be_written_says_so(tmp_path):
    """The command on a folder under a 5,000-byte file size limit: every small output fits, the report of 41
    files does not. The command ends with a plain message and status 1, not a traceback."""
    (tmp_path / "src").mkdir()
    (tmp_path / "var").mkdir()
    for i in range(41):
        (tmp_path / "src" / f"f{i}.csv").write_text(f"a,b\n{i},x\n")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))

    env = dict(
        os.environ,
        SERVICES_DATA_ROOT=str(tmp_path),
        SERVICES_VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'db.sqlite3'}",
        REDIS_URL="",
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "convert_to_parquet", str(tmp_path / "src"), "--out", str(tmp_path / "out")],
        cwd=SERVICES_DIR,
        env=env,
        preexec_fn=limit,  # noqa: PLW1509 - sets two limits, nothing that could deadlock
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        "cannot write the conversion report _conversion_report.json: File too large; 41 file(s) were converted, "
        "0 failed" in done.stderr
    )
    assert len(list((tmp_path / "out").glob("*.parquet"))) == 41
