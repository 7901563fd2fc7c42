"""Location strings and file identity: gs:// parsing, safe file names, content hashes.

Pure functions; the only I/O is reading a file to hash it."""

from __future__ import annotations

import hashlib
import re
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


def object_subpath(rest: str) -> PurePosixPath | None:
    """The relative local path of an object's name below a prefix, or None when the name cannot be one
    (an empty part as in ``a//b``, or ``.``/``..``): such a name would land elsewhere than it says, even
    outside the cache (``prefix//etc/x`` joined to a folder is ``/etc/x``)."""
    parts = rest.split("/")
    if not rest or any(p in ("", ".", "..") or "\x00" in p for p in parts):
        return None
    return PurePosixPath(*parts)


_SAFE_PUNCTUATION = set("._-")
MAX_NAME_BYTES = 200


def safe_filename(name: str) -> str:
    """A file name (no folders) that is safe to create on any file system.

    Letters and digits of any script are kept (NFC-normalised, so ``ü`` is one character however it was
    typed); anything else but ``. _ -`` (spaces, slashes, controls, quotes) becomes ``_``. A name longer than
    200 bytes (UTF-8) is shortened in its stem, so that its extension, which says what the file is, stays."""
    import unicodedata

    base = PurePosixPath(unicodedata.normalize("NFC", name).replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in _SAFE_PUNCTUATION else "_" for c in base).strip("._") or "upload"
    if len(cleaned.encode()) <= MAX_NAME_BYTES:
        return cleaned
    stem, dot, ext = cleaned.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = cleaned, ""
    room = MAX_NAME_BYTES - len(ext.encode()) - (1 if ext else 0)
    stem = stem.encode()[:room].decode(errors="ignore").rstrip("._") or "upload"
    return f"{stem}.{ext}" if ext else stem


def md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# --- the shape of a user-given location -------------------------------------------------------------
# A location is a path relative to the workspace's root, an absolute path inside it, or
# ``gs://bucket/key``. Everything else is refused with a 400 that says what to send instead, never a
# 500 and never a folder named after a scheme: empty; a NUL or another control character; longer than
# MAX_LOCATION_CHARS, or one component longer than MAX_COMPONENT_BYTES (the file system limit, which
# would otherwise end as ``OSError: File name too long``); any URL scheme but ``gs://``.
MAX_LOCATION_CHARS = 1024
MAX_COMPONENT_BYTES = 255
# "scheme:/..." (file:///x, http://h/x, s3://b/k, C:/x) or a well-known scheme without slashes (file:x).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):(?=/|\\)|^(file|https?|ftp|s3|gcs|data|javascript|mailto):", re.I)


def check_location(location: object, *, what: str = "location") -> str:
    """``location`` when it has an acceptable shape, else a 400 ``invalid_location``."""
    if not isinstance(location, str) or not location.strip():
        raise ServiceError(
            f"{what} is empty: give a path in your workspace or gs://bucket/key", code="invalid_location"
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in location):
        raise ServiceError(
            f"{what} contains a NUL or another control character: give a plain path", code="invalid_location"
        )
    shown = location if len(location) <= 80 else location[:60] + "…"
    if len(location) > MAX_LOCATION_CHARS:
        raise ServiceError(
            f"{what} is {len(location)} characters long; the limit is {MAX_LOCATION_CHARS}",
            code="location_too_long",
            details={"length": len(location), "max": MAX_LOCATION_CHARS},
        )
    match = _SCHEME.match(location)
    if match and not location.startswith("gs://"):
        scheme = match.group(1) or match.group(2)
        raise ServiceError(
            f"{what} {shown!r} starts with {scheme + ':'!r}; only paths in your workspace and gs://bucket/key "
            "locations are accepted",
            code="invalid_location",
            details={"scheme": scheme},
        )
    for part in location.replace("\\", "/").split("/"):
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES:
            raise ServiceError(
                f"{what} {shown!r} has a folder or file name longer than {MAX_COMPONENT_BYTES} bytes",
                code="location_too_long",
                details={"max_component_bytes": MAX_COMPONENT_BYTES},
            )
    return location
