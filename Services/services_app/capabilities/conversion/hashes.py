"""Source hashes the conversion already knows, so that it does not read a large file twice.

Every output records its source's sha256, computed while DuckDB converts (a thread
reading the file once more: about 0.5 s of CPU per GB, taken from DuckDB's cores on a
small machine). Two sources make that read unnecessary:

- an **upload** is stored by content hash (``uploads/<sha256>/<name>``, verified when it
  was stored, and nothing but the upload store writes there): the hash is in its path;
- a file converted before and **unchanged since**: a small cache under the data root
  (``.cache/source-hashes.sqlite3``) maps (device, inode, size, mtime, ctime) to the
  sha256 measured then. ctime changes on every write and cannot be set back by a user
  (unlike mtime, which ``touch -d`` or ``rsync -t`` restore), so an edited file is a miss.

Only files of at least ``MIN_BYTES`` are cached (hashing a small file costs less than a
cache lookup). The cache is an optimisation: any error reading or writing it is a miss.

When the hash is not known it is computed in a thread (`begin`) while DuckDB converts. A
caller that knows early which file it will convert can start it sooner (`prefetch`):
``manage.py convert_to_parquet`` does so before Django and the readers are imported, so the
hash runs on the otherwise idle second core during start-up instead of competing with
DuckDB's threads. There it runs in a forked child (`ForkedDigest`; the process has no other
thread yet): a thread would wait for the GIL after every chunk while the imports run. A started
hash is found again by the same (device, inode, size, mtime, ctime) key; a file that changed
since is a different key and is hashed anew.

This module imports nothing heavy: it is imported at start-up, before Django.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import signal
import sqlite3
import stat
import threading
from pathlib import Path

MIN_BYTES = 8 * 1024 * 1024
MAP_STEP = 4 * 1024 * 1024  # bytes hashed per update() when a file is memory-mapped
MAP_WINDOW = 64 * 1024 * 1024  # bytes mapped at a time (a multiple of mmap.ALLOCATIONGRANULARITY)
CACHE_NAME = ".cache/source-hashes.sqlite3"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _key(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _db(data_root: Path) -> sqlite3.Connection:
    path = Path(data_root) / CACHE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=2)
    con.execute(
        "CREATE TABLE IF NOT EXISTS source_hash (dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER, "
        "ctime_ns INTEGER, sha256 TEXT NOT NULL, PRIMARY KEY (dev, ino))"
    )
    return con


def known_sha256(path: Path, data_root: Path) -> str | None:
    """The sha256 of ``path`` when it is already known (an upload, or cached and unchanged), else None."""
    path = Path(path)
    try:
        rel = path.resolve().relative_to(Path(data_root).resolve())
    except ValueError:
        rel = None
    if rel is not None and len(rel.parts) == 3 and rel.parts[0] == "uploads" and _SHA256.fullmatch(rel.parts[1]):
        return rel.parts[1]
    key = _key(path)
    if key is None or key[2] < MIN_BYTES:
        return None
    try:
        with _db(data_root) as con:
            row = con.execute(
                "SELECT sha256 FROM source_hash WHERE dev=? AND ino=? AND size=? AND mtime_ns=? AND ctime_ns=?", key
            ).fetchone()
    except (sqlite3.Error, OSError):
        return None
    return row[0] if row else None


def remember(path: Path, sha256: str, data_root: Path, *, key: tuple | None = None) -> None:
    """Record ``sha256`` for ``path`` as it is now (``key``: its stat taken before it was hashed)."""
    key = key or _key(path)
    if key is None or key[2] < MIN_BYTES or not _SHA256.fullmatch(sha256 or "") or key != _key(path):
        return  # too small, or it changed while it was read: not worth or not safe to remember
    try:
        with _db(data_root) as con:
            con.execute("INSERT OR REPLACE INTO source_hash VALUES (?, ?, ?, ?, ?, ?)", (*key, sha256))
    except (sqlite3.Error, OSError):
        pass


def stat_key(path: Path):
    """The cache key of ``path`` now (take it before converting, pass it to `remember`)."""
    return _key(path)


class Digest(threading.Thread):
    """The sha256 of one file, computed in a thread; `result()` waits for it (and raises what reading raised)."""

    def __init__(self, path: Path, key: tuple | None):
        super().__init__(daemon=True, name="conversion-sha256")
        self.path = Path(path)
        self.key = key
        self._digest: str | None = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._digest = file_sha256(self.path, expect=self.key)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the result
            self._error = exc

    def result(self) -> str:
        self.join()
        if self._error is not None:
            raise self._error
        return self._digest or ""


def file_sha256(path: Path, *, expect: tuple | None = None, mapped: bool = False) -> str:
    """The sha256 of a regular file (``expect``: its stat key, checked on the open file, so that what is
    hashed is the file that was looked up and not a FIFO or a device put in its place).

    ``mapped``: hash the file through a read-only memory map instead of reading it into a buffer, which
    saves copying every byte (about 10% less CPU on a 1 GB file). Only for a process that may die: a file
    truncated while it is mapped ends the process with SIGBUS, so only `ForkedDigest`'s child maps."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{Path(path).name} is not a regular file")
        if expect is not None and (st.st_dev, st.st_ino) != expect[:2]:
            raise OSError(f"{Path(path).name} was replaced while it was opened")
        if mapped:
            import mmap

            # one window mapped at a time: the pages of a window leave the process's resident set when it
            # is unmapped, so the child's peak RSS is one window, not the whole file
            digest = hashlib.sha256()
            for offset in range(0, st.st_size, MAP_WINDOW):
                length = min(MAP_WINDOW, st.st_size - offset)
                with mmap.mmap(fd, length, access=mmap.ACCESS_READ, offset=offset) as m, memoryview(m) as view:
                    for start in range(0, length, MAP_STEP):  # update() releases the GIL on large slices
                        digest.update(view[start : start + MAP_STEP])
            return digest.hexdigest()
        # file_digest reads into one reused buffer: about 9% less CPU than read() + update() on a 1 GB file;
        # the hashing itself releases the GIL
        return hashlib.file_digest(f, "sha256").hexdigest()


class ForkedDigest:
    """The sha256 of one file, computed in a forked child process; `result()` waits for it.

    For `prefetch` only, at start-up while the process has no other thread (forking a threaded
    process is unsafe). A thread would have to take the GIL back after every chunk it hashed: while
    the main thread imports modules, each of those hand-overs waits up to the interpreter's switch
    interval (5 ms), and the hash made little progress until DuckDB's COPY released the GIL, then
    took CPU from it. A child process hashes at full speed on the idle core meanwhile."""

    def __init__(self, path: Path, key: tuple | None):
        self.path = Path(path)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: hash, write the hex digest (or "!" and the error), and leave at once
            code = 0
            try:
                os.close(read_end)
                try:
                    answer = file_sha256(self.path, expect=key, mapped=True).encode()
                except OSError as exc:
                    answer = b"!" + str(exc).encode("utf-8", "replace")[:1000]
                os.write(write_end, answer)
            except BaseException:  # noqa: BLE001 - nothing may escape the child
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        self._pid, self._read_end, self._key = pid, read_end, key
        self._answer: bytes | None = None

    def is_alive(self) -> bool:
        return self._answer is None

    def kill(self) -> None:
        """Stop the child if it is still hashing, and reap it."""
        if self.is_alive():
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                self.join()

    def join(self) -> None:
        if self._answer is not None:
            return
        chunks = []
        with open(self._read_end, "rb", closefd=True) as f:
            while chunk := f.read(4096):
                chunks.append(chunk)
        os.waitpid(self._pid, 0)
        self._answer = b"".join(chunks)

    def result(self) -> str:
        self.join()
        answer = self._answer or b""
        if not answer:  # the child died without an answer (killed, out of memory): hash here instead
            self._answer = answer = file_sha256(self.path, expect=self._key).encode()
        if answer.startswith(b"!"):
            raise OSError(answer[1:].decode("utf-8", "replace"))
        return answer.decode("ascii")


_started: dict[tuple, Digest | ForkedDigest] = {}
_started_lock = threading.Lock()


def begin(path: Path) -> Digest | ForkedDigest:
    """The sha256 of ``path`` as it is now, in a thread: the one `prefetch` started for this very file
    (same stat key), or a new one."""
    key = _key(path)
    with _started_lock:
        found = _started.pop(key, None) if key is not None else None
    if found is not None:
        return found
    job = Digest(path, key)
    job.start()
    return job


def cancel_prefetched() -> None:
    """Stop the early hashes nobody took (the command failed before converting): a forked child is
    killed and reaped, so that none outlives its command."""
    with _started_lock:
        jobs = list(_started.values())
        _started.clear()
    for job in jobs:
        if isinstance(job, ForkedDigest):
            job.kill()


def prefetch(path: Path) -> bool:
    """Start hashing ``path`` now, for a `begin` on the same unchanged file later in this process.

    Only regular files of at least ``MIN_BYTES`` (a small file is hashed inline, faster than a thread).
    Never raises: a file that cannot be read is left to the conversion to report. True when started."""
    try:
        key = _key(path)
        if key is None or key[2] < MIN_BYTES or not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with _started_lock:
            if key in _started:
                return True
            if threading.active_count() == 1 and hasattr(os, "fork"):
                _started[key] = ForkedDigest(path, key)  # nothing else runs yet: safe to fork
                # however the process ends (a traceback, Django's own command route), the child goes with it
                atexit.register(cancel_prefetched)
                return True
            job = Digest(path, key)
            _started[key] = job
        job.start()
        return True
    except (OSError, RuntimeError):
        return False
