"""A data root on a bucket, one process at a time: two `Storage` objects with separate local caches stand for
two machines; what one writes the other reads, and the bucket is the only thing they share."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from services_app.errors import ServiceError
from services_app.storage import Storage


@pytest.fixture
def machines(gcs, tmp_path):
    root = f"gs://{gcs.name}/data"
    a = Storage(data_root=tmp_path / "a", remote_root=root)
    b = Storage(data_root=tmp_path / "b", remote_root=root)
    return gcs, a, b


def test_a_write_on_one_machine_is_read_on_the_other(machines):
    gcs, a, b = machines
    with a.atomic_file(a.resolve("reports/q1.csv")) as tmp:
        tmp.write_text("a,b\n1,2\n")
    assert gcs.get("data/reports/q1.csv") == b"a,b\n1,2\n"
    assert not (b.data_root / "reports/q1.csv").exists()
    path = b.resolve("reports/q1.csv", must_exist=True)
    assert path == b.data_root / "reports/q1.csv" and path.read_text() == "a,b\n1,2\n"
    # a new version (a new generation) replaces the cached copy; the same generation is not downloaded again
    with a.atomic_file(a.resolve("reports/q1.csv")) as tmp:
        tmp.write_text("a,b\n3,4\n")
    assert b.resolve("reports/q1.csv", must_exist=True).read_text() == "a,b\n3,4\n"
    before = path.stat().st_mtime_ns
    b.resolve("reports/q1.csv", must_exist=True)
    assert path.stat().st_mtime_ns == before


def test_a_missing_location_is_404_and_a_deleted_object_leaves_the_cache(machines):
    gcs, a, b = machines
    with pytest.raises(ServiceError) as err:
        b.resolve("nothing/here.csv", must_exist=True)
    assert err.value.status == 404
    gcs.put("data/in/x.txt", b"x")
    gcs.put("data/in/y.txt", b"y")
    folder = b.resolve("in", must_exist=True)
    assert sorted(p.name for p in folder.iterdir()) == ["x.txt", "y.txt"]
    (folder / "local-only.txt").write_text("written here, never published")
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs_lib

    gcs_lib.Client(project="test", credentials=AnonymousCredentials()).bucket(gcs.name).blob("data/in/y.txt").delete()
    b.resolve("in", must_exist=True)
    assert sorted(p.name for p in folder.iterdir()) == ["local-only.txt", "x.txt"]


def test_a_folder_replaces_the_prefix_with_its_manifest_last(machines):
    gcs, a, b = machines
    with a.atomic_dir(a.resolve("kb/output")) as tmp:
        (tmp / "old.parquet").write_bytes(b"old")
        (tmp / "manifest.json").write_text(json.dumps({"build": 1}))
    with a.atomic_dir(a.resolve("kb/output")) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "new.parquet").write_bytes(b"new")
        (tmp / "manifest.json").write_text(json.dumps({"build": 2}))
    assert gcs.keys("data/kb/") == ["data/kb/output/manifest.json", "data/kb/output/sub/new.parquet"]
    out = b.hydrate(b.data_root / "kb/output")
    assert json.loads((out / "manifest.json").read_text()) == {"build": 2}
    assert (out / "sub/new.parquet").read_bytes() == b"new" and not (out / "old.parquet").exists()


def test_uploads_are_published_and_local_areas_stay_local(machines):
    gcs, a, b = machines
    import io

    stored = a.store_upload(io.BytesIO(b"col\n1\n"), "data.csv")
    assert gcs.get(f"data/{stored.location}") == b"col\n1\n"
    assert b.resolve(stored.location, must_exist=True).read_bytes() == b"col\n1\n"
    # dot-folders (caches, staging, locks) never leave the machine; the shared hand-over area does
    (a.data_root / ".cache" / "x").mkdir(parents=True)
    a.publish_local(a.data_root / ".cache" / "x")
    target = a.data_root / ".shared" / "batches" / "0.json.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"rows")
    a.publish_local(target)
    assert [k for k in gcs.keys("data/") if "uploads" not in k] == ["data/.shared/batches/0.json.gz"]
    assert b.resolve(".shared/batches/0.json.gz", must_exist=True).read_bytes() == b"rows"
    a.unpublish(a.data_root / ".shared" / "batches")
    assert [k for k in gcs.keys("data/") if "uploads" not in k] == []


def test_other_workspaces_folders_are_never_fetched(gcs, tmp_path):
    root = f"gs://{gcs.name}/data"
    gcs.put("data/workspaces/bob/secret.csv", b"bob's")
    gcs.put("data/mine.csv", b"mine")
    # the workspace whose folder is the data root itself hides workspaces/
    alice = Storage(data_root=tmp_path / "c", remote_root=root, hidden=("workspaces",))
    alice.resolve(".", must_exist=True)
    assert (tmp_path / "c/mine.csv").read_bytes() == b"mine"
    assert not (tmp_path / "c/workspaces").exists()
    # bob's workspace storage caches under the same local base and maps to his prefix
    bob = Storage(data_root=tmp_path / "c/workspaces/bob", remote_root=root, remote_base=tmp_path / "c")
    assert bob.resolve("secret.csv", must_exist=True).read_bytes() == b"bob's"


def test_fingerprint_comes_from_the_listing_without_downloading(machines):
    gcs, a, b = machines
    gcs.put("data/docs/a.md", b"one")
    first = b.fingerprint("docs")
    assert first["fingerprint"].startswith("tree:") and not (b.data_root / "docs").exists()
    gcs.put("data/docs/a.md", b"two")
    assert b.fingerprint("docs") != first


def test_a_folder_is_listed_from_the_bucket_without_downloading_it(machines):
    gcs, a, b = machines
    gcs.put("data/raw/2024/jan.csv", b"x" * 10)
    gcs.put("data/raw/feb.parquet", b"y" * 7)
    gcs.put("data/raw/.hidden", b"z")
    path, is_file = b.lookup("raw")
    assert not is_file and sorted(b.children(path)) == [("2024", True, 0), ("feb.parquet", False, 7)]
    assert not (b.data_root / "raw").exists()  # listed, not fetched
    path, is_file = b.lookup("raw/feb.parquet")
    assert is_file and path.read_bytes() == b"y" * 7
    with pytest.raises(ServiceError) as err:
        b.lookup("raw/none")
    assert err.value.status == 404


def _delete(gcs, key: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage as gcs_lib

    gcs_lib.Client(project="test", credentials=AnonymousCredentials()).bucket(gcs.name).blob(key).delete()


def test_an_upload_the_bucket_lost_is_published_again(machines):
    import io

    gcs, a, b = machines
    stored = a.store_upload(io.BytesIO(b"col\n1\n"), "data.csv")
    _delete(gcs, f"data/{stored.location}")  # a lifecycle rule, or a person
    again = a.store_upload(io.BytesIO(b"col\n1\n"), "data.csv")
    assert again.location == stored.location and gcs.get(f"data/{stored.location}") == b"col\n1\n"
    assert b.resolve(stored.location, must_exist=True).read_bytes() == b"col\n1\n"


def test_a_file_replaced_by_a_folder_of_the_same_name_and_back(machines):
    gcs, a, b = machines
    gcs.put("data/odd/x", b"a file")
    assert b.resolve("odd/x", must_exist=True).read_bytes() == b"a file"
    _delete(gcs, "data/odd/x")
    gcs.put("data/odd/x/y.csv", b"now a folder")
    folder = b.resolve("odd", must_exist=True)
    assert (folder / "x").is_dir() and (folder / "x/y.csv").read_bytes() == b"now a folder"
    _delete(gcs, "data/odd/x/y.csv")
    gcs.put("data/odd/x", b"a file again")
    assert b.resolve("odd/x", must_exist=True).read_bytes() == b"a file again"


def test_names_at_the_file_system_limit_are_fetched_and_written(machines):
    gcs, a, b = machines
    name = "L" * 251 + ".csv"  # 255 bytes: the longest name a file system takes
    gcs.put(f"data/long/{name}", b"x,y\n")
    assert (b.resolve("long", must_exist=True) / name).read_bytes() == b"x,y\n"
    with a.atomic_file(a.resolve(f"out/{name}")) as tmp:
        tmp.write_text("z")
    assert gcs.get(f"data/out/{name}") == b"z"


def test_object_names_that_cannot_be_files_are_refused_not_written_elsewhere(machines, tmp_path):
    """`data/odd//x.csv` joined naively to a folder is `/x.csv`, outside every root: refused, named."""
    gcs, a, b = machines
    gcs.put("data/odd/ok.csv", b"ok")
    gcs.put("data/odd//escape.csv", b"must not land at /escape.csv")
    with pytest.raises(ServiceError) as err:
        b.resolve("odd", must_exist=True)
    assert (err.value.status, err.value.code) == (422, "invalid_object_name")
    assert err.value.details["objects"] == ["odd//escape.csv"]
    assert not any(p.name == "escape.csv" for p in tmp_path.rglob("*"))
    import os

    assert not os.path.exists("/escape.csv")


def test_the_gs_mirror_refuses_such_names_too(gcs, tmp_path):
    import os

    gcs.put("in/ok.csv", b"ok")
    gcs.put("in//escape2.csv", b"x")
    with pytest.raises(ServiceError) as err:
        gcs.storage.local_copy(gcs.url("in/"))
    assert err.value.code == "invalid_object_name" and "in//escape2.csv" in err.value.details["objects"]
    assert not os.path.exists("/escape2.csv")


def test_a_conversion_batch_fetches_its_inputs_and_publishes_every_table(machines):
    from services_app.capabilities.conversion.jobs import convert_batch
    from services_app.jobs.context import JobContext

    gcs, a, b = machines
    names = [f"in/f{i:02d}.csv" for i in range(12)]
    for i, name in enumerate(names):
        with a.atomic_file(a.resolve(name)) as tmp:
            tmp.write_text(f"id,v\n{i},{i * 10}\n" if i != 5 else 'id,v\n1,"open\n')  # f05: an unmatched quote
    items = [[name, name.removeprefix("in/"), f"out/{name.removeprefix('in/')[:-4]}.parquet"] for name in names]
    result = convert_batch(JobContext(storage=b), {"items": items, "options": {}})
    by_name = {e["relative_path"]: e for e in result["files"]}
    assert [e["relative_path"] for e in result["files"]] == [n.removeprefix("in/") for n in names]  # in order
    assert by_name["f05.csv"]["status"] == "failed" and by_name["f05.csv"]["error"]["code"] == "malformed_csv"
    converted = [n for n, e in by_name.items() if e["status"] == "converted"]
    assert len(converted) == 11
    for n in converted:  # every table is in the bucket when the batch returns, and machine A reads it
        i = int(n[1:3])
        assert gcs.get(f"data/out/f{i:02d}.parquet")[:4] == b"PAR1"
        table = pq.read_table(a.resolve(f"out/f{i:02d}.parquet", must_exist=True))
        assert table.to_pydict() == {"id": [i], "v": [i * 10]}
    assert gcs.keys("data/out/") == sorted(f"data/out/f{int(n[1:3]):02d}.parquet" for n in converted)


def test_a_table_that_cannot_be_published_fails_its_file_only(machines, monkeypatch):
    from services_app.capabilities.conversion.jobs import convert_batch
    from services_app.jobs.context import JobContext

    gcs, a, b = machines
    for i in range(3):
        with a.atomic_file(a.resolve(f"in/g{i}.csv")) as tmp:
            tmp.write_text(f"id\n{i}\n")
    real = type(b).publish_local

    def flaky(self, path):
        if path.name == "g1.parquet":
            raise ServiceError("the bucket could not be reached", code="gcs_unreachable", status=502)
        return real(self, path)

    monkeypatch.setattr(type(b), "publish_local", flaky)
    items = [[f"in/g{i}.csv", f"g{i}.csv", f"out/g{i}.parquet"] for i in range(3)]
    result = convert_batch(JobContext(storage=b), {"items": items, "options": {}})
    assert [e["status"] for e in result["files"]] == ["converted", "failed", "converted"]
    assert result["files"][1]["error"]["code"] == "gcs_unreachable" and result["files"][1]["relative_path"] == "g1.csv"
    assert gcs.keys("data/out/") == ["data/out/g0.parquet", "data/out/g2.parquet"]
