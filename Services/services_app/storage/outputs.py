"""Outputs to local or gs:// locations: small reads and writes, publishing, and `output`, the one path every
capability writes through (temporary path, then rename or verified publish; a manifest last).

A mixin of `Storage`."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from ..errors import ServiceError
from .gcs import _parallel
from .locations import CHUNK, is_gcs


class Outputs:
    """Writing results wherever the user asked for them."""

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
        """The one way a capability writes a result: to a local temporary path, then into place.

        ``with storage.output("gs://b/out/x.parquet") as tmp: write(tmp)``. A file is renamed into
        place (local) or published, verified and with preconditions (gs://). A folder
        (``folder=True``) is swapped into place as a whole (local) or published object by
        object with its ``manifest.json`` last, and objects only the previous manifest listed are
        deleted (see `folders.output_folder`). Nothing appears at the location if the block fails;
        reserved areas (``uploads/``, ``.cache/``) are refused. Without ``overwrite`` an existing
        target is a 409."""
        from .folders import check_output, output_folder

        check_output(self, location)
        if not overwrite and (self.gcs_exists(location) if is_gcs(location) else self.resolve(location).exists()):
            raise ServiceError(f"{location!r} already exists", code="conflict", status=409)
        if folder:
            with output_folder(self, location) as tmp:
                yield tmp
            return
        if not is_gcs(location):
            with self.atomic_file(self.resolve_output(location)) as tmp:
                yield tmp
            return
        staging = self.data_root / ".cache" / "staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        tmp = staging / (PurePosixPath(location.rstrip("/")).name or "output")
        try:
            yield tmp
            self.publish(tmp, location, overwrite=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
