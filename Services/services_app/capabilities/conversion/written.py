"""An output's sha256, computed from the bytes as DuckDB writes them rather than by reading the file again.

Hashing a finished output costs a pass over it after the COPY (about 0.2 s for a 360 MB file,
with nothing else to do meanwhile). Following the file from another thread while DuckDB
writes it is unsound: DuckDB's threads write the column chunks of several row groups at once,
each at its own offset, so the file grows past regions not yet written and a reader finds
zeros there (an earlier version did so, and reported a wrong sha256 under load).

Instead the COPY writes through a file system of ours (DuckDB's fsspec support,
`DuckDBPyConnection.register_filesystem`): every write reaches `HashingWriter`, which writes
it to the real file at its offset (``os.pwrite``) and hashes the bytes in file order. Bytes
that arrive beyond a gap wait for the gap to be filled. The last ``LAG`` bytes are not hashed
until the end, because the footer is changed after the COPY (the source's sha256 is stamped
into a placeholder, see ``core._patch_footer``): `HashingWriter.sha256` re-reads that tail
from the finished file.

Whenever the writes did not add up to the file exactly (a region written twice, a gap never
filled, a footer longer than ``LAG``, a size that differs), `HashingWriter.sha256` returns
None and the caller hashes the file whole: the shortcut is never taken on a guess.

Deliberately ours: no library hashes a stream written out of order; fsspec gives the hook.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from pathlib import Path

PROTOCOL = "services-written"
LAG = 8 * 1024 * 1024  # bytes left unhashed until the end: the footer must lie within them
_PREFIX = PROTOCOL + "://"


class HashingWriter:
    """The file object DuckDB writes one output through: ``seek`` then ``write``, ``flush``, ``close``.

    DuckDB calls ``seek`` then ``write`` from any of its threads. Another thread may run between the two
    (the interpreter switches threads between bytecodes, and ``pwrite`` and hashing release the GIL), so
    the offset a thread sought is kept for that thread's next ``write``; the bookkeeping is under a lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        # O_EXCL: the caller removed any earlier file of this name; a file put there meanwhile is an error
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        self._lock = threading.Lock()
        self._pos = 0  # the file position of a write with no seek before it
        self._end = 0
        self._sought: dict[int, int] = {}  # thread -> the offset its last seek asked for
        self._sha = hashlib.sha256()
        self._hashed = 0  # bytes [0, _hashed) are in _sha
        self._frontier = 0  # bytes [0, _frontier) written without a gap
        self._held: deque[bytes] = deque()  # bytes [_hashed, _frontier), not hashed yet
        self._held_bytes = 0
        self._ahead: dict[int, bytes] = {}  # written beyond a gap, by offset
        self._sound = True  # False once a write overlapped bytes already written
        self.error: OSError | None = None  # what writing to the file raised (DuckDB gets it as a traceback)

    # --- what DuckDB calls ---------------------------------------------------------------
    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        with self._lock:
            base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._end}[whence]
            self._pos = self._sought[threading.get_ident()] = base + offset
            return self._pos

    def tell(self) -> int:
        return self._sought.get(threading.get_ident(), self._pos)

    def write(self, data) -> int:
        data = bytes(data)
        with self._lock:
            offset = self._sought.pop(threading.get_ident(), self._pos)
        view = memoryview(data)
        try:
            while view:  # pwrite may write less than asked (a signal, a network file system)
                done = os.pwrite(self._fd, view, offset + len(data) - len(view))
                view = view[done:]
        except OSError as exc:
            self.error = exc
            raise
        with self._lock:
            self._pos = offset + len(data)
            self._end = max(self._end, self._pos)
            if offset == self._frontier:
                self._take(data)
                while self._frontier in self._ahead:
                    self._take(self._ahead.pop(self._frontier))
            elif offset > self._frontier and offset not in self._ahead:
                self._ahead[offset] = data
            else:
                self._sound = False
            while self._held and self._held_bytes - len(self._held[0]) >= LAG:
                chunk = self._held.popleft()
                self._held_bytes -= len(chunk)
                self._sha.update(chunk)  # in file order (hence under the lock); releases the GIL
                self._hashed += len(chunk)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- ours ------------------------------------------------------------------------------
    def _take(self, data: bytes) -> None:
        self._held.append(data)
        self._held_bytes += len(data)
        self._frontier += len(data)

    def sha256(self) -> str | None:
        """The sha256 of the file at ``path`` as it is now (its footer may have been changed since it was
        written), or None when the writes do not account for every byte of it (then hash the file)."""
        self.close()
        if not self._sound or self._ahead:
            return None
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size != self._frontier or size < 12:
                return None
            f.seek(size - 8)
            footer_start = size - 8 - int.from_bytes(f.read(4), "little")
            if not 0 <= self._hashed <= footer_start:
                return None  # a footer longer than LAG: its first bytes were hashed before it was changed
            digest = self._sha.copy()
            f.seek(self._hashed)
            while chunk := f.read(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()


_filesystem = None
_lock = threading.Lock()


def _make_filesystem():
    """The fsspec file system DuckDB writes outputs through (built once: fsspec is imported on first use)."""
    from fsspec import AbstractFileSystem

    class WrittenFileSystem(AbstractFileSystem):
        protocol = PROTOCOL

        def __init__(self):
            super().__init__()
            self.writers: dict[str, HashingWriter] = {}
            self.failed: dict[str, OSError] = {}  # outputs that could not be opened
            self.guard = threading.Lock()

        @staticmethod
        def local(path: str) -> str:
            return path[len(_PREFIX) :] if path.startswith(_PREFIX) else path

        def open(self, path, mode="rb", **kwargs):  # noqa: A003 - fsspec's name
            if "w" not in mode:
                raise OSError(f"{PROTOCOL} only writes")
            local = Path(self.local(path))
            try:
                writer = HashingWriter(local)
            except OSError as exc:
                with self.guard:
                    self.failed[str(local)] = exc
                raise
            with self.guard:
                self.writers[str(local)] = writer
            return writer

        def info(self, path, **kwargs):
            try:
                st = os.stat(self.local(path))
            except FileNotFoundError:
                raise FileNotFoundError(path) from None
            return {
                "name": path,
                "size": st.st_size,
                "type": "directory" if os.path.isdir(self.local(path)) else "file",
            }

        def rm_file(self, path):
            os.unlink(self.local(path))

        def mkdir(self, path, create_parents=True, **kwargs):
            os.makedirs(self.local(path), exist_ok=True)

        def makedirs(self, path, exist_ok=False):
            os.makedirs(self.local(path), exist_ok=exist_ok)

        def taken(self, path: Path) -> HashingWriter | None:
            with self.guard:
                return self.writers.pop(str(path), None)

        def failure(self, path: Path) -> OSError | None:
            with self.guard:
                opened = self.writers.pop(str(path), None)
                error = self.failed.pop(str(path), None)
            if opened is not None:
                opened.close()
                error = error or opened.error
            return error

    return WrittenFileSystem()


def target(con, path: Path) -> str:
    """The name to give DuckDB's ``COPY ... TO`` so that ``path`` is written through `HashingWriter`
    (the file system is registered with ``con`` on first use)."""
    global _filesystem
    with _lock:
        if _filesystem is None:
            _filesystem = _make_filesystem()
    if not con.filesystem_is_registered(PROTOCOL):
        con.register_filesystem(_filesystem)
    return _PREFIX + str(Path(path))


def writer(path: Path) -> HashingWriter | None:
    """The writer the last COPY to ``path`` went through (taken: a second call gives None)."""
    return _filesystem.taken(Path(path)) if _filesystem is not None else None


def failure(path: Path) -> OSError | None:
    """After a failed COPY to ``path``: forget its writer (closing it) and give back what opening or
    writing the file raised, if that is why it failed."""
    return _filesystem.failure(Path(path)) if _filesystem is not None else None
