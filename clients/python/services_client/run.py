"""Logging a training run: the dataset first, then the model's outputs per batch and epoch, then `finish()`.

Everything is written to local Arrow files first (``dir``, a temporary folder by default):
``inputs/<split>.arrows`` (id, text, label, metadata) and ``outputs/<split>/epoch=<e>.arrows`` (id, embedding,
probabilities). `log_model_outputs` only checks shapes and copies the arrays into a chunk of ``chunk_rows``
rows (2,048); a full chunk goes to a background thread that converts logits to probabilities, checks values
and appends to the files. The queue between them is bounded (``max_queue`` chunks, 4): when the disk is
slower than training, `log_model_outputs` waits instead of letting memory grow. Memory for outputs is at most
``(max_queue + 2) x chunk_rows x (dim + labels) x 4`` bytes per split and epoch being logged (about 19 MB at
384 dimensions).

`finish()` joins outputs to inputs by id per split and epoch, validates, writes the upload bundle (rows of
every file in the dataset's order), prints a summary and uploads it in resumable parts.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from ._http import Http
from .errors import RunValidationError, ServicesError

TASK_TYPES = ("text_classification", "text_multi_label")
SPLITS = ("training", "validation", "test", "inference")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,39}$")
BLOCK = 8192
FORMAT = 1


NUMERIC = frozenset("biuf")


def _numpy(x, what: str, dtype=None) -> np.ndarray:
    """Arrays, lists and torch/tf tensors (detached and moved to the CPU) as numpy (a view where possible:
    the data are copied once, into the run's chunk buffer, so the caller may reuse its buffers at once).
    Numeric arrays keep their dtype: the copy into the chunk converts them (one pass, no temporary array)."""
    if type(x) is not np.ndarray:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        elif hasattr(x, "numpy"):
            x = x.numpy()
    if dtype is not None and type(x) is np.ndarray and x.dtype.kind in NUMERIC:
        return x
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise RunValidationError(f"{what} cannot be read as an array of {dtype or 'numbers'}: {exc}") from None


def split_key(split: str, inference_name: str | None) -> str:
    if split not in SPLITS:
        raise RunValidationError(f"split must be one of {', '.join(SPLITS)} (got {split!r})")
    if split == "inference" and inference_name:
        if not NAME_RE.match(inference_name):
            raise RunValidationError("inference_name: lowercase letters, digits and _, up to 40 characters")
        return f"inference_{inference_name}"
    if inference_name:
        raise RunValidationError("inference_name applies to the inference split only")
    return split


def _softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, computed column by column: rows are a few labels wide, and numpy reduces a short
    axis of many rows slowly, while an operation on whole columns is one vectorised pass each."""
    columns = x.T
    top = columns[0].copy()
    for column in columns[1:]:
        np.maximum(top, column, out=top)
    out = x - top[:, None]
    np.exp(out, out=out)
    total = out[:, 0].copy()
    for i in range(1, out.shape[1]):
        total += out[:, i]
    out /= total[:, None]
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Chunk:
    """Rows of one split and epoch gathered in the caller's thread until ``chunk_rows`` are reached, so the
    writer thread wakes once per chunk rather than once per batch. Written chunks are reused: a fresh
    3 MB buffer per chunk costs page faults in the caller's thread and unmapping in the writer's."""

    def __init__(self, rows: int, dim: int, width: int, are_logits: bool):
        self.ids = np.empty(rows, dtype=np.int64)
        self.emb = np.empty((rows, dim), dtype=np.float32)
        self.scores = np.empty((rows, width), dtype=np.float32)
        self.are_logits, self.n = are_logits, 0

    def fits(self, rows: int, dim: int, width: int) -> bool:
        return len(self.ids) == rows and self.emb.shape[1] == dim and self.scores.shape[1] == width

    def add(self, ids: np.ndarray, emb: np.ndarray, scores: np.ndarray) -> None:
        end = self.n + len(ids)
        self.ids[self.n : end] = ids
        self.emb[self.n : end] = emb
        self.scores[self.n : end] = scores
        self.n = end


class Run:
    """One training run being logged. Use the module functions (`init`, `log_dataset`, ...) or this class."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        project: str,
        run_name: str,
        labels: list[str],
        task_type: str = "text_classification",
        dir: str | os.PathLike | None = None,
        max_queue: int = 4,
        chunk_rows: int = 2048,
        part_bytes: int = 8 * 1024 * 1024,
        options: dict | None = None,
        http: Http | None = None,
    ):
        if task_type == "text_ner":
            raise NotImplementedError("NER runs are not supported yet: text_classification and text_multi_label are")
        if task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {', '.join(TASK_TYPES)} (got {task_type!r})")
        labels = [str(x) for x in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ValueError("labels: at least two, each once")
        self.http = http or Http(url, api_key)
        self.project, self.run_name, self.task_type, self.labels = project, run_name, task_type, labels
        self.multi_label = task_type == "text_multi_label"
        self.options = options or {}
        self.part_bytes = part_bytes
        self._label_index = {name: i for i, name in enumerate(labels)}
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="services-run-"))
        (self.dir / "inputs").mkdir(parents=True, exist_ok=True)
        (self.dir / "outputs").mkdir(parents=True, exist_ok=True)
        self._inputs: dict[str, tuple[ipc.RecordBatchStreamWriter, pa.schema, Any]] = {}
        self._outputs: dict[tuple[str, int], tuple[ipc.RecordBatchStreamWriter, Any]] = {}
        self._dim: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, max_queue))
        self.chunk_rows = max(1, chunk_rows)
        self._buffers: dict[tuple[str, int], _Chunk] = {}
        self._spare: list[_Chunk] = []  # written chunks to fill again (list.append and .pop are atomic)
        self._error: BaseException | None = None
        self._finished = False
        # writer_cpu_s: CPU seconds of the writer thread (user and system: conversion, checks and the writes),
        # what logging costs besides the calls themselves
        self.stats = {"batches": 0, "rows": 0, "blocked_puts": 0, "max_queued": 0, "writer_cpu_s": 0.0}
        # pyarrow's first numpy conversion imports its pandas shim (about a second): pay it here, not in the
        # writer thread in the middle of the first epoch
        pa.array(np.zeros(1, dtype=np.float32))
        self._writer = threading.Thread(target=self._write_loop, name="services-run-writer", daemon=True)
        self._writer.start()

    # --- the dataset ---------------------------------------------------------------------------------------
    def log_dataset(
        self, data, *, split: str = "training", inference_name: str | None = None, chunk_rows: int = 10_000
    ) -> int:
        """Log samples of a split: a pandas DataFrame, a pyarrow Table, a dict of columns, or any iterable of
        dicts (read ``chunk_rows`` at a time, never all at once). Columns: ``id`` (unique integer within the
        split), ``text``, ``label`` (a label name or index; a list of them for multi-label; not needed for
        inference) and any metadata columns. Returns the rows logged."""
        self._check_open()
        key = split_key(split, inference_name)
        total = 0
        for chunk in self._chunks(data, chunk_rows):
            batch = self._input_batch(chunk, key)
            if key not in self._inputs:
                path = self.dir / "inputs" / f"{key}.arrows"
                sink = open(path, "wb")
                self._inputs[key] = (ipc.new_stream(sink, batch.schema), batch.schema, sink)
            writer, schema, _ = self._inputs[key]
            if batch.schema != schema:
                try:
                    batch = pa.Table.from_batches([batch]).cast(schema).to_batches()[0]
                except (pa.ArrowInvalid, ValueError) as exc:
                    raise RunValidationError(
                        f"split {key}: columns changed between chunks ({batch.schema} vs {schema}): {exc}"
                    ) from None
            writer.write_batch(batch)
            total += batch.num_rows
        return total

    @staticmethod
    def _chunks(data, chunk_rows: int) -> Iterable[pa.Table]:
        if isinstance(data, pa.Table):
            for b in data.to_batches(max_chunksize=chunk_rows):
                yield pa.Table.from_batches([b])
            return
        if hasattr(data, "iloc") and hasattr(data, "columns"):  # pandas
            for start in range(0, len(data), chunk_rows):
                yield pa.Table.from_pandas(data.iloc[start : start + chunk_rows], preserve_index=False)
            return
        if isinstance(data, dict):
            yield pa.table(data)
            return
        it = iter(data)
        while rows := list(itertools.islice(it, chunk_rows)):
            yield pa.Table.from_pylist(rows)

    def _label_value(self, value, key: str):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            if not 0 <= int(value) < len(self.labels):
                raise RunValidationError(f"split {key}: label index {value} is outside the {len(self.labels)} labels")
            return int(value)
        index = self._label_index.get(str(value))
        if index is None:
            raise RunValidationError(
                f"split {key}: label {value!r} is not one of the run's labels ({', '.join(self.labels[:20])})"
            )
        return index

    def _input_batch(self, table: pa.Table, key: str) -> pa.RecordBatch:
        names = table.column_names
        need = ["id", "text"] + ([] if key.startswith("inference") else ["label"])
        missing = [c for c in need if c not in names]
        if missing:
            raise RunValidationError(f"split {key}: the dataset has no {', '.join(missing)} column (has {names})")
        try:
            ids = table.column("id").cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise RunValidationError(f"split {key}: ids must be integers") from None
        if ids.null_count:
            raise RunValidationError(f"split {key}: {ids.null_count} rows have no id")
        columns = {"id": ids, "text": table.column("text").cast(pa.string())}
        if "label" in names:
            values = table.column("label").to_pylist()
            if any(v is None for v in values):
                raise RunValidationError(f"split {key}: every row needs a label")
            if self.multi_label:
                columns["label"] = pa.array(
                    [
                        [self._label_value(v, key) for v in (row if isinstance(row, list | tuple) else [row])]
                        for row in values
                    ],
                    pa.list_(pa.int32()),
                )
            else:
                columns["label"] = pa.array([self._label_value(v, key) for v in values], pa.int32())
        for name in names:
            if name not in ("id", "text", "label"):
                columns[name] = table.column(name)
        return (
            pa.table(columns).combine_chunks().to_batches()[0] if table.num_rows else pa.table(columns).to_batches()[0]
        )

    # --- model outputs -------------------------------------------------------------------------------------
    def log_model_outputs(
        self,
        *,
        ids,
        embeddings,
        logits=None,
        probs=None,
        split: str = "training",
        epoch: int = 0,
        inference_name: str | None = None,
    ) -> None:
        """Log one batch: ``ids`` [n], ``embeddings`` [n, dim], and ``logits`` or ``probs`` [n, labels]
        (softmax for single-label, sigmoid per label for multi-label, applied in the background). Shapes are
        checked here; values in the background (an error there is raised by the next call or by `finish`).
        Blocks while the queue of unwritten batches is full."""
        self._check_open()
        if (logits is None) == (probs is None):
            raise RunValidationError("give logits or probs, not both and not neither")
        key = split_key(split, inference_name)
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise RunValidationError(f"epoch must be a non-negative integer (got {epoch!r})")
        ids_a = _numpy(ids, "ids").reshape(-1)
        emb = _numpy(embeddings, "embeddings", np.float32)
        scores = _numpy(
            logits if logits is not None else probs, "logits" if logits is not None else "probs", np.float32
        )
        n = len(ids_a)
        if emb.ndim != 2 or emb.shape[0] != n:
            raise RunValidationError(f"embeddings have shape {list(emb.shape)}; expected [{n}, dim] for {n} ids")
        if scores.ndim != 2 or scores.shape != (n, len(self.labels)):
            raise RunValidationError(
                f"{'logits' if logits is not None else 'probs'} have shape {list(scores.shape)}; expected "
                f"[{n}, {len(self.labels)}] ({n} ids, {len(self.labels)} labels)"
            )
        if self._dim is None:
            self._dim = emb.shape[1]
        elif emb.shape[1] != self._dim:
            raise RunValidationError(
                f"embeddings have {emb.shape[1]} dimensions; earlier batches had {self._dim}: log one layer"
            )
        if ids_a.dtype.kind not in "iu":
            raise RunValidationError(f"ids must be integers (got {ids_a.dtype})")
        are_logits = logits is not None
        epoch = int(epoch)
        chunk = self._buffers.get((key, epoch))
        if chunk is not None and (chunk.are_logits != are_logits or chunk.n + n > len(chunk.ids)):
            self._hand_over(key, epoch)
            chunk = None
        if chunk is None:
            chunk = self._buffers[(key, epoch)] = self._new_chunk(
                max(self.chunk_rows, n), emb.shape[1], scores.shape[1], are_logits
            )
        chunk.add(ids_a, emb, scores)
        if chunk.n == len(chunk.ids):
            self._hand_over(key, epoch)
        self._raise_writer_error()

    def _new_chunk(self, rows: int, dim: int, width: int, are_logits: bool) -> _Chunk:
        try:
            chunk = self._spare.pop()
        except IndexError:
            chunk = None
        if chunk is None or not chunk.fits(rows, dim, width):
            return _Chunk(rows, dim, width, are_logits)
        chunk.are_logits, chunk.n = are_logits, 0
        return chunk

    def _hand_over(self, key: str, epoch: int) -> None:
        """Queue a full (or final) chunk for the writer; wait while the queue is full (back-pressure)."""
        chunk = self._buffers.pop((key, epoch))
        if chunk.n == 0:
            return
        item = (
            (key, epoch, chunk.ids[: chunk.n], chunk.emb[: chunk.n], chunk.scores[: chunk.n], chunk.are_logits),
            chunk,
        )
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.stats["blocked_puts"] += 1
            while True:
                self._raise_writer_error()
                try:
                    self._queue.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
        self.stats["max_queued"] = max(self.stats["max_queued"], self._queue.qsize())

    def _write_loop(self) -> None:
        started = time.thread_time()
        while True:
            entry = self._queue.get()
            try:
                if entry is None:
                    return
                item, chunk = entry
                del entry
                if self._error is None:
                    self._write(*item)
                del item  # the chunk's arrays, viewed by the written batch: it may be filled again now
                # two spares at most: the queue and the chunk being filled bound the memory, not the spares
                if len(self._spare) < 2 and len(chunk.ids) == self.chunk_rows:
                    self._spare.append(chunk)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc
            finally:
                # before task_done, so that flush() returns with the figure up to date
                self.stats["writer_cpu_s"] = time.thread_time() - started
                self._queue.task_done()

    def _write(self, key: str, epoch: int, ids, emb, scores, are_logits: bool) -> None:
        if are_logits:
            probs = _sigmoid(scores) if self.multi_label else _softmax(scores)
        else:
            probs = scores
        where = f"split {key}, epoch {epoch}"
        if not np.isfinite(emb).all():
            raise RunValidationError(f"{where}: embeddings contain NaN or infinity")
        if not np.isfinite(probs).all():
            raise RunValidationError(f"{where}: {'logits' if are_logits else 'probs'} contain NaN or infinity")
        if not are_logits and (probs.min() < -1e-4 or probs.max() > 1 + 1e-4):
            raise RunValidationError(f"{where}: probs lie outside [0, 1]; pass logits= for raw scores")
        n, dim = emb.shape
        batch = pa.record_batch(
            {
                "id": pa.array(ids),
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), dim),
                "probs": pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), probs.shape[1]),
            }
        )
        if (key, epoch) not in self._outputs:
            folder = self.dir / "outputs" / key
            folder.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(folder / f"epoch={epoch}.arrows"), "wb")
            self._outputs[(key, epoch)] = (ipc.new_stream(sink, batch.schema), sink)
        self._outputs[(key, epoch)][0].write_batch(batch)
        self.stats["batches"] += 1
        self.stats["rows"] += n

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            error = self._error
            raise RunValidationError(f"a logged batch was refused: {error}") from error

    def _check_open(self) -> None:
        if self._finished:
            raise RunValidationError("this run is finished: call init() for a new run")

    # --- finish ----------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait until every logged batch is on disk."""
        for key, epoch in list(self._buffers):
            self._hand_over(key, epoch)
        self._queue.join()
        self._raise_writer_error()

    def _close_writers(self) -> None:
        for key, epoch in list(self._buffers):
            self._hand_over(key, epoch)
        self._queue.put(None)
        self._writer.join()
        self._spare.clear()  # nothing more is logged: the reusable chunk buffers go
        for writer, _, sink in self._inputs.values():
            writer.close()
            sink.close()
        for writer, sink in self._outputs.values():
            writer.close()
            sink.close()
        self._raise_writer_error()

    def prepare(self) -> dict:
        """Join, validate and write the upload bundle; returns the manifest (with a ``report`` per split)."""
        from .bundle import build_bundle

        if not self._finished:
            self._finished = True
            self._close_writers()
        return build_bundle(self)

    def finish(self, *, wait: bool = False, verbose: bool = True, progress: bool = True) -> RunJob:
        """Validate, print a summary, upload (resumable) and start processing; returns the run's job.

        Raises `RunValidationError` for unknown ids, missing epochs, incomplete epochs other than the last,
        duplicate ids and shape mismatches, and `ServicesError` for what the server refuses."""
        from .bundle import describe
        from .upload import upload_bundle

        manifest = self.prepare()
        if verbose:
            print(describe(manifest, self.dir / "bundle"))
        run, job = upload_bundle(self, self.dir / "bundle", progress=progress and verbose)
        handle = RunJob(self.http, run["run_id"], job)
        if wait:
            handle.wait(progress=progress)
        return handle

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class RunJob:
    """The uploaded run and its processing job: wait for it, then read its signals."""

    def __init__(self, http: Http, run_id: str, job: dict):
        self.http, self.run_id, self.job = http, run_id, job

    def __repr__(self) -> str:
        return f"RunJob(run_id={self.run_id!r}, job_id={self.job['id']!r}, status={self.job['status']!r})"

    @property
    def id(self) -> str:
        return self.job["id"]

    @property
    def status(self) -> str:
        return self.job["status"]

    def wait(self, *, progress: bool = True, timeout: float | None = None) -> dict:
        self.job = self.http.wait(self.job, progress=progress, timeout=timeout)
        return self.job

    def summary(self) -> dict:
        return self.http.json("GET", f"/api/runs/{self.run_id}/summary")

    def samples_page(self, **query) -> dict:
        return self.http.json("GET", f"/api/runs/{self.run_id}/samples", params=_query(query))

    def samples(
        self,
        split: str = "training",
        *,
        filter: str | None = None,
        sort: str = "dep",
        descending: bool = True,
        limit: int | None = None,
        as_pandas: bool = True,
    ):
        """Every sample that passes ``filter`` (all pages), as a pandas DataFrame (or a pyarrow Table)."""
        rows: list[dict] = []
        page = 1
        while True:
            size = 1000 if limit is None else min(1000, max(1, limit - len(rows)))
            body = self.samples_page(
                split=split, filter=filter, sort=sort, descending=descending, page=page, page_size=size
            )
            rows.extend(body["items"])
            if not body["items"] or len(rows) >= body["total"] or (limit is not None and len(rows) >= limit):
                break
            page += 1
        table = pa.Table.from_pylist(rows)
        return table.to_pandas() if as_pandas else table

    def export(
        self,
        path: str | os.PathLike,
        *,
        split: str = "training",
        format: str = "csv",
        filter: str | None = "likely_mislabelled",
    ) -> Path:
        """Write the samples to relabel to ``path`` (CSV or Label Studio import JSON)."""
        response = self.http.request(
            "GET",
            f"/api/runs/{self.run_id}/export",
            params=_query({"split": split, "format": format, "filter": filter or ""}),
        )
        Path(path).write_bytes(response.content)
        return Path(path)

    def compare(self, other: RunJob | str, *, split: str = "training") -> dict:
        other_id = other.run_id if isinstance(other, RunJob) else other
        return self.http.json("GET", f"/api/runs/{self.run_id}/compare/{other_id}", params={"split": split})


def _query(params: dict) -> dict:
    return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


__all__ = ["Run", "RunJob", "ServicesError"]
