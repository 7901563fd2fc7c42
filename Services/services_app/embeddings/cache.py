"""On-disk cache of embeddings, keyed by text sha256, one SQLite file per model.

SQLite (stdlib, WAL mode) is the store: one file, safe with several worker
processes writing at once, and a lookup of 20,000 keys takes well under a
second. Vectors are stored as raw float32 bytes.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

_CHUNK = 900  # bound parameters per statement: below SQLite's oldest limit (999)


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model id ("openai:text-embedding-3-small" ...)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("._") or "model"
    if cleaned != model_id:
        cleaned = f"{cleaned[:80]}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"
    return cleaned


class EmbeddingCache:
    """Vectors of one model, by text sha256."""

    def __init__(self, folder: Path, *, dim: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "embeddings.sqlite3"
        self.dim = dim
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _CHUNK):
            part = unique[start : start + _CHUNK]
            marks = ",".join("?" * len(part))
            query = f"SELECT key, vec FROM vectors WHERE key IN ({marks})"  # noqa: S608 - only "?" marks go in
            for key, blob in self._conn.execute(query, part):
                vec = np.frombuffer(blob, dtype=np.float32)
                if self.dim is None or vec.shape[0] == self.dim:
                    found[bytes(key)] = vec
        return found

    def put_many(self, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for k, v in items]
        if not rows:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.executemany("INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)", rows)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        self._conn.close()
