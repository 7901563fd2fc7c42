"""gs:// objects for the platform: the bucket allow list, verified downloads, uploads published with preconditions.

A mixin of `Storage` (which holds ``allowed_buckets`` and the lazily created `GcsClient`)."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ..errors import ServiceError
from .gcs import GCS_TMP_PREFIX, GcsClient, GcsObject, _CountingReader, _HashingWriter
from .locations import md5_file, parse_gcs


class BucketStore:
    """Every gs:// operation, checked against the allow list."""

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
        self._gcs_split(location)
        obj = expected or self.gcs_stat(location)
        return self._download_object(obj, target, on_bytes=on_bytes, _mirror=_mirror)

    def _download_object(
        self, obj: GcsObject, target: Path, *, on_bytes: Callable[[int], None] | None = None, _mirror=False
    ) -> GcsObject:
        """`gcs_download` without the allow-list check (the caller has made it, or the bucket is the data root's)."""
        bucket, key, location = obj.bucket, obj.key, obj.location
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
        return self._upload_object(
            bucket,
            key,
            path,
            overwrite=overwrite,
            if_generation_match=if_generation_match,
            content_type=content_type,
            md5=md5,
            on_bytes=on_bytes,
        )

    def _upload_object(
        self,
        bucket: str,
        key: str,
        path: Path,
        *,
        overwrite: bool = False,
        if_generation_match: int | None = None,
        content_type: str | None = None,
        md5: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
    ) -> GcsObject:
        """`gcs_upload` without the allow-list check (the caller has made it, or the bucket is the data root's)."""
        location = f"gs://{bucket}/{key}"
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
