"""gs:// through the storage module, against a real GCS API (the emulator)."""

from __future__ import annotations

import hashlib
import os

import pytest

from services_app.errors import ServiceError
from services_app.storage import GCS_TMP_PREFIX, Storage


def test_bucket_not_on_allow_list_is_refused(gcs):
    with pytest.raises(ServiceError) as exc:
        gcs.storage.gcs_stat("gs://services-test/anything")
    assert exc.value.code == "bucket_not_allowed" and exc.value.status == 403
    for call in (
        lambda: gcs.storage.local_copy("gs://other/x"),
        lambda: gcs.storage.gcs_list("gs://other/"),
        lambda: gcs.storage.fingerprint("gs://other/x"),
        lambda: gcs.storage.write_bytes("gs://other/x", b"1"),
    ):
        with pytest.raises(ServiceError, match="allow list"):
            call()


def test_write_read_stat_list(gcs):
    s = gcs.storage
    s.write_bytes(gcs.url("dir/a.txt"), b"hello")
    s.write_bytes(gcs.url("dir/sub/b.txt"), b"world!")
    obj = s.gcs_stat(gcs.url("dir/a.txt"))
    assert obj.size == 5 and obj.md5 == hashlib.md5(b"hello").hexdigest() and obj.generation > 0
    assert len(obj.crc32c) == 8
    assert s.read_bytes(gcs.url("dir/a.txt")) == b"hello"
    assert [o.key for o in s.gcs_list(gcs.url("dir"))] == ["dir/a.txt", "dir/sub/b.txt"]
    # no temporary objects are left behind by publishing
    assert not gcs.keys(GCS_TMP_PREFIX)


def test_missing_object_is_404(gcs):
    with pytest.raises(ServiceError) as exc:
        gcs.storage.gcs_stat(gcs.url("nope.csv"))
    assert exc.value.status == 404
    with pytest.raises(ServiceError) as exc:
        gcs.storage.local_copy(gcs.url("nope/"))
    assert exc.value.status == 404


def test_never_overwrites_silently(gcs):
    s = gcs.storage
    s.write_bytes(gcs.url("x.bin"), b"first", overwrite=False)
    gen = s.gcs_stat(gcs.url("x.bin")).generation
    with pytest.raises(ServiceError) as exc:
        s.write_bytes(gcs.url("x.bin"), b"second", overwrite=False)
    assert exc.value.status == 409 and "already exists" in exc.value.message
    assert gcs.get("x.bin") == b"first"
    # someone else replaced it after we read generation `gen`: our write must not win
    gcs.put("x.bin", b"theirs")
    src = s.data_root / "mine.bin"
    src.write_bytes(b"mine")
    with pytest.raises(ServiceError) as exc:
        s.gcs_upload(src, gcs.url("x.bin"), if_generation_match=gen)
    assert exc.value.code == "conflict"
    assert gcs.get("x.bin") == b"theirs"
    # with overwrite, the current generation is the precondition
    s.write_bytes(gcs.url("x.bin"), b"replaced", overwrite=True)
    assert gcs.get("x.bin") == b"replaced"
    assert not gcs.keys(GCS_TMP_PREFIX)


def test_local_copy_of_object_is_cached_and_refreshed(gcs):
    s = gcs.storage
    gcs.put("in/data.csv", b"a,b\n1,2\n")
    p = s.local_copy(gcs.url("in/data.csv"))
    assert p.read_bytes() == b"a,b\n1,2\n" and p.is_relative_to(s.data_root)
    assert s.resolve(s.relative(p)) == p  # usable as a plain location by any capability
    mtime = p.stat().st_mtime_ns
    assert s.local_copy(gcs.url("in/data.csv")).stat().st_mtime_ns == mtime  # cached
    gcs.put("in/data.csv", b"a,b\n3,4\n")
    assert s.local_copy(gcs.url("in/data.csv")).read_bytes() == b"a,b\n3,4\n"


def test_local_copy_of_prefix_mirrors_folder(gcs):
    s = gcs.storage
    for k in ("tree/a.txt", "tree/x/b.txt", "tree/x/y/c.txt", "treeish.txt"):
        gcs.put(k, k.encode())
    folder = s.local_copy(gcs.url("tree"))
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p.name[0] != ".")
    assert files == ["a.txt", "x/b.txt", "x/y/c.txt"]
    assert (folder / "x/y/c.txt").read_text() == "tree/x/y/c.txt"


def test_local_copy_skips_folder_placeholder_objects(gcs):
    gcs.put("tree/", b"")  # what the Cloud Console creates for "new folder"
    gcs.put("tree/sub/", b"")
    gcs.put("tree/sub/a.txt", b"a")
    folder = gcs.storage.local_copy(gcs.url("tree"))
    assert (folder / "sub" / "a.txt").read_bytes() == b"a"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["sub"]


def test_checksum_mismatch_leaves_nothing_at_target(gcs):
    s = gcs.storage
    gcs.put("m.bin", b"good content")
    gcs.emulator.corrupt(gcs.name, "m.bin", b"evil content")
    target = s.data_root / "out" / "m.bin"
    with pytest.raises(ServiceError) as exc:
        s.gcs_download(gcs.url("m.bin"), target)
    assert exc.value.code == "checksum_mismatch"
    assert not target.exists() and not any(target.parent.iterdir())


def test_publish_folder_and_output_context(gcs):
    s = gcs.storage
    src = s.data_root / "result"
    (src / "part").mkdir(parents=True)
    (src / "a.parquet").write_bytes(os.urandom(1000))
    (src / "part" / "b.parquet").write_bytes(os.urandom(2000))
    written = s.publish(src, gcs.url("out/result"))
    assert written == [gcs.url("out/result/a.parquet"), gcs.url("out/result/part/b.parquet")]
    assert gcs.get("out/result/part/b.parquet") == (src / "part" / "b.parquet").read_bytes()

    with s.output(gcs.url("out/one.txt")) as tmp:
        tmp.write_text("done")
    assert gcs.get("out/one.txt") == b"done"
    with pytest.raises(RuntimeError):
        with s.output(gcs.url("out/failed.txt")) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert "out/failed.txt" not in gcs.keys("out/")
    assert not any((s.data_root / ".cache" / "staging").iterdir())


def test_fingerprint_changes_with_content(gcs):
    s = gcs.storage
    gcs.put("f/a", b"1")
    one = s.fingerprint(gcs.url("f/a"))
    tree = s.fingerprint(gcs.url("f/"))
    gcs.put("f/a", b"2")
    assert s.fingerprint(gcs.url("f/a")) != one
    assert s.fingerprint(gcs.url("f/")) != tree


def test_large_object_round_trip_with_byte_progress(gcs, tmp_path):
    s = gcs.storage
    data = os.urandom(12 * 1024 * 1024 + 7)  # above the client's resumable-upload threshold
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    sent: list[int] = []
    s.gcs_upload(src, gcs.url("big.bin"), on_bytes=sent.append)
    assert sum(sent) >= len(data)
    got: list[int] = []
    target = s.data_root / "big.bin"
    s.gcs_download(gcs.url("big.bin"), target, on_bytes=got.append)
    assert sum(got) == len(data) and target.read_bytes() == data


def test_storage_without_buckets_refuses_gs(tmp_path):
    s = Storage(data_root=tmp_path / "d")
    with pytest.raises(ServiceError, match="GCS_ALLOWED_BUCKETS"):
        s.local_copy("gs://any/thing")
