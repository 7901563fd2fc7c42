"""Manifests, plans and transfers for model sync (no Django).

A model version is the set of files under ``<name>/<version>/``. Its checksum
is the md5 of its manifest (one ``path<TAB>md5`` line per file, sorted), so
whether a local copy is in sync is decided from the bucket listing (GCS keeps
each object's md5) and local hashes, without downloading anything. Local md5
sums are cached per version under ``<MODELS_ROOT>/.sync/`` keyed by size and
modification time, so a second sync of unchanged models reads no file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import JobCancelled, NotFound, ServiceError
from ...storage import CHUNK, GcsObject, Storage

DOWN, UP = "models-local", "models-gcp"
CACHE_DIR = ".sync"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}$")


def check_name(value: str, what: str) -> str:
    """Model names and versions are single path components (no slashes, no dot files)."""
    if not isinstance(value, str) or not _NAME_RE.match(value) or value in (".", ".."):
        raise ServiceError(
            f"{what} {value!r} is not valid: use letters, digits and . _ - + = @ (no slashes), not starting with a dot",
            code="invalid_model_name",
        )
    return value


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the version folder, posix
    size: int
    md5: str | None
    crc32c: str | None = None
    generation: int | None = None  # remote only

    def same_content(self, other: FileEntry) -> bool:
        if self.size != other.size:
            return False
        if self.md5 and other.md5:
            return self.md5 == other.md5
        return bool(self.crc32c and other.crc32c and self.crc32c == other.crc32c)


@dataclass
class ModelVersion:
    name: str
    version: str
    files: dict[str, FileEntry] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files.values())

    @property
    def checksum(self) -> str:
        h = hashlib.md5(usedforsecurity=False)
        for path in sorted(self.files):
            f = self.files[path]
            h.update(f"{path}\t{f.md5 or 'crc32c:' + str(f.crc32c)}\n".encode())
        return h.hexdigest()

    def summary(self) -> dict:
        return {"files": len(self.files), "size": self.size, "checksum": self.checksum}


Key = tuple[str, str]


# --- listing ---------------------------------------------------------------------------
def remote_versions(storage: Storage, bucket: str, *, name: str | None = None, version: str | None = None) -> dict:
    """Model versions in the bucket: ``{(name, version): ModelVersion}``."""
    prefix = "/".join(p for p in (name, version) if p)
    out: dict[Key, ModelVersion] = {}
    for obj in storage.gcs_list(f"gs://{bucket}/{prefix}"):
        parts = obj.key.split("/", 2)
        if len(parts) < 3 or parts[0].startswith(".") or not parts[2]:
            continue  # not inside <name>/<version>/
        n, v, rel = parts
        if (name and n != name) or (version and v != version):
            continue
        mv = out.setdefault((n, v), ModelVersion(n, v))
        mv.files[rel] = FileEntry(rel, obj.size, obj.md5, obj.crc32c, obj.generation)
    return out


class HashCache:
    """md5/crc32c of local files, remembered by (size, mtime) per model version."""

    def __init__(self, models_root: Path, name: str, version: str) -> None:
        self.path = models_root / CACHE_DIR / name / f"{version}.json"
        self.lock = threading.Lock()
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def get(self, rel: str, st: os.stat_result) -> tuple[str, str] | None:
        e = self.entries.get(rel)
        if e and e[0] == st.st_size and e[1] == st.st_mtime_ns:
            return e[2], e[3]
        return None

    def put(self, rel: str, st: os.stat_result, md5: str, crc32c: str) -> None:
        with self.lock:
            self.entries[rel] = [st.st_size, st.st_mtime_ns, md5, crc32c]
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_text(json.dumps(self.entries))
        os.replace(tmp, self.path)
        self.dirty = False


def hash_file(path: Path | str) -> tuple[str, str]:
    import google_crc32c

    md5 = hashlib.md5(usedforsecurity=False)
    crc = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            crc.update(chunk)
    return md5.hexdigest(), crc.digest().hex()


def _walk(folder: str, rel: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """``(relative posix path, entry)`` of every file under ``folder``; dot files and folders left out.

    One ``os.scandir`` pass with plain strings (no pathlib objects per file): in a sync where nothing
    changed this walk and one stat per file are all the local work. Symlinked folders are not followed
    (like ``os.walk``); symlinked files are read through."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    subdirs = []
    for e in entries:
        if e.name.startswith("."):
            continue
        if e.is_dir():
            if not e.is_symlink():
                subdirs.append(e)
        else:
            yield rel + e.name, e
    for d in subdirs:
        yield from _walk(d.path, f"{rel}{d.name}/")


def _version_files(folder: Path) -> Iterable[Path]:
    for _, e in _walk(str(folder)):
        yield Path(e.path)


def scan_folder(folder: Path, cache: HashCache | None, name: str = "", version: str = "") -> ModelVersion:
    """Sizes and hashes of a version folder; a file whose size and mtime the cache knows is not read."""
    mv = ModelVersion(name, version)
    files = mv.files
    for rel, e in _walk(str(folder)):
        st = e.stat()
        hit = cache.get(rel, st) if cache else None
        if hit:
            md5, crc = hit
        else:
            md5, crc = hash_file(e.path)
            if cache:
                cache.put(rel, st, md5, crc)
        files[rel] = FileEntry(rel, st.st_size, md5, crc)
    if cache:
        cache.save()
    return mv


def _subdirs(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it if not e.name.startswith(".") and e.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def local_versions(storage: Storage, *, name: str | None = None, version: str | None = None) -> dict:
    """Model versions on disk: ``{(name, version): ModelVersion}``."""
    root = _models_root(storage)
    out: dict[Key, ModelVersion] = {}
    for n in [name] if name else _subdirs(root):
        ndir = root / n
        for v in [version] if version else _subdirs(ndir):
            vdir = ndir / v
            if v.startswith(".") or not vdir.is_dir():
                continue
            out[(n, v)] = scan_folder(vdir, HashCache(root, n, v), n, v)
    return out


def _models_root(storage: Storage) -> Path:
    if storage.models_root is None:
        raise ServiceError("no models root is configured (SERVICES_MODELS_ROOT)", code="not_configured", status=503)
    return storage.models_root


def list_models(storage: Storage, bucket: str) -> list[dict]:
    """Every model version in the bucket or on disk, and whether the two agree."""
    remote = remote_versions(storage, bucket)
    local = local_versions(storage)
    rows = []
    for key in sorted(set(remote) | set(local)):
        r, loc = remote.get(key), local.get(key)
        if r and loc:
            status = "in_sync" if r.checksum == loc.checksum else "differs"
        else:
            status = "remote_only" if r else "local_only"
        rows.append(
            {
                "name": key[0],
                "version": key[1],
                "status": status,
                "in_sync": status == "in_sync",
                "remote": r.summary() | {"location": f"gs://{bucket}/{key[0]}/{key[1]}/"} if r else None,
                "local": loc.summary() | {"path": str(_models_root(storage) / key[0] / key[1])} if loc else None,
            }
        )
    return rows


# --- plans -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    op: str  # download | upload | delete_local | delete_remote
    name: str
    version: str
    path: str
    size: int
    reason: str  # new | changed | extra

    def as_dict(self) -> dict:
        return asdict(self)


def plan(source: dict, dest: dict, *, direction: str, delete: bool) -> list[Action]:
    """What to move so that ``dest`` matches ``source`` (only what differs by checksum)."""
    op = "download" if direction == DOWN else "upload"
    del_op = "delete_local" if direction == DOWN else "delete_remote"
    actions: list[Action] = []
    for key in sorted(source):
        src, dst = source[key], dest.get(key)
        for rel in sorted(src.files):
            f = src.files[rel]
            d = dst.files.get(rel) if dst else None
            if d is None or not f.same_content(d):
                actions.append(Action(op, key[0], key[1], rel, f.size, "new" if d is None else "changed"))
        if delete and dst:
            for rel in sorted(set(dst.files) - set(src.files)):
                actions.append(Action(del_op, key[0], key[1], rel, dst.files[rel].size, "extra"))
    if delete:
        for key in sorted(set(dest) - set(source)):
            for rel in sorted(dest[key].files):
                actions.append(Action(del_op, key[0], key[1], rel, dest[key].files[rel].size, "extra"))
    return actions


# --- execution ----------------------------------------------------------------------------
class Transfers:
    """Run transfers on a thread pool, reporting progress in bytes from the calling thread."""

    def __init__(self, report: Callable[[float, str], None], *, total_bytes: int, total_files: int, workers: int):
        self.report, self.total, self.files = report, max(total_bytes, 1), total_files
        self.workers = max(1, min(int(workers), 64))
        self.done_bytes = 0
        self.done_files = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def on_bytes(self, n: int) -> None:
        if self.stop.is_set():
            raise JobCancelled()
        with self.lock:
            self.done_bytes += n

    def file_done(self) -> None:
        with self.lock:
            self.done_files += 1

    def message(self) -> str:
        return (
            f"{human(min(self.done_bytes, self.total))} of {human(self.total)}, {self.done_files} of {self.files} files"
        )

    def run(self, tasks: list[Callable[[], object]]) -> None:
        if not tasks:
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: set[Future] = {pool.submit(self._wrap(t)) for t in tasks}
            try:
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                    for fut in done:
                        fut.result()  # raise the first failure
                    self.report(min(self.done_bytes / self.total, 0.999), self.message())
            except BaseException:
                self.stop.set()
                for fut in pending:
                    fut.cancel()
                raise

    def _wrap(self, task: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            if self.stop.is_set():
                raise JobCancelled()
            out = task()
            self.file_done()
            return out

        return run


def human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def apply_downloads(
    storage: Storage,
    bucket: str,
    actions: list[Action],
    remote: dict,
    *,
    report: Callable[[float, str], None],
    workers: int,
) -> None:
    """Download what changed; each touched model version is replaced atomically.

    For every version with changes, a staging folder beside it receives hard
    links of the unchanged local files and the downloaded ones (each verified
    against the bucket's md5); the staging folder is swapped in only when all
    of them succeeded. Deletions are applied by leaving files out of it."""
    root = _models_root(storage)
    by_version: dict[Key, list[Action]] = {}
    for a in actions:
        by_version.setdefault((a.name, a.version), []).append(a)
    moving = [a for a in actions if a.op == "download"]
    transfers = Transfers(report, total_bytes=sum(a.size for a in moving), total_files=len(moving), workers=workers)
    removals: list[Path] = []
    caches: list[tuple[HashCache, Path]] = []
    with contextlib.ExitStack() as stack:
        tasks: list[Callable[[], object]] = []
        for (n, v), acts in by_version.items():
            target = root / n / v
            if (n, v) not in remote:  # a local-only version, deleted as asked (after the transfers succeed)
                removals.append(target)
                continue
            staging = stack.enter_context(storage.atomic_dir(target))
            changed = {a.path for a in acts}
            if target.is_dir():
                for p in _version_files(target):
                    rel = p.relative_to(target).as_posix()
                    if rel not in changed:
                        _link_or_copy(p, staging / rel)
            cache = HashCache(root, n, v)
            caches.append((cache, target))
            for a in acts:
                if a.op != "download":
                    continue
                entry = remote[(n, v)].files[a.path]
                obj = GcsObject(bucket, f"{n}/{v}/{a.path}", entry.size, entry.generation or 0, entry.md5, entry.crc32c)
                tasks.append(
                    lambda o=obj, dest=staging / a.path, e=entry, c=cache, rel=a.path: _download_one(
                        storage, o, dest, e, c, rel, transfers
                    )
                )
        transfers.run(tasks)  # an error here unwinds every staging folder; nothing is swapped
    for target in removals:
        trash = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
        os.replace(target, trash)
        shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (root / CACHE_DIR / target.parent.name / f"{target.name}.json").unlink()
    # the staging folders are in place now: remember the hashes of what was downloaded
    for cache, target in caches:
        for rel, e in list(cache.entries.items()):
            if isinstance(e, dict):
                with contextlib.suppress(OSError):
                    st = (target / rel).stat()
                    cache.entries[rel] = [st.st_size, st.st_mtime_ns, e["md5"], e["crc32c"]]
        cache.entries = {k: e for k, e in cache.entries.items() if isinstance(e, list) and (target / k).is_file()}
        cache.dirty = True
        cache.save()
    report(1.0, transfers.message())


def _download_one(
    storage: Storage, obj: GcsObject, dest: Path, entry: FileEntry, cache: HashCache, rel: str, t: Transfers
) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    storage.gcs_download(obj.location, dest, expected=obj, on_bytes=t.on_bytes)
    md5, crc = entry.md5, entry.crc32c
    if not (md5 and crc):
        md5, crc = hash_file(dest)
    with cache.lock:
        cache.entries[rel] = {"md5": md5, "crc32c": crc}
        cache.dirty = True


def apply_uploads(
    storage: Storage,
    bucket: str,
    actions: list[Action],
    local_dirs: dict,
    remote: dict,
    *,
    report: Callable[[float, str], None],
    workers: int,
) -> None:
    """Upload what changed (each object published with a generation precondition) and
    delete remote extras when asked."""
    moving = [a for a in actions if a.op == "upload"]
    transfers = Transfers(report, total_bytes=sum(a.size for a in moving), total_files=len(moving), workers=workers)
    tasks: list[Callable[[], object]] = []
    for a in actions:
        key = (a.name, a.version)
        location = f"gs://{bucket}/{a.name}/{a.version}/{a.path}"
        rfile = remote.get(key).files.get(a.path) if key in remote else None
        gen = rfile.generation if rfile else 0
        if a.op == "upload":
            src = local_dirs[key][0] / a.path
            md5 = local_dirs[key][1].files[a.path].md5
            tasks.append(
                lambda s=src, loc=location, g=gen, m=md5: storage.gcs_upload(
                    s, loc, if_generation_match=g, md5=m, on_bytes=transfers.on_bytes
                )
            )
        elif a.op == "delete_remote":
            tasks.append(lambda loc=location, g=gen: storage.gcs_delete(loc, if_generation_match=g or None))
    transfers.run(tasks)
    report(1.0, transfers.message())


def sync(storage: Storage, **kwargs) -> dict:
    """Make one side match the other (only what changed); returns a summary with the plan.

    Takes the keyword arguments of `run_sync`."""
    return run_sync(storage, **kwargs)[0]


def run_sync(
    storage: Storage,
    *,
    bucket: str,
    direction: str,
    name: str | None = None,
    version: str | None = None,
    dry_run: bool = False,
    delete: bool = False,
    workers: int = 8,
    report: Callable[[float, str], None] = lambda f, m: None,
    remote: dict | None = None,
) -> tuple[dict, dict, dict]:
    """`sync`, also returning the remote and local versions it compared (before any transfer).

    ``remote`` is a listing the caller already made (``remote_versions`` with the same name and
    version), so that a job does not list the bucket twice."""
    if direction not in (DOWN, UP):
        raise ServiceError(
            f"direction must be {DOWN!r} (bucket to disk) or {UP!r} (disk to bucket), not {direction!r}",
            code="invalid_direction",
        )
    started = time.monotonic()
    storage.check_bucket(bucket)
    report(0.0, f"listing gs://{bucket} and {_models_root(storage)}")
    if remote is None:
        remote = remote_versions(storage, bucket, name=name, version=version)
    local = local_versions(storage, name=name, version=version)
    if direction == DOWN:
        actions = plan(remote, local, direction=DOWN, delete=delete)
    else:
        actions = plan(local, remote, direction=UP, delete=delete)
    moving = [a for a in actions if a.op in ("download", "upload")]
    deleting = [a for a in actions if a.op.startswith("delete")]
    summary = {
        "direction": direction,
        "bucket": bucket,
        "models_root": str(_models_root(storage)),
        "dry_run": dry_run,
        "delete": delete,
        "versions_compared": len(set(remote) | set(local)),
        "files_to_transfer": len(moving),
        "bytes_to_transfer": sum(a.size for a in moving),
        "files_to_delete": len(deleting),
        "actions": [a.as_dict() for a in actions[:1000]],
        "actions_truncated": len(actions) > 1000,
    }
    if not dry_run and actions:
        if direction == DOWN:
            apply_downloads(storage, bucket, actions, remote, report=report, workers=workers)
        else:
            root = _models_root(storage)
            dirs = {k: (root / k[0] / k[1], mv) for k, mv in local.items()}
            apply_uploads(storage, bucket, actions, dirs, remote, report=report, workers=workers)
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary, remote, local


def require_remote(storage: Storage, bucket: str, name: str, version: str) -> dict:
    remote = remote_versions(storage, bucket, name=name, version=version)
    if not remote:
        raise NotFound(
            f"model {name!r} version {version!r} is not in gs://{bucket}/ (GET /api/models lists what is there)",
            details={"bucket": bucket, "name": name, "version": version},
        )
    return remote
