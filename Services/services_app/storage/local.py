"""Local paths: confinement to the data and models roots, the upload store, reserved areas, atomic writes.

A mixin of `Storage` (which holds ``data_root``, ``models_root``, ``max_upload_bytes``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ServiceError
from .locations import CHUNK, StoredFile, check_location, is_gcs, safe_filename, sha256_file


def _temporary_name(name: str) -> str:
    """A hidden temporary name beside ``name``; names near the 255-byte limit get a short one."""
    suffix = uuid.uuid4().hex[:8]
    candidate = f".{name}.{suffix}.tmp"
    return candidate if len(os.fsencode(candidate)) <= 255 else f".tmp-{suffix}-{uuid.uuid4().hex}"


class LocalStore:
    """Confinement and atomic writes on the local disk."""

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
        if must_exist and self.remote_root:  # a data root on a bucket: bring the local copy up to date first
            exists = self.hydrate(resolved).exists()
        if must_exist and not exists:
            raise ServiceError(f"location {location!r} does not exist", code="not_found", status=404)
        return resolved

    @property
    def hidden_dirs(self) -> tuple[Path, ...]:
        return tuple(self.data_root / h for h in getattr(self, "hidden", ()))

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
                self.ensure_published(target)  # the bucket may have lost it since (a lifecycle rule)
            else:
                os.replace(tmp, target)
                self.publish_local(target)
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
        if self.remote_root:  # a data root on a bucket: the objects' generations, without downloading them
            found = self.remote_fingerprint(self.resolve(location))
            if found is not None:
                return {"location": location, "fingerprint": found}
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
    RESERVED = ("uploads", ".cache", ".shared", "knowledgebases")
    _RESERVED_FOR = {
        "uploads": "uploaded files, stored by content hash",
        ".cache": "caches and staging",
        ".shared": "hand-over files between a job and its batches",
        "knowledgebases": "knowledge bases, each replaced whole by its next build",
    }

    def check_writable(self, path: Path, *, areas: tuple[str, ...] = RESERVED) -> Path:
        """``path`` unless it lies in a reserved area of the data root (403 ``reserved_location``)."""
        for area in areas:
            root = self.data_root / area
            if path == root or path.is_relative_to(root):
                what = self._RESERVED_FOR.get(area.split("/")[0], "the platform's own files")
                raise ServiceError(
                    f"{area}/ in the data root is written by the platform itself ({what}); choose an output "
                    "location outside it",
                    code="reserved_location",
                    status=403,
                    details={"reserved": area},
                )
        return path

    def resolve_output(self, location: str) -> Path:
        """The local path of a user-chosen output location: confined to the roots, outside reserved areas,
        with no hidden part (a name starting with ``.``: left out of listings and, with a data root on a
        bucket, never published) and not below an existing file."""
        path = self.check_writable(self.resolve(location))
        base = next((r for r in self.roots if path == r or path.is_relative_to(r)), self.data_root)
        rel = path.relative_to(base)
        if any(part.startswith(".") for part in rel.parts):
            raise ServiceError(
                f"output location {location!r} has a part starting with '.': such files are hidden from listings "
                "(and kept on one machine when the data root is a bucket); choose a name without a leading dot",
                code="hidden_output",
                status=422,
                details={"location": location},
            )
        for parent in [base / Path(*rel.parts[:i]) for i in range(1, len(rel.parts))]:
            if parent.is_file():
                raise ServiceError(
                    f"output location {location!r} lies inside the file {self.relative(parent)!r}; choose a folder",
                    code="output_inside_file",
                    status=409,
                    details={"location": location, "file": self.relative(parent)},
                )
        return path

    # --- atomic outputs -----------------------------------------------------------
    # The backstop for every writer: nothing but the upload store writes under uploads/, and nothing but the
    # gs:// mirror under .cache/gcs/ (other .cache/ folders hold the jobs' own staging).
    _GUARDED = ("uploads", ".cache/gcs")

    @contextlib.contextmanager
    def atomic_file(self, target: Path, *, _mirror: bool | str = False) -> Iterator[Path]:
        """Yield a temporary path beside ``target``; rename it into place on success.

        On any error the temporary file is removed and ``target`` is untouched. With a data root on a
        bucket the file is then published there (`publish_local`). ``_mirror``: True for the gs://
        mirror, "remote" for the data root's own cache (written from the bucket, so not published back)."""
        target = Path(target)
        areas = {False: self._GUARDED, True: ("uploads",), "remote": ()}[_mirror]
        self.check_writable(target.resolve(), areas=areas)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(_temporary_name(target.name))
        try:
            yield tmp
            os.replace(tmp, target)
            if not _mirror:
                self.publish_local(target)
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
        tmp = target.with_name(_temporary_name(target.name))
        tmp.mkdir()
        try:
            yield tmp
            old = None
            if target.exists():
                old = target.with_name(f".old-{uuid.uuid4().hex}")
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
            self.publish_local(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
