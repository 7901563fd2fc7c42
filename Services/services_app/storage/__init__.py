"""The storage package: every user-given location goes through here.

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

Public face (import from ``services_app.storage``): `Storage` and `get_storage`;
location helpers (`is_gcs`, `parse_gcs`, `safe_filename`, `sha256_file`,
`md5_file`, `StoredFile`, `CHUNK`); the GCS wrapper (`GcsClient`, `GcsObject`,
`GCS_TMP_PREFIX`, `GCS_LIST_FIELDS`); job inputs and output folders (`source_for_validation`,
`check_output`, `location_of`, `gcs_size`); `Storage.output` is the one way results are
written. Inside: `locations` (pure helpers),
`local` (confinement, uploads, atomic writes), `gcs` (the client), `buckets`
(gs:// with the allow list), `cache` (the gs:// mirror), `outputs` (where every
capability writes), `folders` (job inputs checked at submit time, result folders with a manifest last),
`remote` (a data root on a bucket: ``SERVICES_DATA_ROOT=gs://bucket/prefix``, local disk a cache).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .buckets import BucketStore
from .cache import GcsMirror
from .folders import (
    MANIFEST,
    SUBMIT_COPY_LIMIT,
    check_output,
    gcs_size,
    location_of,
    source_for_validation,
)
from .gcs import GCS_LIST_FIELDS, GCS_TMP_PREFIX, GcsClient, GcsObject
from .local import LocalStore
from .locations import (
    CHUNK,
    StoredFile,
    check_location,
    is_gcs,
    md5_file,
    parse_gcs,
    safe_filename,
    sha256_file,
)
from .outputs import Outputs
from .remote import RemoteRoot

__all__ = [
    "MANIFEST",
    "SUBMIT_COPY_LIMIT",
    "check_output",
    "gcs_size",
    "location_of",
    "source_for_validation",
    "CHUNK",
    "GCS_LIST_FIELDS",
    "GCS_TMP_PREFIX",
    "GcsClient",
    "GcsObject",
    "Storage",
    "StoredFile",
    "check_location",
    "get_storage",
    "is_gcs",
    "md5_file",
    "parse_gcs",
    "safe_filename",
    "sha256_file",
]


@dataclass
class Storage(LocalStore, BucketStore, GcsMirror, Outputs, RemoteRoot):
    """Locations confined to the roots and the bucket allow list; see the package docstring."""

    data_root: Path
    models_root: Path | None = None
    allowed_buckets: tuple[str, ...] = ()
    max_upload_bytes: int | None = None
    # Folders of the data root that are not part of this storage (other workspaces' folders when this
    # is a workspace whose root holds them): refused as locations, never entered by a walk.
    hidden: tuple[str, ...] = ()
    # A data root on a bucket (``gs://bucket/prefix``): ``remote_base`` (the local folder caching it; the data
    # root itself or, for a workspace, the deployment's data root above it) mirrors ``remote_root``.
    remote_root: str | None = None
    remote_base: Path | None = None
    _gcs_client: object | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root).resolve()
        self.data_root.mkdir(parents=True, exist_ok=True)
        if self.remote_root is not None:
            self.remote_base = Path(self.remote_base or self.data_root).resolve()
        if self.models_root is not None:
            self.models_root = Path(self.models_root).resolve()
            self.models_root.mkdir(parents=True, exist_ok=True)


_storage: Storage | None = None


def get_storage() -> Storage:
    """The storage configured by Django settings (built once per process)."""
    global _storage
    from django.conf import settings  # local import: this module stays usable without Django

    remote = getattr(settings, "DATA_ROOT_REMOTE", None)
    key = (settings.DATA_ROOT, settings.MODELS_ROOT, tuple(settings.GCS_ALLOWED_BUCKETS))
    if _storage is None or (
        _storage.data_root,
        _storage.models_root,
        _storage.allowed_buckets,
        _storage.remote_root,
    ) != (Path(key[0]).resolve(), Path(key[1]).resolve(), key[2], remote):
        _storage = Storage(
            data_root=key[0],
            models_root=key[1],
            allowed_buckets=key[2],
            max_upload_bytes=settings.MAX_UPLOAD_BYTES,
            remote_root=remote,
        )
    return _storage
