"""Location strings and file identity: gs:// parsing, safe file names, content hashes.

Pure functions; the only I/O is reading a file to hash it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import ServiceError

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


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()
