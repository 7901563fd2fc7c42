"""A data root on a bucket: ``SERVICES_DATA_ROOT=gs://bucket/prefix``, local disk only a cache.

A mixin of `Storage` (which holds ``remote_root``, the ``gs://bucket/prefix`` of the data root, and
``remote_base``, the local folder that caches it). With no ``remote_root`` every method here is a no-op,
and the data root is the local folder it always was.

How it works (a write-through cache, kept consistent by object generations):

- **Reads.** Before a location of the data root is read (`resolve` with ``must_exist``, `local_copy`, and the
  few readers that build paths themselves), `hydrate` brings its local copy up to date: an object is
  downloaded (md5-verified, atomically) when its generation differs from the one last fetched; a prefix is
  mirrored object by object, and local files that were fetched before but are gone from the bucket are
  removed. Folders of other workspaces (``hidden``) are never fetched.
- **Writes.** Every write of the platform ends in `atomic_file`, `atomic_dir` or the upload store; once
  the local file or folder is in place it is published (`publish_local`): uploaded to a temporary object,
  verified, copied into place; a folder's objects that the new folder no longer has are deleted and its
  ``manifest.json`` goes last. A job reports success only after its outputs are published, so a web server
  or worker on another machine sees them.
- **Local only.** Path parts starting with ``.`` (temporary files, locks, ``.cache/`` with the gs:// mirror,
  staging and embedding caches) never leave the machine.

What two processes share is then only the bucket (and PostgreSQL and the broker). Not covered: a lock
across machines (a knowledge base's build lock is a local file lock; the job system's claim already keeps one
job on one worker) and the models root, which stays local and is filled by model sync from the models
bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from pathlib import Path, PurePosixPath

from ..errors import ServiceError
from .gcs import GCS_TMP_PREFIX, GcsObject, _parallel
from .locations import is_gcs, object_subpath, parse_gcs

# The record of what was fetched or published, per local file: <remote_base>/.cache/remote/<relative path>.json
META_AREA = (".cache", "remote")
# The one dot-folder that is shared through the bucket: hand-over files between a job and its batches.
SHARED_AREA = ".shared"


def bucket_prefix(remote: tuple[str, str] | None) -> str:
    """The key prefix of the data root in its bucket, with a trailing slash ("" at the bucket's root)."""
    return f"{remote[1]}/" if remote and remote[1] else ""


class RemoteRoot:
    """The data root's bucket: hydrate before reading, publish after writing."""

    @property
    def remote(self) -> tuple[str, str] | None:
        """(bucket, key prefix without a trailing slash) of the data root's bucket, or None."""
        if not self.remote_root:
            return None
        bucket, key = parse_gcs(self.remote_root)
        return bucket, key.strip("/")

    def _remote_ref(self, path: Path) -> tuple[str, str, PurePosixPath] | None:
        """(bucket, object key, path relative to the cached root) of a local path, or None when the path is
        not mirrored (no remote root, outside the cached root, a dot-part, another workspace's folder)."""
        remote = self.remote
        if remote is None:
            return None
        base = Path(self.remote_base or self.data_root)
        path = Path(path)
        if not (path == base or path.is_relative_to(base)):
            return None
        rel = PurePosixPath(path.relative_to(base).as_posix())  # "." for the root itself (no parts)
        if any(part.startswith(".") and part != SHARED_AREA for part in rel.parts):
            return None
        if self._hidden(path):
            return None
        bucket, prefix = remote
        key = "/".join((prefix, *rel.parts)).strip("/")
        return bucket, key, rel

    def _meta(self, rel: PurePosixPath) -> Path:
        base = Path(self.remote_base or self.data_root)
        name = f"{rel.name or 'root'}.json"
        if len(os.fsencode(name)) > 200:  # a name near the file system's limit: its hash instead
            name = f"#{hashlib.sha256(os.fsencode(rel.name)).hexdigest()}.json"
        return base.joinpath(*META_AREA, *rel.parts).with_name(name)

    def _fetched(self, rel: PurePosixPath) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(json.loads(self._meta(rel).read_text())["generation"])
        return None

    def _record(self, rel: PurePosixPath, obj: GcsObject) -> None:
        meta = self._meta(rel)
        meta.parent.mkdir(parents=True, exist_ok=True)
        tmp = meta.with_name(f".{uuid.uuid4().hex}.tmp")  # threads and processes share the cache
        tmp.write_text(json.dumps({"generation": obj.generation, "size": obj.size, "md5": obj.md5}))
        os.replace(tmp, meta)

    def _forget(self, rel: PurePosixPath) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._meta(rel).unlink()

    # --- reads ------------------------------------------------------------------------------------------
    def hydrate(self, path: Path, *, names: frozenset[str] | set[str] | None = None) -> Path:
        """Bring the local copy of ``path`` (a file or folder of the data root) up to date with the bucket.

        Returns ``path``. One metadata request for an object; one listing plus a download per changed object
        for a folder. A file deleted from the bucket is removed locally if it was fetched from there; files
        written here and not yet published are left alone. ``names``: fetch only the objects of a folder with
        these file names (e.g. every knowledge base's ``manifest.json``). Raises `ServiceError`: 502 when
        the bucket cannot be reached, 422 for object names that cannot be files."""
        ref = self._remote_ref(path)
        if ref is None:
            return path
        bucket, key, rel = ref
        obj = self.gcs.stat(bucket, key) if key else None
        if obj is not None:
            self._fetch(obj, Path(path), rel)
            return path
        prefix = f"{key}/" if key else ""
        objects = []
        bad = []
        for o in self.gcs.list(bucket, prefix):
            if o.key.startswith(GCS_TMP_PREFIX) or (names is not None and o.key.rsplit("/", 1)[-1] not in names):
                continue
            sub = object_subpath(o.key[len(prefix) :])
            if sub is None:
                bad.append(o.key)
                continue
            local = Path(path).joinpath(*sub.parts)
            if any(p.startswith(".") for p in sub.parts) or self._hidden(local):
                continue
            objects.append((o, local, rel / sub))
        if bad:  # `a//b` or `a/./b` would land elsewhere than it says: refuse rather than guess
            raise ServiceError(
                f"{len(bad)} object(s) in the bucket under this location have names that cannot be files (an "
                f"empty, '.' or '..' part), e.g. {bad[0].removeprefix(bucket_prefix(self.remote))!r}; rename them",
                code="invalid_object_name",
                status=422,
                details={"objects": [b.removeprefix(bucket_prefix(self.remote)) for b in bad[:20]]},
            )
        listed = {p for _, p, _ in objects}
        # what the bucket no longer has goes first, so that a file replaced by a folder of the same name
        # (or the reverse) does not stand in the way of the new content
        if Path(path).is_file() and self._fetched(rel) is not None:
            Path(path).unlink(missing_ok=True)  # deleted from the bucket (or now a folder there)
            self._forget(rel)
        elif Path(path).is_dir() and names is None:
            base = Path(self.remote_base or self.data_root)
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                for name in filenames:
                    local = Path(dirpath) / name
                    sub_rel = PurePosixPath(local.relative_to(base).as_posix())
                    if local not in listed and not name.startswith(".") and self._fetched(sub_rel) is not None:
                        local.unlink(missing_ok=True)
                        self._forget(sub_rel)
        _parallel([lambda o=o, p=p, r=r: self._fetch(o, p, r) for o, p, r in objects], workers=8)
        return path

    def resolve_inputs(self, locations: list[str]) -> list[Path]:
        """`resolve(location, must_exist=True)` for each location, in order. With a data root on a bucket
        each is a metadata request and maybe a download: they run eight at a time instead of one after
        another. The first error in the order given is raised."""
        workers = 8 if self.remote_root else 1
        return _parallel([lambda loc=loc: self.resolve(loc, must_exist=True) for loc in locations], workers=workers)

    def exists(self, location: str) -> bool:
        """Whether a location names something that can be read now: a gs:// object or prefix, a file or folder
        of the data root (with a data root on a bucket: in the bucket, not only in this host's cache).
        Outside the roots and other refusals raise `ServiceError`."""
        if is_gcs(location):
            bucket, key = self._gcs_split(location)
            if key and not key.endswith("/") and self.gcs.stat(bucket, key) is not None:
                return True
            return bool(next(iter(self.gcs.list(bucket, key.rstrip("/") + "/" if key else "")), None))
        path = self.resolve(location)
        if self._remote_ref(path) is not None:
            return self.remote_fingerprint(path) is not None
        return path.exists()

    def remote_fingerprint(self, path: Path) -> str | None:
        """The identity of a file or folder of the data root from the bucket's listing (generations, sizes,
        checksums), without downloading it; None when the bucket has nothing there."""
        ref = self._remote_ref(path)
        if ref is None:
            return None
        bucket, key, _ = ref
        obj = self.gcs.stat(bucket, key) if key else None
        if obj is not None:
            return f"gen={obj.generation};md5={obj.md5 or ''};size={obj.size}"
        h = hashlib.sha256()
        found = False
        for o in self.gcs.list(bucket, f"{key}/" if key else ""):
            found = True
            h.update(f"{o.key}\0{o.generation}\0{o.md5 or o.crc32c}\0{o.size}\n".encode())
        return "tree:" + h.hexdigest() if found else None

    def lookup(self, location: str) -> tuple[Path, bool]:
        """(local path, is a file) of an existing location, without fetching a folder's content (for listings);
        a file is brought up to date. 404 when nothing is there."""
        path = self.resolve(location)
        ref = self._remote_ref(path)
        if ref is not None and ref[1] and self.gcs.stat(ref[0], ref[1]) is not None:
            return self.hydrate(path), True
        if ref is not None and self.children(path):
            return path, False
        path = self.resolve(location, must_exist=True)
        return path, path.is_file()

    def children(self, path: Path) -> list[tuple[str, bool, int]]:
        """(name, is a folder, size in bytes) of each entry directly in a folder, dot entries left out; from the
        bucket's listing when the data root is one (nothing downloaded), else from the local folder."""
        ref = self._remote_ref(path)
        if ref is None:
            out = []
            for child in Path(path).iterdir():
                if child.name.startswith("."):
                    continue
                is_dir = child.is_dir()
                out.append((child.name, is_dir, 0 if is_dir else child.stat().st_size))
            return out
        bucket, key, _ = ref
        prefix = f"{key}/" if key else ""
        found: dict[str, tuple[str, bool, int]] = {}
        for o in self.gcs.list(bucket, prefix):
            if o.key.startswith(GCS_TMP_PREFIX):
                continue
            name, _, rest = o.key[len(prefix) :].partition("/")
            if not name or name.startswith(".") or self._hidden(Path(path) / name):
                continue
            found[name] = (name, True, 0) if rest else found.get(name, (name, False, o.size))
        return list(found.values())

    def _fetch(self, obj: GcsObject, target: Path, rel: PurePosixPath) -> None:
        if target.is_file() and self._fetched(rel) == obj.generation and target.stat().st_size == obj.size:
            return
        if target.is_dir():  # a folder here, an object there: the bucket wins
            import shutil

            shutil.rmtree(target)
        base = Path(self.remote_base or self.data_root)
        if not target.is_relative_to(base):  # the names were checked; this is the last line of defence
            raise ServiceError(f"object {obj.location!r} maps outside the cache", code="invalid_location")
        for parent in target.parents:  # a file here where the bucket has a folder above this object
            if parent == base or not parent.is_relative_to(base):
                break
            if parent.is_file():
                parent.unlink()
                self._forget(PurePosixPath(parent.relative_to(base).as_posix()))
        self._download_object(obj, target, _mirror="remote")
        self._record(rel, obj)

    # --- writes -----------------------------------------------------------------------------------------
    def publish_local(self, path: Path) -> None:
        """Publish a file or folder that was just put in place under the data root to its bucket.

        A folder replaces what the bucket held under its prefix: every file is uploaded (verified), objects
        the folder no longer has are deleted, ``manifest.json`` goes last. No-op without a remote root."""
        ref = self._remote_ref(path)
        if ref is None:
            return
        bucket, key, rel = ref
        path = Path(path)
        if path.is_file():
            self._record(rel, self._upload_object(bucket, key, path, overwrite=True))
            return
        if not path.is_dir():
            return
        files = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            files += [Path(dirpath) / n for n in sorted(filenames) if not n.startswith(".")]
        last = [f for f in files if f.parent == path and f.name == "manifest.json"]
        first = [f for f in files if f not in last]

        def one(f: Path) -> None:
            sub = PurePosixPath(f.relative_to(path).as_posix())
            self._record(rel / sub, self._upload_object(bucket, f"{key}/{sub}", f, overwrite=True))

        wanted = {f"{key}/{PurePosixPath(f.relative_to(path).as_posix())}" for f in files}
        stale = [o for o in self.gcs.list(bucket, f"{key}/") if o.key not in wanted]
        if last:  # the old manifest goes first: a reader never pairs it with new files
            self.gcs.delete(bucket, f"{key}/manifest.json")
        _parallel([lambda f=f: one(f) for f in first], workers=8)
        for f in last:
            one(f)
        for o in stale:
            if o.key != f"{key}/manifest.json":
                self.gcs.delete(bucket, o.key)

    def ensure_published(self, path: Path) -> None:
        """Publish a local file again when the data root's bucket no longer holds it (no-op otherwise)."""
        ref = self._remote_ref(path)
        if ref is not None and self.gcs.stat(ref[0], ref[1]) is None:
            self._forget(ref[2])
            self.publish_local(path)

    def unpublish(self, path: Path) -> None:
        """Delete a file's or folder's objects from the data root's bucket (after deleting it locally)."""
        ref = self._remote_ref(path)
        if ref is None:
            return
        bucket, key, rel = ref
        if self.gcs.stat(bucket, key) is not None:
            self.gcs.delete(bucket, key)
        for o in self.gcs.list(bucket, f"{key}/"):
            self.gcs.delete(bucket, o.key)
        self._forget(rel)
