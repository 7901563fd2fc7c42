"""The one storage module: every user-given location goes through here.

A location is one of:
  - a path relative to the data root, e.g. ``raw/sales.csv``;
  - an absolute path that lies inside the data root or the models root;
  - ``gs://bucket/key`` for a bucket on the allow list.

Local paths are confined to the configured roots: ``..`` components, absolute
paths elsewhere and symlinks that lead out of a root are refused with a
`ServiceError` that says so. Outputs are written under a temporary name in the
target folder and renamed into place when complete (`atomic_file`,
`atomic_dir`), so a reader never sees a half-written file.

Kept free of Django: job functions receive a `Storage` in their context, and
tests build one on a temporary folder. `get_storage()` builds the configured
one from Django settings.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import quote

from .errors import ServiceError
from .locations import check_location

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    location: str
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_gcs(location: str) -> bool:
    return location.startswith("gs://")


def parse_gcs(location: str) -> tuple[str, str]:
    """``gs://bucket/some/key`` -> ("bucket", "some/key")."""
    if not is_gcs(location):
        raise ServiceError(f"not a gs:// location: {location!r}", code="invalid_location")
    rest = location[len("gs://") :]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ServiceError("a gs:// location needs a bucket name: gs://<bucket>/<path>", code="invalid_location")
    return bucket, key


_SAFE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def safe_filename(name: str) -> str:
    """A file name (no folders) that is safe to create on any file system."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = "".join(c if c in _SAFE_NAME_CHARS else "_" for c in base).strip("._") or "upload"
    return cleaned[:200]


@dataclass
class Storage:
    data_root: Path
    models_root: Path | None = None
    allowed_buckets: tuple[str, ...] = ()
    max_upload_bytes: int | None = None
    # Folders of the data root that are not part of this storage (other workspaces' folders when this
    # is a workspace whose root holds them): refused as locations, never entered by a walk.
    hidden: tuple[str, ...] = ()
    _gcs_client: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root).resolve()
        self.data_root.mkdir(parents=True, exist_ok=True)
        if self.models_root is not None:
            self.models_root = Path(self.models_root).resolve()
            self.models_root.mkdir(parents=True, exist_ok=True)

    # --- local paths -----------------------------------------------------------
    @property
    def roots(self) -> list[Path]:
        return [r for r in (self.data_root, self.models_root) if r is not None]

    def resolve(self, location: str, *, must_exist: bool = False, root: Path | None = None) -> Path:
        """The local path of a location, confined to the configured roots.

        Relative locations are taken relative to ``root`` (the data root by
        default)."""
        check_location(location)
        if is_gcs(location):
            raise ServiceError(
                f"{location!r} is a gs:// location; this operation needs a local path", code="invalid_location"
            )
        raw = Path(location)
        if ".." in raw.parts:
            raise ServiceError(
                f"location {location!r} contains '..': give a path inside the data root",
                code="path_outside_root",
            )
        base = root or self.data_root
        candidate = raw if raw.is_absolute() else base / raw
        try:
            resolved = candidate.resolve(strict=False)  # follows symlinks
            exists = resolved.exists() if must_exist else True
        except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
            raise ServiceError(
                f"location {location!r} cannot be used: {getattr(exc, 'strerror', None) or 'symlink loop'}",
                code="invalid_location",
                details={"location": location},
            ) from None
        if not any(resolved == r or resolved.is_relative_to(r) for r in self.roots) or self._hidden(resolved):
            raise ServiceError(
                f"location {location!r} is outside your workspace; give a path inside it",
                code="path_outside_root",
                status=403,
                details={"location": location},
            )
        if must_exist and not exists:
            raise ServiceError(f"location {location!r} does not exist", code="not_found", status=404)
        return resolved

    @property
    def hidden_dirs(self) -> tuple[Path, ...]:
        return tuple(self.data_root / h for h in self.hidden)

    def _hidden(self, path: Path) -> bool:
        return any(path == h or path.is_relative_to(h) for h in self.hidden_dirs)

    def resolve_model_path(self, location: str, *, must_exist: bool = False) -> Path:
        if self.models_root is None:
            raise ServiceError("no models root is configured", code="not_configured", status=503)
        path = self.resolve(location, must_exist=must_exist, root=self.models_root)
        if not (path == self.models_root or path.is_relative_to(self.models_root)):
            raise ServiceError(f"{location!r} is outside the models root", code="path_outside_root", status=403)
        return path

    def relative(self, path: Path) -> str:
        """The location string of a local path (relative to the data root when inside it)."""
        path = Path(path).resolve()
        if path.is_relative_to(self.data_root):
            return path.relative_to(self.data_root).as_posix()
        return str(path)

    # --- inputs -----------------------------------------------------------------
    def store_upload(self, stream: BinaryIO, filename: str) -> StoredFile:
        """Store an uploaded file under ``uploads/<sha256>/<name>``, by content hash.

        The same content uploaded twice is stored once."""
        tmp_dir = self.data_root / "uploads" / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=tmp_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    if self.max_upload_bytes is not None and size > self.max_upload_bytes:
                        raise ServiceError(
                            f"{filename!r} is larger than the upload limit of {self.max_upload_bytes} bytes; "
                            "put large files under the data root or in a bucket and pass their location",
                            code="too_large",
                            status=413,
                        )
                    out.write(chunk)
            digest = h.hexdigest()
            target = self.data_root / "uploads" / digest / safe_filename(filename)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return StoredFile(location=self.relative(target), sha256=digest, size=size)

    def fingerprint(self, location: str) -> dict:
        """A cheap identity of an input, for job idempotency.

        Files up to 64 MiB are hashed; larger files and folders are identified
        by size and modification time (hashing gigabytes in a request is not
        worth it; the job itself records content hashes of what it read)."""
        if is_gcs(location):
            return {"location": location, "fingerprint": self.gcs_fingerprint(location)}
        path = self.resolve(location, must_exist=True)
        if path.is_file():
            st = path.stat()
            if st.st_size <= 64 * CHUNK:
                return {"location": location, "sha256": sha256_file(path)}
            return {"location": location, "fingerprint": f"size={st.st_size};mtime={st.st_mtime_ns}"}
        h = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                p = Path(dirpath) / name
                with contextlib.suppress(OSError):
                    st = p.stat()
                    h.update(f"{p.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"location": location, "fingerprint": "tree:" + h.hexdigest()}

    # --- reserved areas -------------------------------------------------------------
    # Folders of the data root that the platform writes itself: uploads by content hash (an output there
    # could replace another user's upload) and caches (an output there could poison the gs:// mirror).
    RESERVED = ("uploads", ".cache")

    def check_writable(self, path: Path, *, areas: tuple[str, ...] = RESERVED) -> Path:
        """``path`` unless it lies in a reserved area of the data root (403 ``reserved_location``)."""
        for area in areas:
            root = self.data_root / area
            if path == root or path.is_relative_to(root):
                raise ServiceError(
                    f"{area}/ in the data root is written by the platform itself (uploaded files by content "
                    "hash, caches); choose an output location outside it",
                    code="reserved_location",
                    status=403,
                    details={"reserved": area},
                )
        return path

    def resolve_output(self, location: str) -> Path:
        """The local path of a user-chosen output location: confined to the roots, outside reserved areas."""
        return self.check_writable(self.resolve(location))

    # --- atomic outputs -----------------------------------------------------------
    # The backstop for every writer: nothing but the upload store writes under uploads/, and nothing but the
    # gs:// mirror under .cache/gcs/ (other .cache/ folders hold the jobs' own staging).
    _GUARDED = ("uploads", ".cache/gcs")

    @contextlib.contextmanager
    def atomic_file(self, target: Path, *, _mirror: bool = False) -> Iterator[Path]:
        """Yield a temporary path beside ``target``; rename it into place on success.

        On any error the temporary file is removed and ``target`` is untouched."""
        target = Path(target)
        self.check_writable(target.resolve(), areas=("uploads",) if _mirror else self._GUARDED)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            yield tmp
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @contextlib.contextmanager
    def atomic_dir(self, target: Path) -> Iterator[Path]:
        """Yield a temporary folder beside ``target``; swap it into place on success.

        Write the manifest last inside it: a folder without a manifest was
        never completed."""
        target = Path(target)
        self.check_writable(target.resolve(), areas=self._GUARDED)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.mkdir()
        try:
            yield tmp
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    # --- gs:// ----------------------------------------------------------------------
    # Every gs:// operation checks the bucket against the allow list first and
    # goes through `self.gcs` (a `GcsClient`, the one wrapper around
    # google-cloud-storage). Objects are published by uploading to a temporary
    # object and copying it to its final name with a generation precondition, so
    # a reader never sees a half-written object and nothing is overwritten
    # silently.

    def check_bucket(self, bucket: str) -> None:
        if bucket not in self.allowed_buckets:
            raise ServiceError(
                f"bucket {bucket!r} is not on the allow list; allowed: {sorted(self.allowed_buckets) or 'none'}"
                " (set GCS_ALLOWED_BUCKETS)",
                code="bucket_not_allowed",
                status=403,
            )

    @property
    def gcs(self) -> GcsClient:
        """The GCS client wrapper, created on first use."""
        if self._gcs_client is None:
            self._gcs_client = GcsClient()
        return self._gcs_client  # type: ignore[return-value]

    def _gcs_split(self, location: str) -> tuple[str, str]:
        bucket, key = parse_gcs(location)
        self.check_bucket(bucket)
        return bucket, key

    def gcs_stat(self, location: str) -> GcsObject:
        """Size, md5, crc32c and generation of one object; 404 when it does not exist."""
        bucket, key = self._gcs_split(location)
        if not key or key.endswith("/"):
            raise ServiceError(f"{location!r} names a folder, not an object", code="invalid_location")
        obj = self.gcs.stat(bucket, key)
        if obj is None:
            raise ServiceError(f"object {location!r} does not exist", code="not_found", status=404)
        return obj

    def gcs_exists(self, location: str) -> bool:
        bucket, key = self._gcs_split(location)
        return bool(key) and self.gcs.stat(bucket, key) is not None

    def gcs_list(self, location: str) -> list[GcsObject]:
        """Every object under a gs:// prefix (recursively), sorted by key.

        ``gs://b/models`` lists ``models/...`` (the prefix is taken as a folder);
        temporary objects of unfinished uploads are left out."""
        bucket, key = self._gcs_split(location)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        return sorted(
            (o for o in self.gcs.list(bucket, prefix) if not o.key.startswith(GCS_TMP_PREFIX)), key=lambda o: o.key
        )

    def gcs_fingerprint(self, location: str) -> str:
        """Identity of an object (generation and md5) or of everything under a prefix."""
        bucket, key = self._gcs_split(location)
        obj = self.gcs.stat(bucket, key) if key and not key.endswith("/") else None
        if obj is not None:
            return f"gen={obj.generation};md5={obj.md5 or ''};crc32c={obj.crc32c or ''};size={obj.size}"
        objects = self.gcs_list(location)
        if not objects:
            raise ServiceError(f"nothing exists at {location!r}", code="not_found", status=404)
        h = hashlib.sha256()
        for o in objects:
            h.update(f"{o.key}\0{o.generation}\0{o.md5 or o.crc32c}\0{o.size}\n".encode())
        return "tree:" + h.hexdigest()

    def gcs_download(
        self,
        location: str,
        target: Path,
        *,
        expected: GcsObject | None = None,
        on_bytes: Callable[[int], None] | None = None,
        _mirror: bool = False,
    ) -> GcsObject:
        """Download one object to a local file, verified, atomically.

        The bytes go to a temporary file beside ``target`` and are checked
        against the object's md5 (or crc32c for composite objects, which have no
        md5); only then is the file renamed to ``target``. On any failure the
        target is untouched. ``expected`` pins the generation and checksums (from
        a listing) so that what is verified is exactly what was listed."""
        bucket, key = self._gcs_split(location)
        obj = expected or self.gcs_stat(location)
        with self.atomic_file(Path(target), _mirror=_mirror) as tmp:
            with open(tmp, "wb") as raw:
                sink = _HashingWriter(raw, md5=bool(obj.md5), crc=not obj.md5, on_bytes=on_bytes)
                self.gcs.download(bucket, key, sink, generation=obj.generation)
            if sink.size != obj.size:
                raise ServiceError(
                    f"download of {location!r} was cut off: got {sink.size} of {obj.size} bytes",
                    code="incomplete_download",
                    status=502,
                )
            if obj.md5 and sink.md5_hex() != obj.md5:
                raise ServiceError(
                    f"checksum mismatch for {location!r}: md5 {sink.md5_hex()} != {obj.md5}; nothing was written",
                    code="checksum_mismatch",
                    status=502,
                    details={"location": location, "expected_md5": obj.md5, "actual_md5": sink.md5_hex()},
                )
            if not obj.md5 and obj.crc32c and sink.crc32c_hex() != obj.crc32c:
                raise ServiceError(
                    f"checksum mismatch for {location!r}: crc32c {sink.crc32c_hex()} != {obj.crc32c}",
                    code="checksum_mismatch",
                    status=502,
                )
        return obj

    def gcs_upload(
        self,
        path: Path,
        location: str,
        *,
        overwrite: bool = False,
        if_generation_match: int | None = None,
        content_type: str | None = None,
        md5: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> GcsObject:
        """Publish one local file as ``location``: upload, verify, then copy into place.

        The file is uploaded to a temporary object, its md5 compared with the
        one the server computed, and then copied to the final name with a
        generation precondition: ``if_generation_match`` when given (0: the
        object must not exist), else 0 unless ``overwrite`` (then the generation
        seen just before the copy). The same check is also made here before the
        copy, because not every GCS implementation enforces preconditions (the
        emulator used in tests does not). A conflict raises a 409."""
        bucket, key = self._gcs_split(location)
        if not key or key.endswith("/"):
            raise ServiceError(f"{location!r} names a folder; give an object name", code="invalid_location")
        path = Path(path)
        size = path.stat().st_size
        tmp_key = f"{GCS_TMP_PREFIX}{uuid.uuid4().hex}/{PurePosixPath(key).name}"
        local_md5 = md5 or md5_file(path)
        try:
            with open(path, "rb") as raw:
                uploaded = self.gcs.upload(
                    bucket, tmp_key, _CountingReader(raw, on_bytes=on_bytes), size=size, content_type=content_type
                )
            if uploaded.size != size or (uploaded.md5 and uploaded.md5 != local_md5):
                raise ServiceError(
                    f"upload of {path.name} to {location!r} was corrupted in transit (md5 {uploaded.md5} != "
                    f"{local_md5}); nothing was published",
                    code="checksum_mismatch",
                    status=502,
                )
            current = self.gcs.stat(bucket, key)
            if if_generation_match is None:
                if overwrite:
                    if_generation_match = current.generation if current else 0
                else:
                    if_generation_match = 0
            current_gen = current.generation if current else 0
            if current_gen != if_generation_match:
                raise ServiceError(
                    f"{location!r} already exists" + (" (pass overwrite to replace it)" if not overwrite else "")
                    if if_generation_match == 0
                    else f"{location!r} changed since it was read (generation {current_gen}, expected "
                    f"{if_generation_match}); nothing was overwritten",
                    code="conflict",
                    status=409,
                    details={"location": location, "generation": current_gen},
                )
            return self.gcs.copy(bucket, tmp_key, bucket, key, if_generation_match=if_generation_match)
        finally:
            with contextlib.suppress(Exception):
                self.gcs.delete(bucket, tmp_key)

    def gcs_delete(self, location: str, *, if_generation_match: int | None = None) -> None:
        bucket, key = self._gcs_split(location)
        self.gcs.delete(bucket, key, if_generation_match=if_generation_match, missing_ok=False)

    def read_bytes(self, location: str, *, max_bytes: int = 256 * CHUNK) -> bytes:
        """The whole content of a small local or gs:// file."""
        if is_gcs(location):
            obj = self.gcs_stat(location)
            if obj.size > max_bytes:
                raise ServiceError(f"{location!r} is larger than {max_bytes} bytes", code="too_large", status=413)
            return self.local_copy(location).read_bytes()
        path = self.resolve(location, must_exist=True)
        return path.read_bytes()

    def write_bytes(self, location: str, data: bytes, *, overwrite: bool = True) -> str:
        """Write a small local or gs:// file atomically; returns the location."""
        if is_gcs(location):
            tmp_dir = self.data_root / ".cache" / "tmp"
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=tmp_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                self.gcs_upload(Path(tmp), location, overwrite=overwrite)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            return location
        target = self.resolve(location)
        with self.atomic_file(target) as tmp_path:
            tmp_path.write_bytes(data)
        return location

    # --- gs:// for job functions ------------------------------------------------------
    def local_copy(self, location: str, *, on_bytes: Callable[[int], None] | None = None, workers: int = 8) -> Path:
        """A local path holding the content of ``location``.

        Local locations resolve in place. A gs:// object is downloaded (verified)
        into a cache under ``<data root>/.cache/gcs/<bucket>/<key>`` and reused
        while its generation is unchanged; a gs:// prefix becomes a cached
        folder mirroring every object under it. Job functions call this on each
        input and then read a plain file or folder."""
        if not is_gcs(location):
            return self.resolve(location, must_exist=True)
        bucket, key = self._gcs_split(location)
        obj = self.gcs.stat(bucket, key) if key and not key.endswith("/") else None
        if obj is not None:
            target = self._cache_path(bucket, key)
            self._cached_download(obj, target, on_bytes=on_bytes)
            return target
        # Keys ending in "/" are folder placeholders (the Cloud Console makes them): no content to mirror.
        objects = [o for o in self.gcs_list(location) if not o.key.endswith("/")]
        if not objects:
            raise ServiceError(f"nothing exists at {location!r}", code="not_found", status=404)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        folder = self._cache_path(bucket, prefix.rstrip("/")) if prefix else self._cache_path(bucket, "")
        wanted = {folder / o.key[len(prefix) :] for o in objects}
        _parallel(
            [lambda o=o: self._cached_download(o, folder / o.key[len(prefix) :], on_bytes=on_bytes) for o in objects],
            workers=workers,
        )
        for dirpath, _, filenames in os.walk(folder):  # mirror: drop what the bucket no longer has
            for name in filenames:
                p = Path(dirpath) / name
                if p not in wanted and not name.startswith("."):
                    p.unlink()
        return folder

    def _cache_path(self, bucket: str, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if any(p in ("..", ".") for p in parts):
            raise ServiceError(f"object name {key!r} cannot be mirrored locally", code="invalid_location")
        return self.data_root.joinpath(".cache", "gcs", bucket, *parts)

    def _cached_download(self, obj: GcsObject, target: Path, *, on_bytes: Callable[[int], None] | None) -> None:
        meta = target.with_name(f".{target.name}.gcs.json")
        if target.is_file() and meta.is_file():
            with contextlib.suppress(ValueError, OSError):
                seen = json.loads(meta.read_text())
                if seen.get("generation") == obj.generation and target.stat().st_size == obj.size:
                    return
        self.gcs_download(obj.location, target, expected=obj, on_bytes=on_bytes, _mirror=True)
        meta.write_text(json.dumps({"generation": obj.generation, "md5": obj.md5, "size": obj.size}))

    def publish(
        self,
        source: Path | str,
        location: str,
        *,
        overwrite: bool = False,
        on_bytes: Callable[[int], None] | None = None,
        workers: int = 8,
    ) -> list[str]:
        """Copy a local file or folder to a local or gs:// location; returns the written locations.

        A folder is published file by file under the location as a prefix
        (gs://) or swapped into place as a whole (local). Without ``overwrite``
        an existing target is a 409."""
        src = Path(source)
        if not src.exists():
            raise ServiceError(f"{source} does not exist", code="not_found", status=404)
        if not is_gcs(location):
            target = self.resolve(location)
            if target.exists() and not overwrite:
                raise ServiceError(f"{location!r} already exists", code="conflict", status=409)
            if src.is_dir():
                with self.atomic_dir(target) as tmp:
                    shutil.copytree(src, tmp, dirs_exist_ok=True)
            else:
                with self.atomic_file(target) as tmp:
                    shutil.copyfile(src, tmp)
            return [location]
        self._gcs_split(location)
        if src.is_file():
            dest = location + src.name if location.endswith("/") else location
            self.gcs_upload(src, dest, overwrite=overwrite, on_bytes=on_bytes)
            return [dest]
        base = location.rstrip("/")
        files = sorted(p for p in src.rglob("*") if p.is_file())
        dests = [f"{base}/{p.relative_to(src).as_posix()}" for p in files]
        _parallel(
            [
                lambda p=p, d=d: self.gcs_upload(p, d, overwrite=overwrite, on_bytes=on_bytes)
                for p, d in zip(files, dests, strict=True)
            ],
            workers=workers,
        )
        return dests

    @contextlib.contextmanager
    def output(self, location: str, *, folder: bool = False, overwrite: bool = True) -> Iterator[Path]:
        """Write an output to a local or gs:// location through a local temporary path.

        ``with storage.output("gs://b/out/x.parquet") as tmp: write(tmp)``:
        locally the temporary path is renamed into place; for gs:// it is
        published (verified, with preconditions) and then removed. Nothing
        appears at the location if the block fails."""
        if not is_gcs(location):
            target = self.resolve(location)
            if target.exists() and not overwrite:
                raise ServiceError(f"{location!r} already exists", code="conflict", status=409)
            with self.atomic_dir(target) if folder else self.atomic_file(target) as tmp:
                yield tmp
            return
        self._gcs_split(location)
        staging = self.data_root / ".cache" / "staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        tmp = staging / (PurePosixPath(location.rstrip("/")).name or "output")
        if folder:
            tmp.mkdir()
        try:
            yield tmp
            self.publish(tmp, location, overwrite=overwrite)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


GCS_TMP_PREFIX = ".services-tmp/"


def _b64_to_hex(value: str | None) -> str | None:
    return base64.b64decode(value).hex() if value else None


@dataclass(frozen=True)
class GcsObject:
    """What GCS says about one object (md5 and crc32c as hex)."""

    bucket: str
    key: str
    size: int
    generation: int
    md5: str | None
    crc32c: str | None
    updated: str | None = None
    content_type: str | None = None

    @property
    def location(self) -> str:
        return f"gs://{self.bucket}/{self.key}"

    def as_dict(self) -> dict:
        return {
            "location": self.location,
            "size": self.size,
            "generation": self.generation,
            "md5": self.md5,
            "crc32c": self.crc32c,
            "updated": self.updated,
        }


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through."""

    def __init__(self, raw: BinaryIO, *, md5: bool, crc: bool, on_bytes: Callable[[int], None] | None) -> None:
        import google_crc32c

        self.raw, self.size, self.on_bytes = raw, 0, on_bytes
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self._crc = google_crc32c.Checksum() if crc else None

    def write(self, data: bytes) -> int:
        self.raw.write(data)
        if self._md5 is not None:
            self._md5.update(data)
        if self._crc is not None:
            self._crc.update(data)
        self.size += len(data)
        if self.on_bytes:
            self.on_bytes(len(data))
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    def md5_hex(self) -> str:
        return self._md5.hexdigest() if self._md5 else ""

    def crc32c_hex(self) -> str:
        return self._crc.digest().hex() if self._crc else ""


class _CountingReader:
    """A read-only file object that reports how many bytes were read from it."""

    def __init__(self, raw: BinaryIO, *, on_bytes: Callable[[int], None] | None) -> None:
        self.raw, self.on_bytes = raw, on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if self.on_bytes and data:
            self.on_bytes(len(data))
        return data

    def tell(self) -> int:
        return self.raw.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def seekable(self) -> bool:
        return True


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _parallel(tasks: list[Callable[[], object]], *, workers: int) -> list[object]:
    """Run small callables on a thread pool; the first error is raised after the rest are cancelled."""
    if len(tasks) <= 1 or workers <= 1:
        return [t() for t in tasks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(t) for t in tasks]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _requests_errors() -> tuple[type[BaseException], ...]:
    from requests.exceptions import RequestException

    return (RequestException,)


GCS_SCOPES = ("https://www.googleapis.com/auth/devstorage.full_control",)
GCS_LIST_FIELDS = "items(name,size,md5Hash,crc32c,generation,updated,contentType),nextPageToken"


def _raise_for_json_api(resp, what: str) -> None:
    """The same `ServiceError`s as `GcsClient._errors`, from a JSON API response."""
    try:
        detail = resp.json().get("error", {}).get("message") or resp.text
    except ValueError:
        detail = resp.text
    detail = str(detail)[:500]
    if resp.status_code == 404:
        raise ServiceError(f"{what}: not found", code="not_found", status=404)
    if resp.status_code in (401, 403):
        raise ServiceError(
            f"{what}: access denied by Google Cloud Storage; check the credentials' permissions on the bucket",
            code="gcs_forbidden",
            status=403,
            details=detail,
        )
    raise ServiceError(
        f"{what}: Google Cloud Storage error (HTTP {resp.status_code})", code="gcs_error", status=502, details=detail
    )


class GcsClient:
    """The one wrapper around google-cloud-storage.

    The client is created lazily, one per thread (parallel transfers share
    nothing). Credentials come from the usual Google sources
    (``GOOGLE_APPLICATION_CREDENTIALS``, application default credentials, the
    metadata server); with ``STORAGE_EMULATOR_HOST`` set it talks to that
    emulator anonymously. Errors of the Google API become `ServiceError`s."""

    def __init__(self, *, project: str | None = None) -> None:
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._creds: tuple[object, str | None] | None = None

    @staticmethod
    def emulator_host() -> str | None:
        """``STORAGE_EMULATOR_HOST`` with a scheme (the client library accepts it without one too)."""
        host = os.environ.get("STORAGE_EMULATOR_HOST", "").strip().rstrip("/")
        if not host:
            return None
        return host if "://" in host else f"http://{host}"

    def _credentials(self) -> tuple[object, str | None]:
        """Application default credentials and their project, resolved once and shared by every thread.

        (Resolving them can mean reading a key file or asking the metadata server; doing it once per
        process instead of once per thread's client.)"""
        with self._lock:
            if self._creds is None:
                import google.auth
                import google.auth.exceptions

                try:
                    creds, project = google.auth.default(scopes=GCS_SCOPES)
                except google.auth.exceptions.DefaultCredentialsError as exc:
                    raise ServiceError(
                        "no Google credentials found: set GOOGLE_APPLICATION_CREDENTIALS to a service account key "
                        "file or run `gcloud auth application-default login`",
                        code="gcs_credentials",
                        status=503,
                        details=str(exc),
                    ) from None
                self._creds = (creds, project)
            return self._creds

    def client(self):  # -> google.cloud.storage.Client
        client = getattr(self._local, "client", None)
        if client is None:
            try:
                from google.cloud import storage as gcs
            except ImportError:  # pragma: no cover - google-cloud-storage is a base requirement
                raise ServiceError(
                    "gs:// needs google-cloud-storage: pip install -r requirements/base.txt",
                    code="not_configured",
                    status=503,
                ) from None
            if self.emulator_host():
                from google.auth.credentials import AnonymousCredentials

                client = gcs.Client(project=self.project or "local-emulator", credentials=AnonymousCredentials())
            else:
                creds, project = self._credentials()
                client = gcs.Client(project=self.project or project, credentials=creds)
            self._local.client = client
        return client

    def _json_api(self):  # -> (requests.Session, base url)
        """A plain HTTP session on the JSON API (authorized unless talking to the emulator), one per thread.

        Used for listing only: see `list`."""
        cached = getattr(self._local, "json_api", None)
        if cached is None:
            import requests
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            base = self.emulator_host()
            if base:
                session = requests.Session()
            else:
                from google.auth.transport.requests import AuthorizedSession

                session = AuthorizedSession(self._credentials()[0])
                base = os.environ.get("API_ENDPOINT_OVERRIDE", "").rstrip("/") or "https://storage.googleapis.com"
            # listing is a GET: retried on the transient answers Google documents (429, 5xx) and on resets
            retry = Retry(
                total=5,
                connect=2,  # a refused connection is rarely transient: fail in about 2 s
                backoff_factor=0.5,
                status_forcelist=(408, 429, 500, 502, 503, 504),
                allowed_methods=frozenset({"GET"}),
                raise_on_status=False,
            )
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            cached = self._local.json_api = (session, base)
        return cached

    @staticmethod
    def _object(blob) -> GcsObject:
        return GcsObject(
            bucket=blob.bucket.name,
            key=blob.name,
            size=int(blob.size or 0),
            generation=int(blob.generation or 0),
            md5=_b64_to_hex(blob.md5_hash),
            crc32c=_b64_to_hex(blob.crc32c),
            updated=blob.updated.isoformat() if blob.updated else None,
            content_type=blob.content_type,
        )

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        from google.api_core import exceptions as gexc

        try:
            yield
        except gexc.NotFound:
            raise ServiceError(f"{what}: not found", code="not_found", status=404) from None
        except gexc.PreconditionFailed:
            raise ServiceError(
                f"{what}: the object changed or already exists (generation precondition failed); nothing was "
                "overwritten",
                code="conflict",
                status=409,
            ) from None
        except (gexc.Forbidden, gexc.Unauthorized) as exc:
            raise ServiceError(
                f"{what}: access denied by Google Cloud Storage; check the credentials' permissions on the bucket",
                code="gcs_forbidden",
                status=403,
                details=str(exc)[:500],
            ) from None
        except gexc.GoogleAPICallError as exc:
            raise ServiceError(
                f"{what}: Google Cloud Storage error", code="gcs_error", status=502, details=str(exc)[:500]
            ) from None
        except _requests_errors() as exc:
            raise ServiceError(
                f"{what}: could not reach Google Cloud Storage",
                code="gcs_unreachable",
                status=502,
                details=str(exc)[:500],
            ) from None

    def stat(self, bucket: str, key: str) -> GcsObject | None:
        with self._errors(f"gs://{bucket}/{key}"):
            try:
                blob = self.client().bucket(bucket).get_blob(key)
            except Exception as exc:  # a missing bucket is a 404 like a missing object
                from google.api_core import exceptions as gexc

                if isinstance(exc, gexc.NotFound):
                    return None
                raise
        return self._object(blob) if blob is not None else None

    def list(self, bucket: str, prefix: str) -> Iterator[GcsObject]:
        """Every object under ``prefix`` (recursively), folder placeholders left out.

        Written against the JSON API on purpose instead of ``client.list_blobs``: the listing is the whole
        cost of a sync where nothing changed, and importing google-cloud-storage (about 0.25 s) plus
        parsing two timestamps per object took more than the request itself. This asks for only the
        fields used here, 1,000 objects a page, over a plain (authorized) requests session."""
        import requests

        what = f"gs://{bucket}/{prefix}"
        session, base = self._json_api()
        url = f"{base}/storage/v1/b/{quote(bucket, safe='')}/o"
        params = {"maxResults": "1000", "projection": "noAcl", "fields": GCS_LIST_FIELDS}
        if prefix:
            params["prefix"] = prefix
        while True:
            try:
                resp = session.get(url, params=params, timeout=(10, 120))
            except requests.RequestException as exc:
                raise ServiceError(
                    f"{what}: could not reach Google Cloud Storage",
                    code="gcs_unreachable",
                    status=502,
                    details=str(exc)[:500],
                ) from None
            except Exception as exc:  # google.auth refresh errors (expired or revoked credentials)
                if type(exc).__module__.startswith("google.auth"):
                    raise ServiceError(
                        f"{what}: the Google credentials could not be used: {exc}",
                        code="gcs_credentials",
                        status=503,
                    ) from None
                raise
            if resp.status_code != 200:
                _raise_for_json_api(resp, what)
            data = resp.json()
            for item in data.get("items") or ():
                name = item["name"]
                if name.endswith("/"):  # folder placeholders
                    continue
                yield GcsObject(
                    bucket=bucket,
                    key=name,
                    size=int(item.get("size") or 0),
                    generation=int(item.get("generation") or 0),
                    md5=_b64_to_hex(item.get("md5Hash")),
                    crc32c=_b64_to_hex(item.get("crc32c")),
                    updated=item.get("updated"),
                    content_type=item.get("contentType"),
                )
            token = data.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def download(self, bucket: str, key: str, sink, *, generation: int | None = None) -> None:
        with self._errors(f"gs://{bucket}/{key}"):
            blob = self.client().bucket(bucket).blob(key, generation=generation or None)
            blob.download_to_file(sink, checksum=None)  # verified by the caller (it knows what it expects)

    def upload(self, bucket: str, key: str, source, *, size: int, content_type: str | None = None) -> GcsObject:
        with self._errors(f"gs://{bucket}/{key}"):
            blob = self.client().bucket(bucket).blob(key)
            blob.upload_from_file(source, size=size, content_type=content_type, if_generation_match=0, checksum=None)
            return self._object(blob)

    def copy(self, bucket: str, key: str, dest_bucket: str, dest_key: str, *, if_generation_match: int) -> GcsObject:
        with self._errors(f"gs://{dest_bucket}/{dest_key}"):
            client = self.client()
            src = client.bucket(bucket).blob(key)
            dest = client.bucket(dest_bucket).blob(dest_key)
            token = None
            while True:  # rewrite works in steps for large objects
                token, _, _ = dest.rewrite(src, token=token, if_generation_match=if_generation_match)
                if token is None:
                    break
            return self._object(dest)

    def delete(self, bucket: str, key: str, *, if_generation_match: int | None = None, missing_ok: bool = True) -> None:
        from google.api_core import exceptions as gexc

        with self._errors(f"gs://{bucket}/{key}"):
            try:
                self.client().bucket(bucket).blob(key).delete(if_generation_match=if_generation_match)
            except gexc.NotFound:
                if not missing_ok:
                    raise


_storage: Storage | None = None


def get_storage() -> Storage:
    """The storage configured by Django settings (built once per process)."""
    global _storage
    from django.conf import settings  # local import: this module stays usable without Django

    key = (settings.DATA_ROOT, settings.MODELS_ROOT, tuple(settings.GCS_ALLOWED_BUCKETS))
    if _storage is None or (_storage.data_root, _storage.models_root, _storage.allowed_buckets) != (
        Path(key[0]).resolve(),
        Path(key[1]).resolve(),
        key[2],
    ):
        _storage = Storage(
            data_root=key[0], models_root=key[1], allowed_buckets=key[2], max_upload_bytes=settings.MAX_UPLOAD_BYTES
        )
    return _storage
