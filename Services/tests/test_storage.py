import io
import os

import pytest

from services_app.errors import ServiceError
from services_app.storage import Storage, safe_filename


@pytest.fixture
def storage(tmp_path):
    return Storage(data_root=tmp_path / "data", models_root=tmp_path / "models", allowed_buckets=("ok-bucket",))


def test_relative_paths_resolve_under_data_root(storage):
    assert storage.resolve("raw/a.csv") == storage.data_root / "raw" / "a.csv"


@pytest.mark.parametrize(
    "bad, status, code",
    [
        ("../etc/passwd", 400, "path_outside_root"),
        ("raw/../../x", 400, "path_outside_root"),
        ("/etc/passwd", 403, "path_outside_root"),
        ("", 400, "invalid_location"),
        ("a\x00b", 400, "invalid_location"),
    ],
)
def test_paths_outside_root_are_refused(storage, bad, status, code):
    with pytest.raises(ServiceError) as exc:
        storage.resolve(bad)
    assert (exc.value.status, exc.value.code) == (status, code)


def test_symlink_leaving_the_root_is_refused(storage, tmp_path):
    (tmp_path / "secret").write_text("x")
    os.symlink(tmp_path / "secret", storage.data_root / "link")
    with pytest.raises(ServiceError) as exc:
        storage.resolve("link")
    assert exc.value.code == "path_outside_root"


def test_absolute_path_inside_models_root_is_allowed(storage):
    p = storage.models_root / "m" / "1"
    assert storage.resolve(str(p)) == p
    assert storage.resolve_model_path("m/1") == p


def test_missing_is_404(storage):
    with pytest.raises(ServiceError) as exc:
        storage.resolve("nope.csv", must_exist=True)
    assert exc.value.status == 404


def test_uploads_are_stored_by_content_hash_once(storage):
    a = storage.store_upload(io.BytesIO(b"hello"), "../../evil name.csv")
    b = storage.store_upload(io.BytesIO(b"hello"), "../../evil name.csv")
    assert a == b
    assert a.location.startswith("uploads/2cf24dba") and a.location.endswith("evil_name.csv")
    assert (storage.data_root / a.location).read_bytes() == b"hello"
    assert not any((storage.data_root / "uploads" / ".tmp").iterdir())


def test_atomic_file_leaves_nothing_on_error(storage):
    target = storage.data_root / "out" / "x.parquet"
    target.parent.mkdir()
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with storage.atomic_file(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in target.parent.iterdir()] == ["x.parquet"]
    with storage.atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_atomic_dir_swaps_whole_folder(storage):
    target = storage.data_root / "kb"
    with storage.atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(ValueError):
        with storage.atomic_dir(target) as tmp:
            (tmp / "b").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert sorted(p.name for p in storage.data_root.iterdir()) == ["kb"]


def test_bucket_allow_list(storage):
    with pytest.raises(ServiceError) as exc:
        storage.check_bucket("other")
    assert exc.value.status == 403 and "ok-bucket" in exc.value.message
    storage.check_bucket("ok-bucket")


def test_fingerprint_changes_with_content(storage):
    f = storage.data_root / "f.txt"
    f.write_text("a")
    one = storage.fingerprint("f.txt")
    f.write_text("b")
    assert storage.fingerprint("f.txt") != one
    (storage.data_root / "d").mkdir()
    assert storage.fingerprint("d")["fingerprint"].startswith("tree:")


def test_safe_filename():
    assert safe_filename("a/b/c d.csv") == "c_d.csv"
    assert safe_filename("..") == "upload"
    assert safe_filename("ünï cödé.csv") == "ünï_cödé.csv"  # letters of any script stay
    assert safe_filename("u\u0308ber.csv") == "über.csv"  # one form of ü however it was typed
    long = safe_filename("x" * 250 + ".csv")
    assert long.endswith(".csv") and len(long.encode()) == 200  # shortened in the stem, the extension kept
    assert (
        safe_filename("ä" * 150 + ".xlsx").endswith(".xlsx") and len(safe_filename("ä" * 150 + ".xlsx").encode()) <= 200
    )
    assert safe_filename("a\x00b\nc.csv") == "a_b_c.csv"


def test_upload_over_the_limit_is_413_and_leaves_nothing(tmp_path):
    small = Storage(data_root=tmp_path / "d", max_upload_bytes=10)
    with pytest.raises(ServiceError) as exc:
        small.store_upload(io.BytesIO(b"x" * 11), "big.csv")
    assert exc.value.status == 413
    assert not any(p.is_file() for p in (small.data_root / "uploads").rglob("*"))
    assert small.store_upload(io.BytesIO(b"x" * 10), "ok.csv").size == 10


@pytest.mark.parametrize(
    "location",
    [
        "uploads/abc/x.parquet",
        "uploads",
        ".cache/gcs/b/k",
        "./uploads/y",
        "uploads/",
        "knowledgebases/kb/output",
        ".shared/x",
    ],
)
def test_outputs_in_reserved_areas_are_refused(storage, location):
    with pytest.raises(ServiceError) as exc:
        storage.resolve_output(location)
    assert exc.value.status == 403 and exc.value.code == "reserved_location"
    assert storage.resolve_output("parquet/uploads/1") == storage.data_root / "parquet" / "uploads" / "1"


def test_outputs_that_would_be_hidden_or_inside_a_file_are_refused(storage):
    for location in (".hidden/out", "parquet/.x/a.parquet", "a/.b.parquet"):
        with pytest.raises(ServiceError) as exc:
            storage.resolve_output(location)
        assert (exc.value.status, exc.value.code) == (422, "hidden_output"), location
    (storage.data_root / "parquet").mkdir()
    (storage.data_root / "parquet" / "ok.parquet").write_bytes(b"PAR1")
    with pytest.raises(ServiceError) as exc:
        storage.resolve_output("parquet/ok.parquet/inner/x.parquet")
    assert (exc.value.status, exc.value.code) == (409, "output_inside_file")
    assert exc.value.details["file"] == "parquet/ok.parquet"
    assert storage.resolve_output("parquet/ok.parquet") == storage.data_root / "parquet" / "ok.parquet"


def test_a_symlink_into_uploads_is_no_way_around(storage):
    (storage.data_root / "uploads").mkdir()
    os.symlink(storage.data_root / "uploads", storage.data_root / "innocent")
    with pytest.raises(ServiceError) as exc:
        storage.resolve_output("innocent/x")
    assert exc.value.code == "reserved_location"


def test_writers_cannot_replace_an_upload(storage):
    stored = storage.store_upload(io.BytesIO(b"a,b\n1,2\n"), "mine.csv")
    target = storage.data_root / stored.location
    with pytest.raises(ServiceError) as exc:
        with storage.atomic_file(target) as tmp:
            tmp.write_bytes(b"someone else's output")
    assert exc.value.code == "reserved_location"
    with pytest.raises(ServiceError) as exc:
        with storage.atomic_dir(target.parent) as tmp:
            pass
    assert exc.value.code == "reserved_location"
    assert target.read_bytes() == b"a,b\n1,2\n"
    # the platform's own staging under .cache/ stays writable
    with storage.atomic_file(storage.data_root / ".cache" / "staging" / "x") as tmp:
        tmp.write_bytes(b"ok")


def test_output_is_the_one_way_results_are_written(tmp_path):
    storage = Storage(data_root=tmp_path / "data")
    with storage.output("out/report.json") as tmp:
        tmp.write_text("{}")
    assert (storage.data_root / "out/report.json").read_text() == "{}"
    with storage.output("out/folder", folder=True) as tmp:
        (tmp / "a.txt").write_text("a")
        (tmp / "manifest.json").write_text("{}")
    assert sorted(p.name for p in (storage.data_root / "out/folder").iterdir()) == ["a.txt", "manifest.json"]
    # a failing block leaves nothing behind, and the previous content stays
    with pytest.raises(RuntimeError), storage.output("out/folder", folder=True) as tmp:
        (tmp / "b.txt").write_text("b")
        raise RuntimeError("writer failed")
    assert sorted(p.name for p in (storage.data_root / "out/folder").iterdir()) == ["a.txt", "manifest.json"]
    assert [p.name for p in (storage.data_root / "out").iterdir() if p.name.startswith(".")] == []
    with pytest.raises(ServiceError) as exc, storage.output("out/report.json", overwrite=False):
        pass
    assert exc.value.status == 409
    for reserved in ("uploads/x.parquet", ".cache/gcs/b/x"):
        with pytest.raises(ServiceError) as exc, storage.output(reserved):
            pass
        assert exc.value.code == "reserved_location"
