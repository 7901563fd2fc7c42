"""Embeddings, the Qdrant store, and semantic search.

Vectors come from the one embeddings module (local all-MiniLM-L6-v2 by
default, OpenAI when configured; cached by content hash). Each build keeps
them as ``vectors.npy`` (row i = row i of ``knowledge.parquet``) and syncs them
into Qdrant: local mode under the knowledge base folder by default, a server
when ``QDRANT_URL`` is set (upserting only new or changed chunks, deleting
removed ones).

Search without a server does its own exact top-k over the memory-mapped,
L2-normalised matrix (one matrix-vector product): Qdrant's local mode is a
pure-Python brute force and also locks its folder to one process, so the web
process cannot read it while a worker builds. With a server, search asks
Qdrant (HNSW, payload filter on folders).
"""

from __future__ import annotations

import functools
import os
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import ServiceError
from ...jobs.context import JobContext
from ...storage import Storage
from . import store

PAYLOAD_FIELDS = [
    "document_id",
    "path",
    "uri",
    "folder",
    "top_folder",
    "subfolders",
    "file_name",
    "extension",
    "title",
    "page",
    "sheet",
    "chunk_index",
    "chunk_count",
    "char_count",
    "text",
]


@functools.lru_cache(maxsize=4)
def get_cached_embedder(provider: str, model: str | None, cache_dir: str):
    from ...embeddings import get_embedder

    return get_embedder(provider=provider, model=model, cache_dir=cache_dir)


@functools.lru_cache(maxsize=4)
def get_query_embedder(provider: str, model: str | None):
    """The embedder for search queries: no cache (a query is embedded once; the cache's write per
    call costs more than the model), and for the local model one intra-op thread, which answers
    a single short query fastest and steadiest on a busy machine (measured: ~30 ms vs 35-170 ms
    with two threads on 2 shared cores)."""
    from ...embeddings import get_embedder

    if provider == "local":
        import torch

        torch.set_num_threads(1)
    return get_embedder(provider=provider, model=model, use_cache=False)


def _cache_dir(storage: Storage) -> str:
    from ...embeddings import default_cache_dir

    return str(default_cache_dir(storage.data_root))


def embed_chunks(ctx: JobContext, chunks: pa.Table, prev, config: dict, storage: Storage, *, lo: float, hi: float):
    """Vectors for every chunk row: reused from the previous build when the text is the same, else embedded."""
    embedder = get_cached_embedder(config["provider"], config["model"], _cache_dir(storage))
    n = chunks.num_rows
    vectors = np.zeros((n, embedder.dim), dtype=np.float32)
    todo = np.ones(n, dtype=bool)
    prev_emb = (prev.manifest or {}).get("embeddings") or {}
    old_vectors = prev.vectors() if prev.manifest else None
    if (
        old_vectors is not None
        and prev_emb.get("model") == embedder.model_name
        and old_vectors.shape[1] == embedder.dim
    ):
        old = prev.chunks().select(["id", "text_sha256"])
        where = {
            (i, h): r
            for r, (i, h) in enumerate(zip(old["id"].to_pylist(), old["text_sha256"].to_pylist(), strict=True))
        }
        for r, key in enumerate(zip(chunks["id"].to_pylist(), chunks["text_sha256"].to_pylist(), strict=True)):
            j = where.get(key)
            if j is not None:
                vectors[r] = old_vectors[j]
                todo[r] = False
    rows = np.flatnonzero(todo)
    if len(rows):
        texts = chunks["text"].take(pa.array(rows)).to_pylist()
        ctx.progress(lo, f"embedding {len(texts)} chunks", force=True)

        def progress(done: int, total: int) -> None:
            ctx.progress(lo + (hi - lo) * done / max(total, 1), f"embedded {done} of {total} chunks")

        vectors[rows] = embedder.embed(texts, batch_size=64, progress=progress)
    return vectors, {
        "provider": config["provider"],
        "model": embedder.model_name,
        "dim": int(embedder.dim),
        "count": int(n),
        "embedded": int(len(rows)),
        "reused": int(n - len(rows)),
    }


# --- Qdrant ------------------------------------------------------------------------------


def collection_name(name: str) -> str:
    return f"kb_{name}"


def qdrant_client(storage: Storage, name: str):
    """A server client when QDRANT_URL is set, else local mode under the knowledge base folder."""
    from qdrant_client import QdrantClient

    url = os.environ.get("QDRANT_URL", "").strip()
    if url:
        return QdrantClient(url=url, api_key=os.environ.get("QDRANT_API_KEY") or None, timeout=60), {
            "mode": "server",
            "url": url,
        }
    path = store.kb_dir(storage, name) / "qdrant"
    return QdrantClient(path=str(path)), {"mode": "local", "path": storage.relative(path)}


def _prefixes(folder: str) -> list[str]:
    parts = folder.split("/") if folder else []
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _payloads(chunks: pa.Table, rows: np.ndarray) -> list[dict]:
    out = chunks.select(PAYLOAD_FIELDS).take(pa.array(rows)).to_pylist()
    for p in out:
        p["folder_prefixes"] = _prefixes(p["folder"])
    return out


def sync_qdrant(
    storage: Storage, name: str, chunks: pa.Table, vectors: np.ndarray, prev, *, dim: int, ctx: JobContext
) -> dict:
    if storage.remote is not None and not os.environ.get("QDRANT_URL", "").strip():
        # Qdrant's local mode is a folder on this host, which no other host of a bucket data root sees:
        # nothing is written there, and the manifest says so (search reads the published vectors.npy)
        return {
            "mode": "none",
            "reason": "the data root is a bucket and no Qdrant server is set (QDRANT_URL): search uses the "
            "knowledge base's vectors.npy",
        }
    from qdrant_client import models

    client, info = qdrant_client(storage, name)
    coll = collection_name(name)
    started = time.perf_counter()
    try:
        ids = chunks["id"].to_pylist()
        shas = chunks["text_sha256"].to_pylist()
        exists = client.collection_exists(coll)
        if exists:
            params = client.get_collection(coll).config.params.vectors
            if getattr(params, "size", None) != dim:
                client.delete_collection(coll)
                exists = False
        upsert = np.arange(len(ids))
        delete: list[str] = []
        prev_q = ((prev.manifest or {}).get("embeddings") or {}).get("qdrant") or {}
        if exists and prev.manifest and prev_q.get("mode") == info["mode"] and prev_q.get("collection") == coll:
            old = prev.chunks().select(["id", "text_sha256"])
            old_map = dict(zip(old["id"].to_pylist(), old["text_sha256"].to_pylist(), strict=True))
            upsert = np.array(
                [i for i, (cid, h) in enumerate(zip(ids, shas, strict=True)) if old_map.get(cid) != h], dtype=np.int64
            )
            current = set(ids)
            delete = [cid for cid in old_map if cid not in current]
        elif not exists:
            client.create_collection(
                coll, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
            if info["mode"] == "server":
                client.create_payload_index(coll, "folder_prefixes", field_schema=models.PayloadSchemaType.KEYWORD)
        else:  # a collection we cannot account for: replace its contents
            client.delete_collection(coll)
            client.create_collection(
                coll, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )
        if delete:
            for i in range(0, len(delete), 1000):
                client.delete(coll, points_selector=models.PointIdsList(points=delete[i : i + 1000]), wait=True)
        batch = 512
        for i in range(0, len(upsert), batch):
            rows = upsert[i : i + batch]
            client.upsert(
                coll,
                points=models.Batch(
                    ids=[ids[r] for r in rows], vectors=vectors[rows].tolist(), payloads=_payloads(chunks, rows)
                ),
                wait=True,
            )
            ctx.progress(0.96, f"indexed {min(i + batch, len(upsert))} of {len(upsert)} chunks in Qdrant")
        count = client.count(coll, exact=True).count
    finally:
        client.close()
    return {
        **info,
        "collection": coll,
        "points": int(count),
        "upserted": int(len(upsert)),
        "deleted": len(delete),
        "seconds": round(time.perf_counter() - started, 3),
    }


# --- search ------------------------------------------------------------------------------


class LocalIndex:
    """The memory-mapped vectors and the chunk table of one build, kept per process."""

    def __init__(self, folder: Path, build_id: str):
        self.build_id = build_id
        self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        names = set(pq.read_schema(folder / "knowledge.parquet").names)  # builds before ``uri`` lack it
        self.table = pq.read_table(
            folder / "knowledge.parquet", columns=[c for c in PAYLOAD_FIELDS + ["id"] if c in names]
        )
        folders = pc.dictionary_encode(self.table["folder"]).combine_chunks()
        self.folder_codes = folders.indices.to_numpy(zero_copy_only=False)
        self.folder_names = folders.dictionary.to_pylist()

    def search(self, query: np.ndarray, *, k: int, folder: str | None) -> list[tuple[int, float]]:
        scores = self.vectors @ query
        if folder:
            f = folder.strip("/")
            wanted = [i for i, name in enumerate(self.folder_names) if name == f or name.startswith(f + "/")]
            if not wanted:
                return []
            mask = np.isin(self.folder_codes, wanted)
            scores = np.where(mask, scores, -np.inf)
        k = min(k, len(scores))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]


_indexes: dict[str, LocalIndex] = {}
_lock = threading.Lock()


def _local_index(storage: Storage, name: str, manifest: dict) -> LocalIndex:
    key = str(store.output_dir(storage, name))
    with _lock:
        idx = _indexes.get(key)
        if idx is None or idx.build_id != manifest["build_id"]:
            idx = LocalIndex(store.output_dir(storage, name), manifest["build_id"])
            _indexes[key] = idx
        return idx


def search(storage: Storage, name: str, *, q: str, k: int = 10, folder: str | None = None) -> dict:
    """Semantic search: the ``k`` chunks nearest to ``q`` (cosine), optionally only under ``folder``."""
    manifest = store.read_manifest(storage, name)
    emb = manifest.get("embeddings")
    if not emb:
        raise ServiceError(
            f"knowledge base {name!r} was built without embeddings; rebuild it with embed: true to search it",
            code="not_embedded",
            status=409,
        )
    if not q or not q.strip():
        raise ServiceError("q is empty: give the text to search for", code="invalid_query")
    folder = store.check_folder(storage, name, folder, table="knowledge.parquet")
    started = time.perf_counter()
    embedder = get_query_embedder(emb["provider"], emb["model"])
    query = embedder.embed([q])[0].astype(np.float32)
    embedded = time.perf_counter()
    qdrant = emb.get("qdrant") or {}
    hits = []
    if qdrant.get("mode") == "server" and os.environ.get("QDRANT_URL"):
        from qdrant_client import models

        client, _ = qdrant_client(storage, name)
        try:
            flt = None
            if folder:
                flt = models.Filter(
                    must=[
                        models.FieldCondition(key="folder_prefixes", match=models.MatchValue(value=folder.strip("/")))
                    ]
                )
            res = client.query_points(
                collection_name(name), query=query.tolist(), limit=k, query_filter=flt, with_payload=True
            )
        finally:
            client.close()
        for p in res.points:
            payload = dict(p.payload or {})
            payload.pop("folder_prefixes", None)
            hits.append({"id": str(p.id), "score": float(p.score), **payload})
        backend = "qdrant"
    else:
        idx = _local_index(storage, name, manifest)
        found = idx.search(query, k=k, folder=folder)
        if found:
            rows = idx.table.take(pa.array([i for i, _ in found])).to_pylist()
            for (_, score), row in zip(found, rows, strict=True):
                hits.append({"score": score, **row})
        backend = "local"
    done = time.perf_counter()
    return {
        "name": name,
        "query": q,
        "k": k,
        "folder": folder,
        "model": emb["model"],
        "backend": backend,
        "took_ms": round((done - started) * 1000, 2),
        "embed_ms": round((embedded - started) * 1000, 2),
        "results": hits,
    }
