"""Model list/download/upload/sync against the GCS emulator, through the job functions,
the API and the management command."""

from __future__ import annotations

import hashlib
import io
import os
from http import HTTPStatus

import pytest
from django.core.management import call_command
from django.urls import reverse

from services_app.capabilities.model_sync import core, jobs
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from tests.conftest import run_job_now

pytestmark = pytest.mark.django_db


def put_model(gcs, name="clf", version="v1", files=None):
    files = files or {"weights.bin": os.urandom(3000), "config/cfg.json": b'{"labels": 3}'}
    for rel, data in files.items():
        gcs.put(f"{name}/{version}/{rel}", data)
    return files


def local_files(root):
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def ctx_for(gcs, events=None):
    return JobContext(
        storage=gcs.storage, on_progress=(lambda f, m: events.append((f, m))) if events is not None else None
    )


def test_download_verifies_replaces_and_skips_identical(gcs):
    files = put_model(gcs)
    events: list = []
    out = jobs.download(ctx_for(gcs, events), {"name": "clf", "version": "v1", "bucket": gcs.name})
    target = gcs.storage.models_root / "clf" / "v1"
    assert local_files(target) == files
    assert out["status"] == "downloaded" and out["files_transferred"] == 2
    assert out["bytes_transferred"] == sum(len(v) for v in files.values())
    assert events[-1][0] == 1.0 and "B of" in events[-1][1]  # progress in bytes
    again = jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": gcs.name})
    assert again["status"] == "up_to_date" and again["files_transferred"] == 0
    assert again["checksum"] == out["checksum"]


def test_download_moves_only_changed_files_and_removes_extras(gcs):
    files = put_model(gcs)
    jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": gcs.name})
    target = gcs.storage.models_root / "clf" / "v1"
    (target / "stray.tmp").write_bytes(b"left by hand")
    gcs.put("clf/v1/weights.bin", b"new weights")
    out = jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": gcs.name})
    assert out["files_transferred"] == 1 and out["bytes_transferred"] == len(b"new weights")
    assert local_files(target) == {"weights.bin": b"new weights", "config/cfg.json": files["config/cfg.json"]}


def test_checksum_mismatch_fails_and_keeps_previous_copy(gcs):
    put_model(gcs, files={"a.bin": b"A" * 100, "b.bin": b"B" * 100})
    jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": gcs.name})
    gcs.put("clf/v1/b.bin", b"C" * 100)
    gcs.emulator.corrupt(gcs.name, "clf/v1/b.bin", b"X" * 100)
    with pytest.raises(ServiceError) as exc:
        jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": gcs.name})
    assert exc.value.code == "checksum_mismatch"
    folder = gcs.storage.models_root / "clf"
    assert local_files(folder / "v1") == {"a.bin": b"A" * 100, "b.bin": b"B" * 100}
    assert [p.name for p in folder.iterdir()] == ["v1"]  # no staging folder left


def test_missing_model_and_bad_names(gcs):
    with pytest.raises(ServiceError) as exc:
        jobs.download(ctx_for(gcs), {"name": "nope", "version": "v1", "bucket": gcs.name})
    assert exc.value.status == 404
    with pytest.raises(ServiceError) as exc:
        jobs.download(ctx_for(gcs), {"name": "../etc", "version": "v1", "bucket": gcs.name})
    assert exc.value.code == "invalid_params" and exc.value.details[0]["field"] == "name"
    with pytest.raises(ServiceError) as exc:
        jobs.download(ctx_for(gcs), {"name": "clf", "version": "v1", "bucket": "not-allowed"})
    assert exc.value.code == "bucket_not_allowed"


def test_upload_refuses_silent_overwrite(gcs):
    folder = gcs.storage.models_root / "clf" / "v2"
    (folder / "sub").mkdir(parents=True)
    (folder / "w.bin").write_bytes(b"w" * 500)
    (folder / "sub" / "tok.txt").write_bytes(b"tokens")
    out = jobs.upload(ctx_for(gcs), {"name": "clf", "version": "v2", "bucket": gcs.name})
    assert out["status"] == "uploaded" and out["files_transferred"] == 2
    assert gcs.get("clf/v2/sub/tok.txt") == b"tokens"
    assert jobs.upload(ctx_for(gcs), {"name": "clf", "version": "v2", "bucket": gcs.name})["status"] == "up_to_date"
    (folder / "w.bin").write_bytes(b"changed")
    with pytest.raises(ServiceError) as exc:
        jobs.upload(ctx_for(gcs), {"name": "clf", "version": "v2", "bucket": gcs.name})
    assert exc.value.status == 409
    assert gcs.get("clf/v2/w.bin") == b"w" * 500
    (folder / "sub" / "tok.txt").unlink()
    out = jobs.upload(ctx_for(gcs), {"name": "clf", "version": "v2", "bucket": gcs.name, "overwrite": True})
    assert out["files_transferred"] == 1 and out["files_removed"] == 1
    assert gcs.keys("clf/v2/") == ["clf/v2/w.bin"] and gcs.get("clf/v2/w.bin") == b"changed"


def test_upload_from_data_root_path(gcs):
    folder = gcs.storage.data_root / "training" / "out"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"pt")
    jobs.upload(ctx_for(gcs), {"name": "lm", "version": "1", "bucket": gcs.name, "path": "training/out"})
    assert gcs.get("lm/1/model.pt") == b"pt"
    with pytest.raises(ServiceError) as exc:
        jobs.upload(ctx_for(gcs), {"name": "lm", "version": "2", "bucket": gcs.name, "path": "../../etc"})
    assert exc.value.code == "path_outside_root"


def test_sync_both_ways_dry_run_and_delete(gcs):
    put_model(gcs, "a", "1")
    put_model(gcs, "b", "1", {"x.bin": b"x"})
    root = gcs.storage.models_root
    (root / "local-only" / "3").mkdir(parents=True)
    (root / "local-only" / "3" / "m.bin").write_bytes(b"m")
    dry = jobs.sync(ctx_for(gcs), {"direction": "models-local", "bucket": gcs.name, "dry_run": True})
    assert dry["files_to_transfer"] == 3 and not (root / "a").exists()
    assert {a["op"] for a in dry["actions"]} == {"download"}
    jobs.sync(ctx_for(gcs), {"direction": "models-local", "bucket": gcs.name})
    assert (root / "b" / "1" / "x.bin").read_bytes() == b"x" and (root / "local-only").exists()
    second = jobs.sync(ctx_for(gcs), {"direction": "models-local", "bucket": gcs.name})
    assert second["files_to_transfer"] == 0
    # disk -> bucket: only the local-only model moves
    up = jobs.sync(ctx_for(gcs), {"direction": "models-gcp", "bucket": gcs.name, "workers": 2})
    assert [a["path"] for a in up["actions"]] == ["m.bin"] and gcs.get("local-only/3/m.bin") == b"m"
    # deletion only when asked
    gcs.storage.gcs_delete(gcs.url("b/1/x.bin"))
    kept = jobs.sync(ctx_for(gcs), {"direction": "models-local", "bucket": gcs.name})
    assert kept["files_to_delete"] == 0 and (root / "b" / "1" / "x.bin").exists()
    gone = jobs.sync(ctx_for(gcs), {"direction": "models-local", "bucket": gcs.name, "delete": True})
    assert gone["files_to_delete"] == 1 and not (root / "b" / "1").exists()


def test_list_models_reports_sync_state(gcs):
    put_model(gcs, "a", "1")
    put_model(gcs, "a", "2")
    jobs.download(ctx_for(gcs), {"name": "a", "version": "1", "bucket": gcs.name})
    (gcs.storage.models_root / "mine" / "0").mkdir(parents=True)
    (gcs.storage.models_root / "mine" / "0" / "f").write_bytes(b"f")
    rows = {(r["name"], r["version"]): r for r in core.list_models(gcs.storage, gcs.name)}
    assert (
        rows[("a", "1")]["status"] == "in_sync"
        and rows[("a", "1")]["local"]["checksum"] == rows[("a", "1")]["remote"]["checksum"]
    )
    assert rows[("a", "2")]["status"] == "remote_only" and rows[("mine", "0")]["status"] == "local_only"
    (gcs.storage.models_root / "a" / "1" / "weights.bin").write_bytes(b"edited")
    assert core.list_models(gcs.storage, gcs.name)[0]["status"] == "differs"
    # the manifest checksum is the md5 of sorted "path<TAB>md5" lines
    remote = core.remote_versions(gcs.storage, gcs.name, name="a", version="2")[("a", "2")]
    lines = "".join(f"{p}\t{remote.files[p].md5}\n" for p in sorted(remote.files))
    assert remote.checksum == hashlib.md5(lines.encode()).hexdigest()


def test_api_list_download_upload(gcs, api):
    put_model(gcs, "api-model", "v1")
    r = api.get(reverse("api:model_list"))
    assert r.status_code == HTTPStatus.OK
    assert r.json()["items"][0]["status"] == "remote_only"
    r = api.post(reverse("api:model_download"), {"name": "api-model", "version": "v1"})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    from services_app.models import Job

    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert job.result["files_transferred"] == 2
    assert api.get(reverse("api:model_list") + "?status=in_sync").json()["count"] == 1

    r = api.post(reverse("api:model_download"), {"name": "api-model", "version": "nope"})
    assert r.status_code == HTTPStatus.NOT_FOUND
    r = api.post(reverse("api:model_download"), {"name": "../x", "version": "v1"})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY

    r = api.post(reverse("api:model_upload"), {"name": "api-model", "version": "v2", "path": "nowhere"})
    assert r.status_code == HTTPStatus.NOT_FOUND
    src = gcs.storage.models_root / "api-model" / "v1"
    r = api.post(reverse("api:model_upload"), {"name": "api-model", "version": "v2", "path": str(src)})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert gcs.keys("api-model/v2/") == ["api-model/v2/config/cfg.json", "api-model/v2/weights.bin"]


def test_api_bucket_not_allowed(gcs, api, settings):
    settings.GCS_MODELS_BUCKET = "someone-elses"
    r = api.get(reverse("api:model_list"))
    assert r.status_code == HTTPStatus.FORBIDDEN and r.json()["error"]["code"] == "bucket_not_allowed"


def test_sync_models_command(gcs):
    put_model(gcs, "cmd", "1", {"f.bin": b"12345"})
    out = io.StringIO()
    call_command("sync_models", "models-local", "--dry-run", stdout=out)
    assert "would download: cmd/1/f.bin" in out.getvalue()
    assert not (gcs.storage.models_root / "cmd").exists()
    call_command("sync_models", "models-local", "--workers", "2", verbosity=0, stdout=io.StringIO())
    assert (gcs.storage.models_root / "cmd" / "1" / "f.bin").read_bytes() == b"12345"
    out = io.StringIO()
    call_command("sync_models", "models-gcp", stdout=out)
    assert "everything in sync" in out.getvalue()


def test_api_sync_job_dry_run_then_real(gcs, api):
    from services_app.models import Job

    put_model(gcs, "synced", "1", {"w.bin": b"abc"})
    r = api.post(reverse("api:model_sync"), {"direction": "models-local", "dry_run": True})
    assert r.status_code == HTTPStatus.ACCEPTED, r.json()
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert not (gcs.storage.models_root / "synced").exists()
    r = api.post(reverse("api:model_sync"), {"direction": "models-local"})
    job = run_job_now(Job.objects.get(pk=r.json()["id"]))
    assert job.status == "succeeded", job.error
    assert (gcs.storage.models_root / "synced" / "1" / "w.bin").read_bytes() == b"abc"
    r = api.post(reverse("api:model_sync"), {"direction": "sideways"})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    r = api.post(reverse("api:model_sync"), {"direction": "models-gcp", "version": "1"})
    assert r.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "together with" in r.json()["error"]["message"]


def test_scan_walks_once_skips_dot_entries_and_trusts_the_hash_cache(tmp_path):
    """Unchanged files (same size and mtime) are not read again; dot files, dot folders and
    symlinked folders are not part of a version."""
    root = tmp_path / "models"
    v = root / "m" / "v1"
    (v / "sub" / "deeper").mkdir(parents=True)
    (v / ".hidden").mkdir()
    (v / "a.bin").write_bytes(b"aaaa")
    (v / "sub" / "deeper" / "b.bin").write_bytes(b"bb")
    (v / ".dotfile").write_bytes(b"x")
    (v / ".hidden" / "c.bin").write_bytes(b"c")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "d.bin").write_bytes(b"d")
    (v / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    mv = core.scan_folder(v, core.HashCache(root, "m", "v1"), "m", "v1")
    assert sorted(mv.files) == ["a.bin", "sub/deeper/b.bin"]
    assert mv.files["a.bin"].md5 == hashlib.md5(b"aaaa").hexdigest() and mv.files["a.bin"].size == 4
    assert (root / core.CACHE_DIR / "m" / "v1.json").is_file()
    # same size and modification time: the cached hash is used, the file is not read
    st = (v / "a.bin").stat()
    (v / "a.bin").write_bytes(b"zzzz")
    os.utime(v / "a.bin", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert core.scan_folder(v, core.HashCache(root, "m", "v1")).files["a.bin"].md5 == hashlib.md5(b"aaaa").hexdigest()
    # a new modification time: hashed again
    os.utime(v / "a.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert core.scan_folder(v, core.HashCache(root, "m", "v1")).files["a.bin"].md5 == hashlib.md5(b"zzzz").hexdigest()
    assert list(core.local_versions(core.Storage(data_root=tmp_path / "d", models_root=root))) == [("m", "v1")]


def test_download_job_unchanged_reports_up_to_date_without_rescanning(gcs, monkeypatch):
    """The second, unchanged download reads no local file again: every hash comes from the cache
    (keyed by size and mtime), and no byte moves."""
    put_model(gcs, "clf", "v2")
    params = {"name": "clf", "version": "v2", "bucket": gcs.name}
    hashed: list[str] = []
    real_hash_file = core.hash_file
    monkeypatch.setattr(core, "hash_file", lambda path: hashed.append(str(path)) or real_hash_file(path))
    first = jobs.download(ctx_for(gcs), params)
    assert first["status"] == "downloaded" and first["files_transferred"] == 2
    hashed.clear()
    again = jobs.download(ctx_for(gcs), params)
    assert again["status"] == "up_to_date"
    assert hashed == []  # nothing rescanned
    assert again["files_transferred"] == 0 and again["bytes_transferred"] == 0 and again["files_removed"] == 0
    assert again["checksum"] == first["checksum"] and again["files"] == first["files"] == 2
    # a file touched on disk (same size, new mtime) is hashed again, and only that one
    model_file = next(p for p in (ctx_for(gcs).storage.models_root / "clf" / "v2").rglob("*") if p.is_file())
    os.utime(model_file, ns=(model_file.stat().st_atime_ns, model_file.stat().st_mtime_ns + 10**9))
    third = jobs.download(ctx_for(gcs), params)
    assert third["status"] == "up_to_date" and hashed == [str(model_file)]
