"""The gs:// mirror: a local, verified copy of objects and prefixes under ``<data root>/.cache/gcs/``.

A mixin of `Storage`."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import ServiceError
from .gcs import GcsObject, _parallel
from .locations import is_gcs, object_subpath


class GcsMirror:
    """Local copies of gs:// inputs for job functions."""

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
        bad = [o.key for o in objects if object_subpath(o.key[len(prefix) :]) is None]
        if bad:  # `prefix//x` joined to a folder is `/x`: refuse rather than guess where it belongs
            raise ServiceError(
                f"{location!r} holds {len(bad)} object(s) whose names cannot be files (an empty, '.' or '..' "
                f"part), e.g. {bad[0]!r}; rename them in the bucket",
                code="invalid_object_name",
                status=422,
                details={"objects": bad[:20]},
            )
        targets = [(o, folder.joinpath(*object_subpath(o.key[len(prefix) :]).parts)) for o in objects]
        wanted = {t for _, t in targets}
        _parallel(
            [lambda o=o, t=t: self._cached_download(o, t, on_bytes=on_bytes) for o, t in targets],
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
