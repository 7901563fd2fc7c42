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
so the Thrift footer stays valid) rather than reading the input twice. The
output's own sha256 is computed once it is complete (see `_sha256`).
"""

# ruff: noqa: S608 - SQL is built from identifiers and literals quoted by the reader's _lit
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

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
    # PRESERVE_ORDER although the connection preserves insertion order: DuckDB (2.0) wrote a query whose
    # plan holds a join (an IN list of five or more constants becomes one) with its parallel COPY, which
    # interleaves row groups from both threads, and a CSV's rows came out of order. The flag makes it keep
    # the order whatever the plan; the reader's own queries avoid such joins, so the COPY stays parallel.
    parts = [
        "FORMAT parquet",
        "PRESERVE_ORDER true",
        f"COMPRESSION {opts.compression}",
        f"ROW_GROUP_SIZE {opts.row_group_size}",
    ]
    if opts.compression == "zstd":
        level = ZSTD_DEFAULT_LEVEL if opts.compression_level is None else opts.compression_level
        parts.append(f"COMPRESSION_LEVEL {level}")
    if opts.parquet_version == "v2":
        parts.append("PARQUET_VERSION V2")
    kv = ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in meta.items())
    parts.append(f"KV_METADATA {{{kv}}}")
    return ", ".join(parts)


def _recorded_options(opts: ConvertOptions) -> dict:
    """The options as applied, for the output's metadata: zstd's level is the one used, not null."""
    options = opts.as_dict()
    if opts.compression == "zstd" and opts.compression_level is None:
        options["compression_level"] = ZSTD_DEFAULT_LEVEL
    return options


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
    # An output is hashed once it is complete, never while DuckDB writes it: DuckDB's threads write the
    # column chunks of a row group at once, each at its own offset (pwrite), so the file grows past regions
    # not yet written, and a reader that follows its size reads zeros there (an earlier version did, and
    # reported a wrong sha256 about one time in five under load).
    # file_digest reads into one reused buffer: about 9% less CPU than read() + update() on a 1 GB file
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


# DuckDB's type of a column read back from a Parquet file -> the name Arrow gives the same column
# (``str(pyarrow.parquet.read_schema(path).field(name).type)``); decimals are mapped by `_DECIMAL`
_ARROW_NAMES = {
    "BOOLEAN": "bool",
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float",
    "DOUBLE": "double",
    "VARCHAR": "string",
    "BLOB": "binary",
    "DATE": "date32[day]",
    "TIME": "time64[us]",
    "TIMESTAMP": "timestamp[us]",
    "TIMESTAMP WITH TIME ZONE": "timestamp[us, tz=UTC]",
}
_DECIMAL = re.compile(r"DECIMAL\((\d+),(\d+)\)")
_MICROS = ("TIMESTAMP_MICROS", "TIME_MICROS")


def _written_schema(path: Path) -> tuple[int, list[tuple[str, str]]]:
    """(rows, [(column, Arrow's name of its type)]) of a Parquet file just written, from its footer.

    DuckDB reads the footer when every column has a type in `_ARROW_NAMES`: a CSV's conversion then never
    imports pyarrow (about 0.07 s of a command's start-up). Any other schema (nested types, UUID,
    INTERVAL, names DuckDB would rename on reading) is read by pyarrow, whose names these are."""
    con, where = connection(), _lit(str(path))
    described = con.execute(f"DESCRIBE SELECT * FROM read_parquet({where})").fetchall()
    footer = con.execute(f"SELECT name, converted_type FROM parquet_schema({where})").fetchall()[1:]
    columns = []
    for (name, duck_type, *_), (_, converted) in zip(described, footer, strict=False):
        decimal = _DECIMAL.fullmatch(duck_type)
        arrow = _ARROW_NAMES.get(duck_type) or (f"decimal128({decimal[1]}, {decimal[2]})" if decimal else None)
        if arrow is None or (duck_type.startswith(("TIME", "TIMESTAMP")) and converted not in _MICROS):
            break  # DuckDB reads milli- and nanosecond times as its own (microsecond) types
        columns.append((name, arrow))
    else:
        if [n for n, _ in footer] == [c for c, _ in columns]:
            rows = con.execute(f"SELECT num_rows FROM parquet_file_metadata({where})").fetchall()[0][0]
            return rows, columns
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    return meta.num_rows, [(f.name, str(f.type)) for f in meta.schema.to_arrow_schema()]


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
        raise ConversionError(f"{src.name} is not a file (it was moved or removed)", code="not_found")
    key_before = hashes.stat_key(src)  # the file hashed and read must be the one there at the end (below)
    size = key_before[2] if key_before else src.stat().st_size
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
        if hashes.stat_key(src) != key_before:
            # written to while it was hashed and read: the recorded sha256 could belong to other bytes
            raise ConversionError(
                f"{src.name} changed while it was being converted; convert it again once it is complete",
                code="source_changed",
            )
        outputs = []
        for tmp, target, plan in pending:
            with _writing(target.name):
                _patch_footer(tmp, placeholder.encode(), digest.encode())
            rows, columns = _written_schema(tmp)
            warn_header(plan, [c for c, _ in columns], work)
            if rows == 0 and kind.format in ("csv", "tsv", "txt"):
                work.warn("no data rows (header only)")
            if len(pending) == 1:
                work.report.set_types(dict(columns))
                work.report.rows = rows
            outputs.append(
                {
                    "table": plan.table,
                    "location": locate(target),
                    "rows": rows,
                    "columns": len(columns),
                    "schema": dict(columns),
                    "bytes_out": tmp.stat().st_size,
                    "sha256": _sha256(tmp),
                    "_tmp": tmp,
                    "_target": target,
                }
            )
        for o in outputs:  # all tables of a file appear together, or none
            with _writing(o["_target"].name):
                os.replace(o.pop("_tmp"), o.pop("_target"))
    except BaseException:
        if hasher is not None and hasher.is_alive():
            hasher.join()
        raise
    finally:
        for tmp, _, _ in pending:
            with contextlib.suppress(OSError):  # not there (the usual case), or never creatable
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
        with contextlib.suppress(OSError):
            tmp.unlink()
    pending.clear()
    names = _sheet_files(plans, work) if multi else []
    for i, plan in enumerate(plans):
        if cancel_check:
            cancel_check()
        target = out.with_suffix("") / names[i] if multi else out
        with _writing(target.name):
            target.parent.mkdir(parents=True, exist_ok=True)
        # at most 214 bytes: a name the file system takes whenever it takes the output's own name (255 bytes)
        short = target.name.encode()[:200].decode("utf-8", "ignore")
        tmp = target.with_name(f".{short}.{uuid.uuid4().hex[:8]}.tmp")
        pending.append((tmp, target, plan))
        meta = {
            "source": source_location or str(src),
            "source_sha256": placeholder,
            "source_format": kind.format + (".gz" if kind.gzip else ""),
            "options": json.dumps(_recorded_options(opts), sort_keys=True),
            "converter": "services.conversion",
            "converter_version": CONVERTER_VERSION,
            **plan.extra_meta,
        }
        _run(plan, opts, work, lambda sql, tmp=tmp, meta=meta, name=target.name: _copy(sql, tmp, name, meta, opts))


def _copy(sql: str, tmp: Path, name: str, meta: dict[str, str], opts: ConvertOptions) -> None:
    """One COPY into ``tmp``, the temporary file of the output ``name`` (a retried COPY, after a column was
    widened, starts the file again)."""
    with _writing(name), contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        connection().execute(f"COPY ({sql}) TO {_lit(str(tmp))} ({_copy_options(opts, meta)})")
    except Exception as exc:
        msg = str(exc)
        if tmp.name not in msg:
            raise  # about the input: the reader's to explain
        # DuckDB could not create or write the output (a full disk, a file size limit, a folder not writable)
        code = _ERRNO.search(msg)
        named = re.search(re.escape(tmp.name) + r'\\?"?:\s*([^"{}]+)', msg)
        why = os.strerror(int(code[1])) if code else (named[1].strip() if named else "the file system refused it")
        raise ConversionError(f"cannot write the output {name}: {why}", code="write_error") from None


_ERRNO = re.compile(r'"errno"\s*:\s*"?(\d+)')


@contextlib.contextmanager
def _writing(name: str):
    """An OSError while creating or writing the output ``name`` becomes a per-file ``write_error`` that
    names the output and the reason, never a server path."""
    try:
        yield
    except OSError as exc:
        raise ConversionError(f"cannot write the output {name}: {exc.strerror or exc}", code="write_error") from None


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_ ." else "_" for c in name).strip(" .") or "sheet"
    return cleaned[:120]


def _sheet_files(plans: list[Plan], work: _Work) -> list[str]:
    """One file name per sheet, never the same twice: sheets whose names differ only in characters a file
    name cannot hold ("a!b", "a#b"), or only in case (a file system may not tell them apart), get a number
    (``a_b_2.parquet``), with a warning; otherwise the second would overwrite the first."""
    names, taken = [], set()
    for plan in plans:
        base = _safe(plan.table or "sheet")
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.casefold())
        if n > 1:
            work.warn(f"sheet {plan.table!r} written as {name}.parquet: its name clashes with another sheet's file")
        names.append(f"{name}.parquet")
    return names
