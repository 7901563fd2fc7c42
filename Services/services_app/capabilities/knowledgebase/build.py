"""Build (or rebuild) a knowledge base from a folder tree.

1. Walk the source (walk.py) and compare each file with the previous build's
   ``files.parquet``: same size and mtime -> unchanged; same size, new mtime ->
   hash it, unchanged when the sha256 matches; otherwise added or changed.
   Files gone from the tree are removed. A change of extraction settings
   (chunking, extractor version) re-reads everything.
2. Read and extract the new and changed files: small text/csv/html/json files
   in this process, pdf/docx/workbooks and large files in a process pool
   (pebble, started from a forkserver, memory capped) that also takes small-file batches whenever it is idle. Pool
   batches are large and return compact tuples to keep inter-process cost
   low; every batch has a timeout, and a batch that times out or kills its
   worker is retried file by file, so one hanging or crashing pdf costs only
   itself. The records are then built as Arrow columns.
3. Merge the new rows with the previous rows of unchanged files and write
   every output into a temporary folder that replaces the old one at once,
   manifest last. With nothing changed, only the manifest is refreshed.
4. ``embed``: embed chunks whose text changed (vectors of unchanged chunks
   are reused; the embeddings module caches by content hash as well), save
   them as ``vectors.npy`` for local search and sync them into Qdrant.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import gzip
import hashlib
import json
import os
import shutil
import time
import uuid
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...errors import ServiceError
from ...isolation import ReaderCrashed, allow_children, limit_memory, memory_limit_bytes, pool_context
from ...jobs.context import JobContext
from ...storage import is_gcs, parse_gcs, sha256_file
from . import store
from .chunking import ChunkingOptions, chunk_spans
from .exports import write_jsonl, write_neo4j, write_parquet
from .extract import (
    EXTRACTOR_VERSION,
    HTML_EXTENSIONS,
    JSON_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    TEXT_EXTENSIONS,
    read_and_extract,
)
from .records import CHUNK_SCHEMA, FILE_SCHEMA, chunk_id, document_id, modified_at, path_parts
from .walk import FileEntry, Skipped, walk

MAX_LISTED = 1000  # errors listed in the job result; files.parquet keeps all of them


@dataclass
class BuildOptions:
    name: str
    source: str
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    include_hidden: bool = False
    chunking: ChunkingOptions = field(default_factory=ChunkingOptions)
    embed: bool = False
    embeddings_provider: str | None = None
    embeddings_model: str | None = None
    workers: int | None = None  # None: one per CPU; 0: in this process, no timeouts
    file_timeout: float = 120.0
    max_file_size: int = 512 * 1024 * 1024
    max_depth: int = 256
    max_table_rows: int = 100_000
    full: bool = False  # ignore the previous build and read everything

    def extraction_config(self) -> dict:
        return {
            "extractor": EXTRACTOR_VERSION,
            "schema": 2,  # 2: records carry ``uri``
            "chunking": self.chunking.as_dict(),
            "max_table_rows": self.max_table_rows,
        }


# --- worker side -------------------------------------------------------------------------
#
# A worker returns one compact tuple per file (see `_work`), not dict rows: pickling a few
# tuples of strings is cheap, and the main process turns them into Arrow columns directly.
# Result tuple: (sha256, error, code, title, encoding, pages, chunks) with chunks a list of
# (chunk id, text, page, sheet, columns, char_start, char_end, text_sha256).

Result = tuple


def _error_result(reason: str, code: str, sha256: str | None = None) -> Result:
    return (sha256, reason, code, None, None, None, [])


def _work(items: list[FileEntry], max_rows: int, chunking: dict) -> list[Result]:
    """Runs in a pool process: read, hash, extract and chunk each file; ids and hashes too."""
    options = ChunkingOptions(**chunking)
    out: list[Result] = []
    for e in items:
        res = read_and_extract(e.path, e.ext, max_rows)
        if "error" in res:
            out.append(_error_result(res["error"], res["code"], res.get("sha256")))
            continue
        chunks = []
        for text, page, sheet, columns in res["sections"]:
            for start, end in chunk_spans(text, options):
                piece = text[start:end]
                chunks.append(
                    (
                        chunk_id(e.rel, len(chunks)),
                        piece,
                        page,
                        sheet,
                        columns,
                        start,
                        end,
                        hashlib.sha256(piece.encode("utf-8", "surrogatepass")).hexdigest(),
                    )
                )
        pages = (max((c[2] or 0 for c in chunks), default=0) or None) if e.ext == ".pdf" else None
        name = e.rel.rsplit(b"/", 1)[-1].decode("utf-8", "replace")
        stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
        title = (res.get("title") or "").strip() or stem
        out.append((res["sha256"], None, None, title, res.get("encoding"), pages, chunks))
    return out


def _batches(entries: list[FileEntry], workers: int) -> list[list[FileEntry]]:
    """Large batches (a few per worker, so the load still balances) keep inter-process traffic
    low; big pdf/docx/spreadsheets go alone, so a timeout or crash costs only that file."""
    per_batch = max(16, min(1024, len(entries) // max(1, workers * 4) + 1))
    batches: list[list[FileEntry]] = []
    current: list[FileEntry] = []
    size = 0
    for e in entries:
        heavy = e.ext in (".pdf", ".docx", ".xlsx", ".xlsm", ".xls", ".ods") and e.size > 256 * 1024
        if heavy or e.size > 4 * 1024 * 1024:
            batches.append([e])
            continue
        current.append(e)
        size += e.size
        if len(current) >= per_batch or size >= 32 * 1024 * 1024:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    return batches


def _pool(size: int):
    """A pebble pool whose processes start from the platform's forkserver (never a fork of this
    process, which may hold DuckDB or torch threads) with the readers' memory cap."""
    from pebble import ProcessPool

    return ProcessPool(
        max_workers=size, context=pool_context(), initializer=limit_memory, initargs=(memory_limit_bytes(),)
    )


# Small files of these formats are extracted in the build's own process (no inter-process cost):
# their parsers are fast and cannot hang on a small input. Everything else (pdf, docx, workbooks,
# large files) goes to the pool, where every batch has a timeout and a crash costs one worker.
IN_PROCESS_EXTENSIONS = frozenset(TEXT_EXTENSIONS | HTML_EXTENSIONS | JSON_EXTENSIONS | {".csv", ".tsv", ".tab"})
IN_PROCESS_MAX_SIZE = 1024 * 1024
LOCAL_BATCH = 64


def extract_all(
    ctx: JobContext, entries: list[FileEntry], opts: BuildOptions, *, lo: float, hi: float
) -> dict[bytes, Result]:
    """Extract every entry; returns {rel: result tuple}. Progress goes from ``lo`` to ``hi``.

    With a pool, this process works too: it extracts small text/markdown/csv/html/json files in
    batches of 64 while the pool (one process per core but one) takes pdf/docx/workbooks and large
    files; whenever a pool process is idle it gets the next batch of small files instead, so both
    sides finish together."""
    results: dict[bytes, Result] = {}
    total = len(entries)
    args = (opts.max_table_rows, opts.chunking.as_dict())

    def report():
        ctx.progress(lo + (hi - lo) * len(results) / max(total, 1), f"read {len(results)} of {total} files")

    if not entries:
        return results
    workers = opts.workers if opts.workers is not None else len(os.sched_getaffinity(0))
    if workers <= 0:
        for i in range(0, total, LOCAL_BATCH):
            batch = entries[i : i + LOCAL_BATCH]
            results.update(zip((e.rel for e in batch), _work(batch, *args), strict=True))
            report()
        return results

    local = [e for e in entries if e.ext in IN_PROCESS_EXTENSIONS and e.size <= IN_PROCESS_MAX_SIZE]
    remote = [e for e in entries if not (e.ext in IN_PROCESS_EXTENSIONS and e.size <= IN_PROCESS_MAX_SIZE)]
    local_batches = deque(local[i : i + LOCAL_BATCH] for i in range(0, len(local), LOCAL_BATCH))
    if not remote and len(local_batches) <= 1:  # nothing worth starting a pool for
        for batch in local_batches:
            results.update(zip((e.rel for e in batch), _work(batch, *args), strict=True))
        report()
        return results

    from concurrent.futures.process import BrokenProcessPool

    from pebble import ProcessExpired

    pool_size = max(1, workers - 1) if local else workers
    with allow_children():
        pools = [_pool(pool_size)]
        try:
            pending: dict[cf.Future, list[FileEntry]] = {}
            retried: set[bytes] = set()

            def schedule(batch: list[FileEntry]) -> None:
                if not pools[-1].active:  # a broken pool is replaced; its batches are retried below
                    pools[-1].stop()
                    pools.append(_pool(pool_size))
                fut = pools[-1].schedule(_work, args=(batch, *args), timeout=opts.file_timeout * len(batch))
                pending[fut] = batch

            def collect(wait: float) -> None:
                done, _ = cf.wait(list(pending), timeout=wait, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    batch = pending.pop(fut)
                    try:
                        results.update(zip((e.rel for e in batch), fut.result(), strict=True))
                    except (cf.TimeoutError, ProcessExpired, BrokenProcessPool) as exc:
                        # pebble can also report a worker stopped for a timeout as a broken pool
                        if len(batch) > 1:
                            for e in batch:  # find the one file that hangs or crashes
                                schedule([e])
                            continue
                        e = batch[0]
                        if isinstance(exc, BrokenProcessPool) and e.rel not in retried:
                            retried.add(e.rel)  # the pool broke under it: not proof that this file is bad
                            schedule([e])
                            continue
                        if isinstance(exc, cf.TimeoutError):
                            reason, code = (
                                f"extraction took longer than {opts.file_timeout:g}s and was stopped",
                                "timeout",
                            )
                        else:
                            crash = ReaderCrashed(getattr(exc, "exitcode", None))
                            how = crash.signal_name or f"exit status {crash.exit_status}"
                            reason, code = f"the extractor crashed on this file ({how})", "reader_crashed"
                        results[e.rel] = _error_result(reason, code)

            for batch in _batches(remote, pool_size):
                schedule(batch)
            while local_batches or pending:
                while local_batches and len(pending) < 2 * pool_size:  # a batch in hand and one queued per process
                    schedule(local_batches.pop())
                if local_batches:
                    batch = local_batches.popleft()
                    results.update(zip((e.rel for e in batch), _work(batch, *args), strict=True))
                    if pending:
                        collect(0)
                else:
                    collect(0.5)
                report()
        finally:
            for pool in pools:
                pool.stop()
                pool.join()
    return results


# --- fan-out: the reading step split into batch jobs --------------------------------------
#
# In a worker, a build with more than `batch_files()` files to read splits the reading step into
# ``knowledgebase.extract_batch`` jobs that any worker takes (`JobContext.map_batches`). Each
# batch extracts its files (with its own process pool) and writes the compact result tuples to
# ``.cache/kb-batches/<job id>/<index>.json.gz`` under the data root, which the build reads back,
# merges and deletes; everything after the reading step runs in the build's own job.

BATCH_FILES = 2000
BATCH_AREA = ".shared/kb-batches"  # shared through the bucket when the data root is one


def batch_files() -> int:
    """Files per batch of a fanned-out build (``KNOWLEDGEBASE_BATCH_FILES``, default 2,000)."""
    try:
        return max(1, int(os.environ.get("KNOWLEDGEBASE_BATCH_FILES", BATCH_FILES)))
    except ValueError:
        return BATCH_FILES


def extract_in_batches(
    ctx: JobContext, entries: list[FileEntry], source: Path, opts: BuildOptions, *, lo: float, hi: float
) -> dict[bytes, Result]:
    """`extract_all` split into batch jobs; the same {rel: result tuple}."""
    storage = ctx.storage
    root = storage.relative(source)
    n = batch_files()
    common = {
        "source": root,
        "job": ctx.job_id,
        "max_table_rows": opts.max_table_rows,
        "chunking": opts.chunking.as_dict(),
        "file_timeout": opts.file_timeout,
        "workers": opts.workers,
    }
    batches = [
        {**common, "index": k, "items": [[os.fsdecode(e.rel), e.size, e.mtime_ns, e.ext] for e in entries[i : i + n]]}
        for k, i in enumerate(range(0, len(entries), n))
    ]
    outcomes = ctx.map_batches("knowledgebase.extract_batch", batches, extract_batch, lo=lo, hi=hi)
    results: dict[bytes, Result] = {}
    for batch, outcome in zip(batches, outcomes, strict=True):
        if "result" in outcome:
            path = storage.resolve(outcome["result"]["results"], must_exist=True)
            for rel, res in json.loads(gzip.decompress(path.read_bytes())):
                results[os.fsencode(rel)] = tuple(res)
            path.unlink(missing_ok=True)
            continue
        err = outcome["error"]
        for rel, *_ in batch["items"]:
            results[os.fsencode(rel)] = _error_result(f"its batch failed: {err.get('message')}", "batch_failed")
    shutil.rmtree(storage.data_root / BATCH_AREA / ctx.job_id, ignore_errors=True)
    storage.unpublish(storage.data_root / BATCH_AREA / ctx.job_id)
    return results


def extract_batch(ctx: JobContext, params: dict) -> dict:
    """The ``knowledgebase.extract_batch`` job: extract ``items`` ([relative path, size, mtime_ns,
    extension]) of the folder ``source`` and write their result tuples to the data root's batch
    area; returns ``{"results": location, "files": n}``."""
    storage = ctx.storage
    root = os.fsencode(str(storage.resolve(params["source"], must_exist=True)))
    entries = [
        FileEntry(root + b"/" + os.fsencode(rel), os.fsencode(rel), size, mtime_ns, ext)
        for rel, size, mtime_ns, ext in params["items"]
    ]
    opts = BuildOptions(
        name="batch",
        source=params["source"],
        chunking=ChunkingOptions(**params["chunking"]),
        workers=params.get("workers"),
        file_timeout=params["file_timeout"],
        max_table_rows=params["max_table_rows"],
    )
    results = extract_all(ctx, entries, opts, lo=0.0, hi=1.0)
    rows = [[os.fsdecode(e.rel), results[e.rel]] for e in entries]
    target = storage.data_root / BATCH_AREA / str(params["job"]) / f"{params['index']}.json.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(gzip.compress(json.dumps(rows).encode("utf-8", "surrogatepass"), compresslevel=1))
    os.replace(tmp, target)
    storage.publish_local(target)
    return {"results": storage.relative(target), "files": len(entries)}


class _gc_paused:
    """Pause the cyclic garbage collector while the listing allocates one small object per file.

    Those objects hold no cycles, yet every few hundred allocations trigger a collection that
    walks them all again: on 10,000 files that was a fifth of a rebuild with nothing changed."""

    def __enter__(self):
        self.was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self.was_enabled:
            gc.enable()


# --- main side ---------------------------------------------------------------------------


def _file_row(
    e: FileEntry,
    *,
    status: str,
    code=None,
    reason=None,
    title=None,
    chunks=0,
    characters=0,
    pages=None,
    encoding=None,
    sha256=None,
) -> dict:
    rel = e.rel_text
    folder, _top, _sub, file_name = path_parts(rel)
    return {
        "document_id": document_id(e.rel),
        "path": rel,
        "path_key": e.rel,
        "folder": folder,
        "file_name": file_name,
        "extension": e.ext,
        "title": title,
        "status": status,
        "code": code,
        "reason": reason,
        "chunks": chunks,
        "characters": characters,
        "pages": pages,
        "encoding": encoding,
        "sha256": sha256,
        "size": e.size,
        "mtime_ns": e.mtime_ns,
        "modified": modified_at(e.mtime_ns),
    }


def _assemble(entries: list[FileEntry], results: dict[bytes, Result]) -> tuple[pa.Table, pa.Table]:
    """Arrow tables of the chunks and the files read, built column by column from the workers'
    tuples (no per-record dicts)."""
    chunk_cols: dict[str, list] = {
        n: []
        for n in (
            "id",
            "document_id",
            "path",
            "folder",
            "top_folder",
            "subfolders",
            "file_name",
            "extension",
            "title",
            "text",
            "page",
            "sheet",
            "columns",
            "chunk_index",
            "chunk_count",
            "char_start",
            "char_end",
            "char_count",
            "text_sha256",
            "sha256",
            "size",
            "modified",
        )
    }
    file_cols: dict[str, list] = {
        n: []
        for n in (
            "document_id",
            "path",
            "path_key",
            "folder",
            "file_name",
            "extension",
            "title",
            "status",
            "code",
            "reason",
            "chunks",
            "characters",
            "pages",
            "encoding",
            "sha256",
            "size",
            "mtime_ns",
            "modified",
        )
    }
    c, f = chunk_cols, file_cols
    for e in entries:
        sha, error, code, title, encoding, pages, chunks = results[e.rel]
        rel = e.rel_text
        folder, top, sub, file_name = path_parts(rel)
        doc = document_id(e.rel)
        modified = e.mtime_ns // 1000
        n = len(chunks)
        characters = 0
        if n:
            ids, texts, page, sheet, columns, starts, ends, shas = zip(*chunks, strict=True)
            lengths = [len(t) for t in texts]
            characters = sum(lengths)
            c["id"].extend(ids)
            c["text"].extend(texts)
            c["page"].extend(page)
            c["sheet"].extend(sheet)
            c["columns"].extend(columns)
            c["char_start"].extend(starts)
            c["char_end"].extend(ends)
            c["char_count"].extend(lengths)
            c["text_sha256"].extend(shas)
            c["chunk_index"].extend(range(n))
            for key, value in (
                ("document_id", doc),
                ("path", rel),
                ("folder", folder),
                ("top_folder", top),
                ("subfolders", sub),
                ("file_name", file_name),
                ("extension", e.ext),
                ("title", title),
                ("chunk_count", n),
                ("sha256", sha),
                ("size", e.size),
                ("modified", modified),
            ):
                c[key].extend([value] * n)
        if error is not None:
            status, title = "error", None
        elif not n:
            status, code, error = "empty", "empty", "no text in this file"
        else:
            status = "ok"
        for key, value in (
            ("document_id", doc),
            ("path", rel),
            ("path_key", e.rel),
            ("folder", folder),
            ("file_name", file_name),
            ("extension", e.ext),
            ("title", title),
            ("status", status),
            ("code", code),
            ("reason", error),
            ("chunks", n),
            ("characters", characters),
            ("pages", pages),
            ("encoding", encoding),
            ("sha256", sha),
            ("size", e.size),
            ("mtime_ns", e.mtime_ns),
            ("modified", modified),
        ):
            f[key].append(value)
    return _table(chunk_cols, CHUNK_SCHEMA), _table(file_cols, FILE_SCHEMA)


def _table(cols: dict[str, list], schema: pa.Schema) -> pa.Table:
    n = len(next(iter(cols.values())))
    arrays = []
    for fld in schema:
        values = cols.get(fld.name)
        if values is None:
            arrays.append(pa.nulls(n, fld.type))
        elif pa.types.is_timestamp(fld.type):  # microseconds since the epoch
            arrays.append(pa.array(values, pa.int64()).cast(fld.type))
        else:
            arrays.append(pa.array(values, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass
class Previous:
    manifest: dict | None
    files: pa.Table | None
    folder: Path

    def chunks(self) -> pa.Table:
        return pq.read_table(self.folder / "knowledge.parquet", schema=CHUNK_SCHEMA)

    def vectors(self) -> np.ndarray | None:
        p = self.folder / "vectors.npy"
        return np.load(p, mmap_mode="r") if p.is_file() else None


def _load_previous(out: Path, full: bool) -> Previous:
    if full or not (out / "manifest.json").is_file():
        return Previous(None, None, out)
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        # ParquetFile, not read_table: one local file needs none of the dataset machinery
        files = pq.ParquetFile(out / "files.parquet").read().cast(FILE_SCHEMA)
    except (OSError, ValueError, pa.ArrowException):
        return Previous(None, None, out)  # unreadable: rebuild from scratch
    return Previous(manifest, files, out)


def _embedding_config(opts: BuildOptions) -> dict | None:
    if not opts.embed:
        return None
    provider = (opts.embeddings_provider or os.environ.get("EMBEDDINGS_PROVIDER") or "local").lower()
    return {"provider": provider, "model": opts.embeddings_model or os.environ.get("EMBEDDINGS_MODEL") or None}


# The storage module keeps one hidden ".<name>.gcs.json" beside each mirrored object (its generation).
GCS_CACHE_META = ".*.gcs.json"


def _local_source(ctx: JobContext, opts: BuildOptions) -> tuple[Path, str, list[str]]:
    """The folder to walk, the base of each record's ``uri`` and extra exclude patterns.

    A gs:// prefix is mirrored into the storage module's cache (objects whose
    generation is unchanged since the last mirror are not downloaded again, and
    objects gone from the bucket are removed from the mirror), then built like
    any local folder: unchanged mirrored files keep their mtime, so the
    incremental rebuild does not re-read them either."""
    storage = ctx.storage
    if is_gcs(opts.source):
        bucket, key = parse_gcs(opts.source)
        storage.check_bucket(bucket)
        ctx.progress(0.0, f"mirroring {opts.source}", force=True)
        source = storage.local_copy(opts.source)
        if not source.is_dir():
            raise ServiceError(
                f"source {opts.source!r} is one object; give a prefix (folder), e.g. gs://{bucket}/"
                f"{key.rsplit('/', 1)[0] if '/' in key else ''}",
                code="not_a_folder",
            )
        prefix = key.strip("/")
        return source, f"gs://{bucket}/{prefix + '/' if prefix else ''}", [GCS_CACHE_META]
    source = storage.resolve(opts.source, must_exist=True)
    if not source.is_dir():
        raise ServiceError(f"source {opts.source!r} is a file; give a folder under the data root", code="not_a_folder")
    rel = storage.relative(source)
    return source, ("" if rel == "." else rel + "/"), []


def _with_uri(table: pa.Table, base: str) -> pa.Table:
    """Set the ``uri`` column: where each file lives (``gs://bucket/prefix/<path>`` or ``<source>/<path>``)."""
    uri = pc.binary_join_element_wise(pa.scalar(base), table["path"], "") if base else table["path"]
    return table.set_column(table.schema.get_field_index("uri"), table.schema.field("uri"), uri)


@dataclass
class Plan:
    """What a build does with each listed file, decided from the previous build (pure data)."""

    unchanged: list[FileEntry] = field(default_factory=list)  # same size and mtime: kept as is
    touched: list[FileEntry] = field(default_factory=list)  # same content, new mtime: kept, times updated
    to_read: list[FileEntry] = field(default_factory=list)  # new or changed: extracted
    not_read: dict[bytes, dict] = field(default_factory=dict)  # unsupported or too large: a files row each
    removed: list[bytes] = field(default_factory=list)  # in the previous build, gone now
    counts: Counter = field(default_factory=Counter)  # added, changed, unchanged, removed


def build_knowledgebase(ctx: JobContext, opts: BuildOptions) -> dict:
    """Build or incrementally rebuild a knowledge base, in named steps:
    source -> list -> plan changes -> (nothing changed: touch the manifest) -> read -> merge -> embed ->
    write outputs with the manifest last."""
    started = time.perf_counter()
    storage = ctx.storage
    store.check_name(opts.name)
    source, uri_base, exclude = resolve_source(ctx, opts)
    with store.build_lock(storage, opts.name):
        out = store.output_dir(storage, opts.name)
        prev = _load_previous(storage.hydrate(out), opts.full)
        config = opts.extraction_config()
        same_config = prev.manifest is not None and prev.manifest.get("config") == config
        with _gc_paused():  # many small objects, no cycles: see _gc_paused
            entries, skipped = list_files(ctx, source, opts, exclude)
            plan = plan_changes(entries, previous_rows(prev), opts, same_config=same_config)
        emb_config = _embedding_config(opts)
        if nothing_changed(plan, prev, same_config=same_config, uri_base=uri_base, emb_config=emb_config):
            manifest = dict(prev.manifest)
            manifest["checked_at"] = _now()
            manifest["last_build"] = _summary(plan.counts, started, entries, 0)
            with storage.atomic_file(out / "manifest.json") as tmp:
                tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
            ctx.progress(1.0, "nothing changed")
            return _result(opts, storage, manifest, plan.counts, started, skipped, prev.files, out)

        ctx.progress(
            0.05, f"reading {len(plan.to_read)} new or changed files ({plan.counts['unchanged']} unchanged)", force=True
        )
        hi = 0.75 if opts.embed else 0.9
        if ctx.run_batches is not None and len(plan.to_read) > batch_files():
            results = extract_in_batches(ctx, plan.to_read, source, opts, lo=0.05, hi=hi)
        else:
            results = extract_all(ctx, plan.to_read, opts, lo=0.05, hi=hi)
        new_chunks, new_files = _assemble(plan.to_read, results)
        del results
        ctx.progress(0.76 if opts.embed else 0.91, "writing outputs", force=True)
        chunks, files = merge(new_chunks, new_files, plan, prev, uri_base=uri_base)

        vectors = embedding_info = None
        if emb_config is not None:
            from .index import embed_chunks

            vectors, embedding_info = embed_chunks(ctx, chunks, prev, emb_config, storage, lo=0.76, hi=0.95)

        with storage.atomic_dir(out) as tmp:
            graph = write_outputs(tmp, chunks, files, vectors, name=opts.name)
            ctx.progress(0.96, "outputs written")
            if vectors is not None:
                from .index import sync_qdrant

                embedding_info["qdrant"] = sync_qdrant(
                    storage, opts.name, chunks, vectors, prev, dim=embedding_info["dim"], ctx=ctx
                )
            manifest = make_manifest(
                opts,
                uri_base=uri_base,
                config=config,
                chunks=chunks,
                files=files,
                skipped=len(skipped),
                graph=graph,
                embedding_info=embedding_info,
                last_build=_summary(plan.counts, started, entries, len(plan.to_read)),
                exports={
                    name: {"bytes": (tmp / name).stat().st_size}
                    for name in store.EXPORTS
                    if name != "manifest.json" and (tmp / name).is_file()
                }
                | {"neo4j.zip": {"files": sorted(p.name for p in (tmp / "neo4j").iterdir())}},
            )
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        ctx.progress(1.0, "done")
        return _result(opts, storage, manifest, plan.counts, started, skipped, files, out)


# --- the steps ---------------------------------------------------------------------------


def resolve_source(ctx: JobContext, opts: BuildOptions) -> tuple[Path, str, list[str]]:
    """The local folder to walk (a gs:// source mirrored first), the base of the records' URIs, and the
    exclude patterns (the knowledge bases' own folder is never indexed)."""
    storage = ctx.storage
    source, uri_base, extra_exclude = _local_source(ctx, opts)
    kb_root = (storage.data_root / store.KB_FOLDER).resolve()
    if source == kb_root or source.is_relative_to(kb_root):
        raise ServiceError("source must not be inside the knowledge bases folder", code="invalid_source")
    exclude = list(opts.exclude) + extra_exclude
    if kb_root.is_relative_to(source):  # never index our own outputs
        exclude.append(kb_root.relative_to(source).as_posix() + "/")
    return source, uri_base, exclude


def list_files(
    ctx: JobContext, source: Path, opts: BuildOptions, exclude: list[str]
) -> tuple[list[FileEntry], list[Skipped]]:
    """Every file the build considers, and what the walk skipped with its reason."""
    ctx.progress(0.01, "listing files", force=True)
    skipped: list[Skipped] = []
    entries: list[FileEntry] = []
    for e in walk(
        source,
        data_root=ctx.storage.data_root,
        include=opts.include,
        exclude=exclude,
        include_hidden=opts.include_hidden,
        max_depth=opts.max_depth,
        skipped=skipped,
        skip_dirs=tuple(getattr(ctx.storage, "hidden_dirs", ())),
    ):
        entries.append(e)
        if len(entries) % 2000 == 0:
            ctx.progress(0.02, f"listed {len(entries)} files")
    return entries, skipped


def previous_rows(prev: Previous) -> dict[bytes, tuple[int, int, str | None]]:
    """path_key -> (size, mtime_ns, sha256) of the previous build's files."""
    if prev.files is None:
        return {}
    return dict(
        zip(
            prev.files.column("path_key").to_pylist(),
            zip(*(prev.files.column(c).to_pylist() for c in ("size", "mtime_ns", "sha256")), strict=True),
            strict=True,
        )
    )


def plan_changes(
    entries: list[FileEntry], prev_rows: dict[bytes, tuple[int, int, str | None]], opts: BuildOptions, *, same_config
) -> Plan:
    """Decide per file: keep (same size and mtime), keep with new times (same sha256), read, or list as not read.

    Only files whose size and mtime differ are hashed; a different extraction config reads everything."""
    plan = Plan()
    counts = plan.counts
    for e in entries:
        p = prev_rows.get(e.rel)
        if e.ext not in SUPPORTED_EXTENSIONS:
            plan.not_read[e.rel] = _file_row(
                e, status="error", code="unsupported", reason=f"unsupported file type {e.ext or '(no extension)'!r}"
            )
        elif e.size > opts.max_file_size:
            plan.not_read[e.rel] = _file_row(
                e, status="error", code="too_large", reason=f"larger than max_file_size ({opts.max_file_size} bytes)"
            )
        elif p is not None and same_config and p[0] == e.size and p[1] == e.mtime_ns:
            plan.unchanged.append(e)
            counts["unchanged"] += 1
            continue
        elif p is not None and same_config and p[0] == e.size and p[2]:
            try:
                same = sha256_file(Path(os.fsdecode(e.path))) == p[2]
            except OSError:
                same = False
            if same:
                plan.touched.append(e)
                counts["unchanged"] += 1
                continue
            plan.to_read.append(e)
        else:
            plan.to_read.append(e)
        if p is None:
            counts["added"] += 1
        elif e.rel in plan.not_read and p[0] == e.size and p[1] == e.mtime_ns and same_config:
            counts["unchanged"] += 1
        else:
            counts["changed"] += 1
    current = {e.rel for e in entries}
    plan.removed = [k for k in prev_rows if k not in current]
    counts["removed"] = len(plan.removed)
    return plan


def nothing_changed(plan: Plan, prev: Previous, *, same_config: bool, uri_base: str, emb_config: dict | None) -> bool:
    """True when the previous outputs are still exactly right (then only the manifest's check time moves)."""
    prev_emb = (prev.manifest or {}).get("embeddings")
    embeddings_current = emb_config is None or (
        prev_emb is not None
        and prev_emb.get("provider") == emb_config["provider"]
        and (emb_config["model"] in (None, prev_emb.get("model")))
    )
    return (
        prev.manifest is not None
        and same_config
        and prev.manifest.get("uri_base") == uri_base
        and not plan.to_read
        and not plan.touched
        and not plan.removed
        and plan.counts["added"] == 0
        and plan.counts["changed"] == 0
        and embeddings_current
        and (emb_config is not None) == (prev_emb is not None)
    )


def merge(
    new_chunks: pa.Table, new_files: pa.Table, plan: Plan, prev: Previous, *, uri_base: str
) -> tuple[pa.Table, pa.Table]:
    """The new build's chunks and files tables: what was read now plus what was kept from the previous build,
    sorted by path, with URIs."""
    keep_docs = [document_id(e.rel) for e in plan.unchanged + plan.touched]
    pieces = [new_chunks]
    prev_files_kept = None
    if keep_docs:
        old = prev.chunks()
        pieces.append(old.filter(pc.is_in(old["document_id"], value_set=pa.array(keep_docs))))
        prev_files_kept = prev.files.filter(pc.is_in(prev.files["document_id"], value_set=pa.array(keep_docs)))
    chunks = pa.concat_tables(pieces).combine_chunks()
    if plan.touched:
        chunks = _update_modified(chunks, {document_id(e.rel): modified_at(e.mtime_ns) for e in plan.touched})
        prev_files_kept = _update_file_times(prev_files_kept, {e.rel: e.mtime_ns for e in plan.touched})
    chunks = _with_uri(chunks.sort_by([("path", "ascending"), ("chunk_index", "ascending")]), uri_base)
    files_tables = [new_files, pa.Table.from_pylist(list(plan.not_read.values()), schema=FILE_SCHEMA)]
    if prev_files_kept is not None:
        files_tables.append(prev_files_kept)
    files = _with_uri(pa.concat_tables(files_tables).combine_chunks().sort_by([("path", "ascending")]), uri_base)
    return chunks, files


def write_outputs(folder: Path, chunks: pa.Table, files: pa.Table, vectors: np.ndarray | None, *, name: str) -> dict:
    """knowledge.parquet, files.parquet, knowledge.jsonl, the Neo4j export and vectors.npy into ``folder``;
    returns the graph's counts."""
    # Arrow's Parquet and CSV writers release the GIL, so they run in threads while this
    # thread writes the JSONL (which needs the GIL): on 2 cores the outputs take about half.
    with cf.ThreadPoolExecutor(max_workers=2) as writers:
        parquet = writers.submit(
            lambda: (
                write_parquet(chunks, folder / "knowledge.parquet"),
                write_parquet(files, folder / "files.parquet"),
            )
        )
        neo4j = writers.submit(write_neo4j, chunks, files, folder / "neo4j", root_name=name)
        write_jsonl(chunks, folder / "knowledge.jsonl")
        parquet.result()
        graph = neo4j.result()
    if vectors is not None:
        np.save(folder / "vectors.npy", vectors)
    return graph


def make_manifest(
    opts: BuildOptions,
    *,
    uri_base: str,
    config: dict,
    chunks: pa.Table,
    files: pa.Table,
    skipped: int,
    graph: dict,
    embedding_info: dict | None,
    last_build: dict,
    exports: dict,
) -> dict:
    """The build's manifest (written last: a folder without one was never completed)."""

    def status_count(status: str) -> int:
        return int(pc.sum(pc.equal(files["status"], status)).as_py() or 0)

    return {
        "name": opts.name,
        "source": opts.source,
        "uri_base": uri_base,
        "build_id": uuid.uuid4().hex,
        "built_at": _now(),
        "checked_at": _now(),
        "config": config,
        "options": {
            "include": opts.include,
            "exclude": opts.exclude,
            "include_hidden": opts.include_hidden,
            "max_depth": opts.max_depth,
            "max_file_size": opts.max_file_size,
        },
        "counts": {
            "files": files.num_rows,
            "documents": status_count("ok"),
            "empty": status_count("empty"),
            "errors": status_count("error"),
            "chunks": chunks.num_rows,
            "characters": int(pc.sum(chunks["char_count"]).as_py() or 0),
            "skipped": skipped,
        },
        "graph": graph,
        "embeddings": embedding_info,
        "last_build": last_build,
        "exports": exports,
    }


def _update_modified(chunks: pa.Table, by_doc: dict[str, datetime]) -> pa.Table:
    docs = chunks["document_id"].to_pylist()
    mod = chunks["modified"].to_pylist()
    new = [by_doc.get(d, m) for d, m in zip(docs, mod, strict=True)]
    i = chunks.schema.get_field_index("modified")
    return chunks.set_column(i, CHUNK_SCHEMA.field("modified"), pa.array(new, type=CHUNK_SCHEMA.field("modified").type))


def _update_file_times(files: pa.Table, by_key: dict[bytes, int]) -> pa.Table:
    keys = files["path_key"].to_pylist()
    mt = [by_key.get(k, m) for k, m in zip(keys, files["mtime_ns"].to_pylist(), strict=True)]
    files = files.set_column(
        files.schema.get_field_index("mtime_ns"), FILE_SCHEMA.field("mtime_ns"), pa.array(mt, pa.int64())
    )
    mod = pa.array([modified_at(m) for m in mt], type=FILE_SCHEMA.field("modified").type)
    return files.set_column(files.schema.get_field_index("modified"), FILE_SCHEMA.field("modified"), mod)


def _now() -> str:
    return datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")


def _summary(counts: Counter, started: float, entries: list, read: int) -> dict:
    elapsed = time.perf_counter() - started
    return {
        "added": counts["added"],
        "changed": counts["changed"],
        "unchanged": counts["unchanged"],
        "removed": counts["removed"],
        "files_seen": len(entries),
        "files_read": read,
        "seconds": round(elapsed, 3),
        "files_per_second": round(len(entries) / elapsed, 1) if elapsed else None,
        "finished_at": _now(),
    }


def _result(opts, storage, manifest, counts, started, skipped, files, out) -> dict:
    errors = []
    empty = []
    if files is not None:
        bad = files.filter(pc.not_equal(files["status"], "ok")).select(["path", "status", "code", "reason"]).to_pylist()
        errors = [{"path": r["path"], "code": r["code"], "reason": r["reason"]} for r in bad if r["status"] == "error"]
        empty = [r["path"] for r in bad if r["status"] == "empty"]
    outputs = [storage.relative(out / n) for n in manifest.get("exports", {}) if n != "neo4j.zip"] + [
        storage.relative(out / "neo4j"),
        storage.relative(out / "manifest.json"),
    ]
    return {
        "name": opts.name,
        **manifest["last_build"],
        "counts": manifest["counts"],
        "errors": errors[:MAX_LISTED],
        "errors_total": len(errors),
        "empty": empty[:MAX_LISTED],
        "skipped": [asdict(s) for s in skipped[:MAX_LISTED]],
        "embeddings": manifest.get("embeddings"),
        "outputs": outputs,
    }
