"""What a user-given location may look like, checked before it touches a file system or a bucket.

A location is a path relative to the workspace's root, an absolute path inside
it, or ``gs://bucket/key``. Everything else is refused with a 400 that says
what to send instead, never a 500 and never a folder named after a scheme:

- empty, or holding a NUL or another control character;
- longer than `MAX_LOCATION_CHARS` characters, or with one path component
  longer than `MAX_COMPONENT_BYTES` bytes (the file system limit, which would
  otherwise end as ``OSError: File name too long``);
- any URL scheme other than ``gs://`` (``file://``, ``http://``, ``s3://``,
  ``C:`` drive letters are not schemes but are refused as well).

Kept free of Django: the storage package and job functions call it.
"""

from __future__ import annotations

import re

from .errors import ServiceError

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
