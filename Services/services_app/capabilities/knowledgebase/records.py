"""The record schema: one row per document chunk, and one row per file.

Ids are UUIDv5 of the relative path (and chunk index), so they stay the same
across rebuilds and machines: ``uuid5(NAMESPACE, "<path>#<chunk_index>")`` for
a chunk and ``uuid5(NAMESPACE, "<path>")`` for a document. For names that are
not UTF-8 the raw bytes of the path take the place of its text.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pyarrow as pa

NAMESPACE = uuid.UUID("6f1c3a52-5d0e-4c55-9d0b-7b6a1f0c2e41")


def _uuid5(name: bytes) -> str:
    # Same as uuid.uuid5(NAMESPACE, name.decode()) for UTF-8 names; also takes raw bytes.
    digest = hashlib.sha1(NAMESPACE.bytes + name, usedforsecurity=False).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def document_id(rel: bytes) -> str:
    return _uuid5(rel)


def chunk_id(rel: bytes, chunk_index: int) -> str:
    return _uuid5(rel + b"#" + str(chunk_index).encode())


def path_parts(rel_text: str) -> tuple[str, str, list[str], str]:
    """``a/b/c/file.txt`` -> folder "a/b/c", top folder "a", subfolders ["b", "c"], file name."""
    parts = rel_text.split("/")
    folders = parts[:-1]
    return "/".join(folders), (folders[0] if folders else ""), folders[1:], parts[-1]


def modified_at(mtime_ns: int) -> datetime:
    return datetime.fromtimestamp(mtime_ns / 1e9, tz=UTC)


CHUNK_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("uri", pa.string()),  # gs://bucket/prefix/<path> or <source under the data root>/<path>
        pa.field("folder", pa.string(), nullable=False),
        pa.field("top_folder", pa.string(), nullable=False),
        pa.field("subfolders", pa.list_(pa.string()), nullable=False),
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("extension", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("page", pa.int32()),
        pa.field("sheet", pa.string()),
        pa.field("columns", pa.list_(pa.string())),
        pa.field("chunk_index", pa.int32(), nullable=False),
        pa.field("chunk_count", pa.int32(), nullable=False),
        pa.field("char_start", pa.int64(), nullable=False),
        pa.field("char_end", pa.int64(), nullable=False),
        pa.field("char_count", pa.int32(), nullable=False),
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("modified", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)

FILE_SCHEMA = pa.schema(
    [
        pa.field("document_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("path_key", pa.binary(), nullable=False),  # the exact bytes of the relative path
        pa.field("uri", pa.string()),
        pa.field("folder", pa.string(), nullable=False),
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("extension", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # ok | empty | error
        pa.field("code", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("chunks", pa.int32(), nullable=False),
        pa.field("characters", pa.int64(), nullable=False),
        pa.field("pages", pa.int32()),
        pa.field("encoding", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("mtime_ns", pa.int64(), nullable=False),
        pa.field("modified", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
)
