"""Source hashes the conversion already knows: an upload's content address, and a cached hash of a
large file that has not changed since it was last converted."""

from __future__ import annotations

import hashlib
import io
import os
import time

import pyarrow.parquet as pq

from services_app.capabilities.conversion import hashes
from services_app.capabilities.conversion.jobs import convert
from services_app.jobs.context import JobContext
from services_app.storage import get_storage


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
