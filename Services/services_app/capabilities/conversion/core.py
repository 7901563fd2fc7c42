"""The conversion engine: one input file to Parquet (one per table).

Reading is the table reader's (`services_app.tables`): its plan for a file is
a DuckDB SELECT that this module streams straight into a Parquet writer
(bounded memory), so a converted file holds exactly what `tables.read` gives,
with the same report of decisions (encoding, delimiter, skipped lines, number
locale, per-column types and values that did not fit). Workbooks and PDFs are
read into Arrow by the reader and written through the same writer.

Every output carries key-value metadata (source, source_sha256, options,
converter_version, ...) and is written under a temporary name, renamed when
complete. The source hash is computed in a thread while DuckDB converts, and
stamped into a fixed-width placeholder in the footer afterwards (same length,
so the Thrift footer stays valid) rather than reading the input twice.
"""

# ruff: noqa: S608 - SQL is built from identifiers and literals quoted by the reader's _lit
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq

from ...tables import TableError as ConversionError
from ...tables import detect_format
from ...tables.engine import Plan, _encoding_fallback, _lit, _run, _Work, connection, make_plans, warn_header
from . import hashes
from .options import ConvertOptions

CONVERTER_VERSION = "1.0.0"
# zstd level 1 rather than the writer's default 3: measured on the benchmark CSV, output 2% larger for about
# 10% less CPU in the whole conversion (compression is a large share of it). `compression_level` overrides.
ZSTD_DEFAULT_LEVEL = 1
HASH_INLINE_BYTES = 8 * 1024 * 1024


# --- writing ---------------------------------------------------------------------------------
def _copy_options(opts: ConvertOptions, meta: dict[str, str]) -> str:
    parts = ["FORMAT parquet", f"COMPRESSION {opts.compression}", f"ROW_GROUP_SIZE {opts.row_group_size}"]
    if opts.compression == "zstd":
        level = ZSTD_DEFAULT_LEVEL if opts.compression_level is None else opts.compression_level
        parts.append(f"COMPRESSION_LEVEL {level}")
    if opts.parquet_version == "v2":
        parts.append("PARQUET_VERSION V2")
    kv = ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in meta.items())
    parts.append(f"KV_METADATA {{{kv}}}")
    return ", ".join(parts)


def _patch_footer(path: Path, placeholder: bytes, value: bytes) -> None:
    """Overwrite a same-length placeholder in the Parquet footer (key-value metadata is not compressed)."""
    assert len(placeholder) == len(value)
    with open(path, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        footer_len = int.from_bytes(f.read(4), "little")
        start = f.seek(-8 - footer_len, os.SEEK_END)
        footer = f.read(footer_len)
        pos = footer.find(placeholder)
        if pos < 0:
            raise RuntimeError("metadata placeholder not found in the Parquet footer")
        f.seek(start + pos)
        f.write(value)


def _sha256(path: Path) -> str:
    # file_digest reads into one reused buffer: about 9% less CPU than read() + update() on a 1 GB file
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _schema_of(meta) -> dict[str, str]:
    schema = meta.schema.to_arrow_schema()
    return {f.name: str(f.type) for f in schema}


def convert_file(
    src: str | Path,
    out: str | Path,
    options: ConvertOptions | dict | None = None,
    *,
    source_location: str | None = None,
    relative_path: str | None = None,
    locate: Callable[[Path], str] | None = None,
    cancel_check: Callable[[], None] | None = None,
    known_sha256: str | None = None,
) -> dict:
    """Convert one file to Parquet at ``out`` and return its report entry.

    ``known_sha256``: the source's sha256 when the caller already knows it (an upload's content
    address, a cached hash of an unchanged file; see ``hashes.py``): the file is then not read
    a second time to hash it.

    Workbooks write one Parquet per sheet into the folder ``out`` without its
    suffix (``book.parquet`` -> ``book/<sheet>.parquet``). Raises
    `ServiceError` (a `ConversionError` for problems with the file itself);
    nothing is left at ``out`` when it raises."""
    started = time.monotonic()
    src, out = Path(src), Path(out)
    opts = options if isinstance(options, ConvertOptions) else ConvertOptions.from_dict(options)
    locate = locate or str
    kind = detect_format(src, opts.format_for(relative_path or src.name))
    if kind is None:
        raise ConversionError(f"{src.name}: not a supported format", code="unsupported_format")
    if not src.is_file():
        raise ConversionError(f"{src} is not a file", code="not_found")
    size = src.stat().st_size
    work = _Work()
    work.report.format = kind.format + (".gz" if kind.gzip else "")
    # the source's sha256: known, or computed inline (a small file), or in a thread while DuckDB reads (one
    # `hashes.prefetch` may already have started before the imports)
    digest = known_sha256 or ""
    hash_error: BaseException | None = None
    hasher: hashes.Digest | None = None
    if not digest:
        if size <= HASH_INLINE_BYTES:
            try:
                digest = hashes.file_sha256(src)
            except OSError as exc:
                hash_error = exc
        else:
            hasher = hashes.begin(src)
    placeholder = ("sha256-pending-" + uuid.uuid4().hex + uuid.uuid4().hex)[:64]
    pending: list[tuple[Path, Path, Plan]] = []
    try:
        if size == 0:
            raise ConversionError("the file is empty: there is nothing to convert", code="empty_file")
        plans = make_plans(src, kind, opts, work)
        try:
            _write_all(plans, pending, src, out, kind, opts, work, placeholder, source_location, cancel_check)
        except ConversionError as exc:
            plans = _encoding_fallback(exc, plans, src, kind, opts, work)
            _write_all(plans, pending, src, out, kind, opts, work, placeholder, source_location, cancel_check)

        if hasher is not None:
            try:
                digest = hasher.result()
            except OSError as exc:
                hash_error = exc
        if hash_error is not None:
            raise ConversionError(f"cannot read the file: {hash_error}", code="read_error")
        outputs = []
        for tmp, target, plan in pending:
            _patch_footer(tmp, placeholder.encode(), digest.encode())
            meta = pq.read_metadata(tmp)
            warn_header(plan, meta.schema.to_arrow_schema().names, work)
            if meta.num_rows == 0 and kind.format in ("csv", "tsv", "txt"):
                work.warn("no data rows (header only)")
            if len(pending) == 1:
                work.report.set_schema(meta.schema.to_arrow_schema())
                work.report.rows = meta.num_rows
            outputs.append(
                {
                    "table": plan.table,
                    "location": locate(target),
                    "rows": meta.num_rows,
                    "columns": meta.num_columns,
                    "schema": _schema_of(meta),
                    "bytes_out": tmp.stat().st_size,
                    "sha256": _sha256(tmp),
                    "_tmp": tmp,
                    "_target": target,
                }
            )
        for o in outputs:  # all tables of a file appear together, or none
            os.replace(o.pop("_tmp"), o.pop("_target"))
    except BaseException:
        if hasher is not None and hasher.is_alive():
            hasher.join()
        raise
    finally:
        for tmp, _, _ in pending:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        for t in work.temps:
            with contextlib.suppress(FileNotFoundError):
                t.unlink()
    info = plans[0].info if plans else {}
    return {
        "source": source_location or str(src),
        "status": "converted",
        "format": kind.format + (".gz" if kind.gzip else ""),
        "bytes_in": size,
        "sha256": digest,
        "encoding": work.report.encoding or info.get("encoding"),
        "delimiter": work.report.delimiter,
        "rows": sum(o["rows"] for o in outputs),
        "columns": max((o["columns"] for o in outputs), default=0),
        "bytes_out": sum(o["bytes_out"] for o in outputs),
        "outputs": outputs,
        "seconds": round(time.monotonic() - started, 4),
        "warnings": work.warnings,
        "read": work.report.as_dict(),
        "error": None,
    }


def _write_all(plans, pending, src, out, kind, opts, work, placeholder, source_location, cancel_check) -> None:
    multi = kind.format in ("xlsx", "xls")
    for tmp, _, _ in pending:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    pending.clear()
    for plan in plans:
        if cancel_check:
            cancel_check()
        target = out.with_suffix("") / f"{_safe(plan.table or 'sheet')}.parquet" if multi else out
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        pending.append((tmp, target, plan))
        meta = {
            "source": source_location or str(src),
            "source_sha256": placeholder,
            "source_format": kind.format + (".gz" if kind.gzip else ""),
            "options": json.dumps(opts.as_dict(), sort_keys=True),
            "converter": "services.conversion",
            "converter_version": CONVERTER_VERSION,
            **plan.extra_meta,
        }
        _run(
            plan,
            opts,
            work,
            lambda sql, tmp=tmp, meta=meta: connection().execute(
                f"COPY ({sql}) TO {_lit(str(tmp))} ({_copy_options(opts, meta)})"
            ),
        )


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_ ." else "_" for c in name).strip(" .") or "sheet"
    return cleaned[:120]
