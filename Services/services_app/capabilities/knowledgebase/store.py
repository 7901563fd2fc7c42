"""Where a knowledge base lives, and reading it back (selectors; Django-free).

<data root>/knowledgebases/<name>/
    output/                 swapped in whole by each build (atomic_dir)
        knowledge.jsonl     one record per chunk
        knowledge.parquet   the same records, typed
        files.parquet       one row per file: status, reason, hashes (the incremental state)
        vectors.npy         L2-normalised float32 embeddings, row i = parquet row i (embed: true)
        neo4j/ neo4j.zip    the graph export
        manifest.json       written last: a folder without it was never completed
    qdrant/                 Qdrant's local-mode storage (embed: true, no QDRANT_URL)
    .lock                   held while a build runs
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from ...errors import NotFound, ServiceError
from ...storage import Storage

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KB_FOLDER = "knowledgebases"
EXPORTS = {
    "knowledge.jsonl": "application/x-ndjson",
    "knowledge.parquet": "application/vnd.apache.parquet",
    "files.parquet": "application/vnd.apache.parquet",
    "manifest.json": "application/json",
    "neo4j.zip": "application/zip",
}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ServiceError(
            f"knowledge base name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            code="invalid_name",
            details={"name": name},
        )
    return name


def kb_dir(storage: Storage, name: str) -> Path:
    return storage.data_root / KB_FOLDER / check_name(name)


def output_dir(storage: Storage, name: str) -> Path:
    return kb_dir(storage, name) / "output"


@contextlib.contextmanager
def build_lock(storage: Storage, name: str) -> Iterator[None]:
    """One build of a knowledge base at a time, across processes and machines sharing the folder."""
    folder = kb_dir(storage, name)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServiceError(
                f"knowledge base {name!r} is being built by another job; wait for it to finish",
                code="build_in_progress",
                status=409,
            ) from None
        yield
    finally:
        os.close(fd)


def read_manifest(storage: Storage, name: str) -> dict:
    """The manifest of the last completed build (with a data root on a bucket, the output folder is brought
    up to date first, so every file read after this is the one the manifest describes)."""
    storage.hydrate(output_dir(storage, name))
    path = output_dir(storage, name) / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"knowledge base {name!r} does not exist (or has never finished a build)") from None


def kb_list(storage: Storage) -> list[dict]:
    root = storage.data_root / KB_FOLDER
    out = []
    storage.hydrate(root, names={"manifest.json"})
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.is_dir() and NAME_RE.match(p.name) and (p / "output" / "manifest.json").is_file():
                with contextlib.suppress(ValueError, OSError):
                    out.append(json.loads((p / "output" / "manifest.json").read_text(encoding="utf-8")))
    return out


def export_path(storage: Storage, name: str, export: str) -> Path:
    if export not in EXPORTS:
        raise NotFound(f"no export named {export!r}; available: {', '.join(EXPORTS)}")
    manifest = read_manifest(storage, name)
    if export == "neo4j.zip":
        return _neo4j_zip(storage, name, manifest)
    path = output_dir(storage, name) / export
    if not path.is_file():
        raise NotFound(f"knowledge base {name!r} has no {export}")
    return path


def _neo4j_zip(storage: Storage, name: str, manifest: dict) -> Path:
    """The Neo4j export as one zip, made on first download and kept per build."""
    from .exports import zip_neo4j

    folder = output_dir(storage, name) / "neo4j"
    if not folder.is_dir():
        raise NotFound(f"knowledge base {name!r} has no Neo4j export")
    target = kb_dir(storage, name) / "downloads" / f"{manifest['build_id']}-neo4j.zip"
    if not target.is_file():
        for old in target.parent.glob("*-neo4j.zip") if target.parent.is_dir() else []:
            old.unlink(missing_ok=True)
        with storage.atomic_file(target) as tmp:
            zip_neo4j(folder, tmp)
    return target


@functools.lru_cache(maxsize=64)
def _folders(path: str, inode: int, mtime_ns: int) -> frozenset[str]:
    """The distinct folders of a knowledge base's table, read once per build (a build swaps the folder in,
    so a new build is a new inode and mtime): a search with a folder filter does not read the file again."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    return frozenset(pc.unique(pq.read_table(path, columns=["folder"])["folder"]).to_pylist())


def check_folder(storage: Storage, name: str, folder: str | None, *, table: str = "files.parquet") -> str | None:
    """``folder`` as the knowledge base stores folders (no leading or trailing ``/``), or a 422 that says
    which folders exist when nothing in ``table`` (files.parquet for documents, knowledge.parquet for the
    chunks a search returns) lies in it or below: a typo must not look like an empty result."""
    if folder is None or not folder.strip("/ "):
        return None
    f = folder.strip().strip("/")
    path = output_dir(storage, name) / table
    st = path.stat()
    known = _folders(str(path), st.st_ino, st.st_mtime_ns)
    if any(k == f or k.startswith(f + "/") for k in known if k):
        return f
    tops = sorted({k.split("/", 1)[0] for k in known if k})
    raise ServiceError(
        f"knowledge base {name!r} has no folder {folder!r}; its top folders: {', '.join(tops[:20]) or 'none'}",
        code="unknown_folder",
        status=422,
        details={"folder": folder, "top_folders": tops[:100]},
    )


def documents(
    storage: Storage, name: str, *, folder: str | None = None, status: str | None = None, extension: str | None = None
) -> list[dict]:
    """One row per file (ok, empty or error), sorted by path, optionally under ``folder``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    read_manifest(storage, name)
    folder = check_folder(storage, name, folder)
    table = pq.read_table(output_dir(storage, name) / "files.parquet")
    if folder:
        f = folder.strip("/")
        mask = pc.or_(pc.equal(table["folder"], f), pc.starts_with(table["folder"], f + "/"))
        table = table.filter(mask)
    if status:
        table = table.filter(pc.equal(table["status"], status))
    if extension:
        ext = extension.lower() if extension.startswith(".") else "." + extension.lower()
        table = table.filter(pc.equal(table["extension"], ext))
    return table.drop_columns(["path_key", "mtime_ns"]).to_pylist()
