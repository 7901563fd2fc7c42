"""Job inputs and output folders that may be local paths or gs:// locations.

Shared by every capability that writes a folder of results (transforms, language models, checks). Reading goes through
``storage.local_copy`` (a gs:// object or prefix becomes a verified, cached
local copy under the data root); writing goes through a local temporary
folder that is swapped into place (local) or published object by object
(gs://) with ``manifest.json`` last, so a manifest never describes files that
are not there yet.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ServiceError
from .locations import is_gcs, parse_gcs

if TYPE_CHECKING:
    from . import Storage

# gs:// sources up to this size are copied when a request arrives so its columns can be checked at once (the
# job reuses the cached copy); larger ones are checked when the job starts and the job fails with the same error.
SUBMIT_COPY_LIMIT = 64 * 1024 * 1024
MANIFEST = "manifest.json"


def gcs_size(storage: Storage, location: str) -> int:
    """Bytes at a gs:// object or under a prefix; 403 for a bucket not allowed, 404 when nothing is there."""
    bucket, key = parse_gcs(location)
    storage.check_bucket(bucket)
    if key and not key.endswith("/") and storage.gcs_exists(location):
        return storage.gcs_stat(location).size
    objects = storage.gcs_list(location)
    if not objects:
        raise ServiceError(f"nothing exists at {location!r}", code="not_found", status=404)
    return sum(o.size for o in objects)


def source_for_validation(storage: Storage, location: str) -> Path | None:
    """A local path to check a request's columns against, or None when the check is left to the job.

    Local sources resolve in place (403 outside the data root, 404 when missing); small gs:// sources are copied
    (and cached for the job); large gs:// sources are only checked for existence here."""
    if not is_gcs(location):
        return storage.resolve(location, must_exist=True)
    if gcs_size(storage, location) > SUBMIT_COPY_LIMIT:
        return None
    return storage.local_copy(location)


def check_output(storage: Storage, location: str | None) -> None:
    """An output location is under the data root or in an allowed bucket."""
    if not location:
        return
    if is_gcs(location):
        bucket, key = parse_gcs(location)
        storage.check_bucket(bucket)
        if not key.strip("/"):
            raise ServiceError(
                f"{location!r} is a whole bucket: give a folder inside it, e.g. gs://{bucket}/datasets/name",
                code="invalid_location",
            )
        return
    storage.resolve_output(location)


def location_of(storage: Storage, location: str) -> str:
    """The location string a result reports: gs:// as given, local paths relative to the data root."""
    if is_gcs(location):
        return location.rstrip("/")
    return storage.relative(storage.resolve(location))


def _previous_files(storage: Storage, manifest: str) -> set[str]:
    try:
        previous = json.loads(storage.read_bytes(manifest))
    except ServiceError as exc:
        if exc.status == 404:
            return set()
        raise
    except ValueError:
        return set()
    return {f["name"] for f in previous.get("files", []) if isinstance(f, dict) and isinstance(f.get("name"), str)}


@contextlib.contextmanager
def output_folder(storage: Storage, location: str) -> Iterator[Path]:
    """Yield an empty local folder; on success its content appears at ``location``.

    Local: the folder is swapped into place as a whole (the old one, if any, goes). gs://: the previous
    ``manifest.json`` is deleted first, every other file is published (verified), the new manifest is published
    last, and files that only the previous manifest listed are deleted. Nothing is published if the block fails.
    """
    if not is_gcs(location):
        with storage.atomic_dir(storage.resolve(location)) as tmp:
            yield tmp
        return
    check_output(storage, location)
    base = location.rstrip("/")
    staging_root = storage.data_root / ".cache" / "staging"
    staging_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=staging_root))
    try:
        folder = staging / "out"
        folder.mkdir()
        yield folder
        manifest_uri = f"{base}/{MANIFEST}"
        previous = _previous_files(storage, manifest_uri)
        if previous or storage.gcs_exists(manifest_uri):
            storage.gcs_delete(manifest_uri)
        manifest = folder / MANIFEST
        held = staging / MANIFEST
        if manifest.exists():
            manifest.rename(held)
        storage.publish(folder, base, overwrite=True)
        if held.exists():
            storage.publish(held, manifest_uri, overwrite=True)
        written = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} | {MANIFEST}
        for name in sorted(previous - written):
            with contextlib.suppress(ServiceError):
                storage.gcs_delete(f"{base}/{name}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
