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

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from .errors import ServiceError

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredFile:
    location: str
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


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
        if not isinstance(location, str) or not location.strip():
            raise ServiceError("location is empty: give a path under the data root", code="invalid_location")
        if "\x00" in location:
            raise ServiceError("location contains a NUL byte", code="invalid_location")
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
        resolved = candidate.resolve(strict=False)  # follows symlinks
        if not any(resolved == r or resolved.is_relative_to(r) for r in self.roots):
            raise ServiceError(
                f"location {location!r} is outside the data root; paths must stay under {self.data_root}",
                code="path_outside_root",
                status=403,
                details={"location": location},
            )
        if must_exist and not resolved.exists():
            raise ServiceError(f"location {location!r} does not exist", code="not_found", status=404)
        return resolved

    def resolve_model_path(self, location: str, *, must_exist: bool = False) -> Path:
        if self.models_root is None:
            raise ServiceError("no models root is configured", code="not_configured", status=500)
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

    # --- atomic outputs -----------------------------------------------------------
    @contextlib.contextmanager
    def atomic_file(self, target: Path) -> Iterator[Path]:
        """Yield a temporary path beside ``target``; rename it into place on success.

        On any error the temporary file is removed and ``target`` is untouched."""
        target = Path(target)
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
    def check_bucket(self, bucket: str) -> None:
        if bucket not in self.allowed_buckets:
            raise ServiceError(
                f"bucket {bucket!r} is not on the allow list; allowed: {sorted(self.allowed_buckets) or 'none'}"
                " (set GCS_ALLOWED_BUCKETS)",
                code="bucket_not_allowed",
                status=403,
            )

    def gcs_fingerprint(self, location: str) -> str:
        bucket, _ = parse_gcs(location)
        self.check_bucket(bucket)
        raise ServiceError("gs:// locations are not supported by this installation yet", code="not_supported")


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
        _storage = Storage(data_root=key[0], models_root=key[1], allowed_buckets=key[2])
    return _storage
