"""The reading engine: any supported file to Arrow, through DuckDB, with a report.

Delimited text and JSON are read by DuckDB (it types timestamps, dates,
booleans and nested JSON well), after our own detection: encoding (ranked,
see `detect.rank_encodings`), delimiter (whitespace included), preamble
lines, and number locale per column (`locale.py`). Types are inferred from a
sample and every row is then read strictly against them: a value that does
not fit stops the read, the file is read again with whole-file inference,
and only the offending columns widen (reported per column with how many
values did not fit and examples). Workbooks and PDFs are read into Arrow
(calamine; pypdfium2 in a child process) and typed cell by cell.

`plan` + `select_for` give a SELECT statement that the conversion streams into
a Parquet writer (bounded memory); `read_table` fetches the same statement
into memory.
"""

# ruff: noqa: S608 - SQL is built from identifiers and literals quoted by _ident/_lit
from __future__ import annotations

import codecs
import contextlib
import copy
import gzip
import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ServiceError
from . import locale as numlocale
from .detect import (
    SAMPLE_BYTES,
    WHITESPACE,
    FileKind,
    TableError,
    check_text,
    decode_sample,
    detect_delimiter,
    detect_format,
    detect_preamble,
    find_structure_error,
    first_record,
    has_header,
    rank_encodings,
    read_sample,
    split_fields,
)
from .options import NUMERIC_TYPES, ReadOptions
from .report import ReadReport

if TYPE_CHECKING:  # pyarrow is imported where it is used: a CSV converted to Parquet needs it only at the end
    import pyarrow as pa

_local = threading.local()


_inherited: list[threading.local] = []


def _forget_connection_in_child() -> None:
    """A forked child (the knowledge base's pool) never uses its parent's DuckDB connection, whose worker
    threads did not survive the fork: it opens its own on first use. The parent's is kept referenced, never
    closed: closing it would join threads that do not exist in the child."""
    global _local
    _inherited.append(_local)
    _local = threading.local()


os.register_at_fork(after_in_child=_forget_connection_in_child)


_local = threading.local()


# --- DuckDB ---------------------------------------------------------------------------
def connection():
    """A DuckDB connection for this thread, configured for bounded memory.

    ``CONVERSION_MEMORY_LIMIT`` (default 600MB) caps DuckDB's buffer pool;
    ``CONVERSION_THREADS`` (default: all cores) its threads."""
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = duckdb.connect(":memory:")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET memory_limit = {_lit(os.environ.get('CONVERSION_MEMORY_LIMIT', '600MB'))}")
        threads = int(os.environ.get("CONVERSION_THREADS", "0") or 0) or (os.cpu_count() or 2)
        con.execute(f"SET threads = {threads}")
        con.execute("SET preserve_insertion_order = true")
        con.execute("SET TimeZone = 'UTC'")  # a time without an offset in a TIMESTAMPTZ column is UTC
        _local.con = con
    return con


def close_connection() -> None:
    """Close this thread's DuckDB connection, if it has one (DuckDB then removes any files it spilled
    to its temporary directory)."""
    con = getattr(_local, "con", None)
    if con is not None:
        _local.con = None
        con.close()


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _clean(msg: str, limit: int = 600) -> str:
    """A DuckDB error message without the (possibly huge) offending line, the SQL it ran, or a server path.

    DuckDB quotes the statement after ``LINE 1:`` (with the absolute path of the file it read) and names
    files by absolute path; what a user sees names the file by its base name only."""
    msg = re.sub(r"(Original Line:\s*)(.{0,120}).*?(\n|$)", r"\1\2…\3", msg, flags=re.S)
    msg = msg.split("\n\n  file =")[0].split("Possible solutions:")[0]
    msg = re.split(r"\s*LINE \d+:", msg)[0]
    msg = re.sub(r"(['\"]?)(/[^'\"\s]+/)([^/'\"\s]+)\1", r"\1\3\1", msg)
    msg = " ".join(msg.split())
    return msg[:limit]


# --- plans: what to read ---------------------------------------------------------------
@dataclass
class Plan:
    """How to read one table: a DuckDB FROM clause (and a whole-file fallback)."""

    from_sql: str
    retry_from_sql: str | None = None
    table: str | None = None  # sheet name for workbooks
    arrow: pa.Table | None = None
    extra_meta: dict[str, str] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    locale_columns: dict[str, tuple] = field(default_factory=dict)  # column -> (NumberLocale, DuckDB type)
    date_columns: dict[str, str] = field(default_factory=dict)  # column -> strptime format (day/month order decided)
    text_columns: set[str] = field(default_factory=set)  # columns widened to text after verification
    verify: dict[str, str] = field(default_factory=dict)  # column -> sniffed type, checked value by value
    widened: dict[str, str] = field(default_factory=dict)  # column -> type after a value did not fit
    verify_ready: bool = False
    verify_given: set[str] = field(default_factory=set)  # verified columns whose type the user gave


@dataclass
class _Work:
    report: ReadReport = field(default_factory=ReadReport)
    temps: list[Path] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        return self.report.warnings

    def warn(self, msg: str) -> None:
        self.report.warn(msg)


def _native_encoding(enc: str) -> str | None:
    name = codecs.lookup(enc).name
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8"
    if name in ("iso8859-1", "latin-1"):
        return "latin-1"
    return None


def _transcode(src: Path, kind: FileKind, enc: str, work: _Work, *, errors: str = "strict") -> Path:
    """A UTF-8 copy of a text file in another encoding (DuckDB reads UTF-8 and latin-1 only)."""
    tmp = src.with_name(f".{src.name}.{uuid.uuid4().hex[:8]}.utf8.tmp")
    if not os.access(src.parent, os.W_OK):
        import tempfile

        tmp = Path(tempfile.gettempdir()) / tmp.name
    work.temps.append(tmp)
    opener = gzip.open if kind.gzip else open
    try:
        with opener(src, "rb") as raw, open(tmp, "w", encoding="utf-8", newline="") as out:
            reader = codecs.getreader(enc)(raw, errors=errors)
            while chunk := reader.read(1 << 20):
                out.write(chunk.lstrip("\ufeff") if out.tell() == 0 else chunk)
    except UnicodeDecodeError as exc:
        raise TableError(
            f"the file is not valid {enc} text (byte {exc.start} of a chunk: {exc.reason}); give the right `encoding`",
            code="encoding_error",
        ) from None
    except (OSError, EOFError) as exc:
        raise TableError(f"cannot read the file: {exc}", code="corrupt_file") from None
    return tmp


def _encoding_warning(guess, enc: str) -> str:
    sample = guess.candidates[0]["sample"] if guess.candidates else ""
    msg = f"the file is not UTF-8; decoded as {enc} (sample: {sample!r})"
    if guess.uncertain and len(guess.candidates) > 1:
        alt = guess.candidates[1]
        msg += f"; {alt['encoding']} would read {alt['sample']!r}"
    return msg + "; set the `encoding` option if the sample reads wrong"


# Below this size a file is read with ``comment=''`` without asking the sniffer first; above it the sniffer is
# asked (about 0.03 s on 1 GB), since the explicit empty comment costs DuckDB's reader about 3% more CPU.
COMMENT_SNIFF_BYTES = 16 * 1024 * 1024


def _sniffs_a_comment(args: list[str], path: Path) -> bool:
    """Whether DuckDB's sniffer, given these read_csv arguments, would take some lines for comments (and
    drop them). Small files are not asked: the answer is yes."""
    try:
        if path.stat().st_size < COMMENT_SNIFF_BYTES:
            return True
        found = connection().execute(f"SELECT Comment FROM sniff_csv({', '.join(args)})").fetchone()
    except Exception:  # noqa: BLE001 - when in doubt, no comments: the read itself reports any problem
        return True
    return not found or found[0] not in ("(empty)", "", None)


def csv_buffer_size(max_line_size: int) -> int:
    """Bytes per DuckDB CSV read buffer for lines of up to ``max_line_size`` bytes (DuckDB requires a
    buffer at least as large as the longest line)."""
    return max(2 * max_line_size, 16 * 1024 * 1024)


def _last_line_fits(path: Path, buffer_size: int) -> bool:
    """Whether the last line of a plain (not compressed) file is shorter than one CSV read buffer.

    DuckDB (2.0) drops a last line longer than its read buffer without a word, where a line longer than
    max_line_size anywhere else is an error; such a file is refused here the same way. Reads the file's
    last 64 KiB, and the last buffer's worth only when those hold no line break."""
    size = path.stat().st_size
    if size <= buffer_size:
        return True
    with open(path, "rb") as f:
        for want in (64 * 1024, buffer_size + 2):
            n = min(size, want)
            f.seek(size - n)
            body = f.read(n).rstrip(b"\r\n")  # a line break that ends the file ends the last line
            if b"\n" in body or b"\r" in body:
                return True
    return len(body) < buffer_size


def _text_source(src: Path, kind: FileKind, opts: ReadOptions, work: _Work) -> tuple[Path, str, dict]:
    """(path DuckDB reads, its encoding, info) after checks and transcoding."""
    sample = read_sample(src, is_gzip=kind.gzip)
    check_text(sample)
    report = work.report
    if opts.encoding:
        enc = opts.encoding
        report.encoding_decision = "given"
    else:
        guess = rank_encodings(sample, truncated=len(sample) >= SAMPLE_BYTES)
        enc = guess.encoding
        report.encoding_decision = guess.decision
        report.encoding_candidates = guess.candidates
        if guess.decision == "detected":
            work.warn(_encoding_warning(guess, enc))
    report.encoding = enc
    info = {"encoding": enc, "sample": decode_sample(sample, enc), "ascii_sample": sample.isascii()}
    native = _native_encoding(enc)
    if kind.format in ("json", "jsonl") and native == "latin-1":
        native = None  # DuckDB's JSON reader needs UTF-8
    if native is None:
        return _transcode(src, kind, enc, work), "utf-8", info
    return src, native, info


def _whitespace_copy(src: Path, enc: str, work: _Work) -> Path:
    """A tab-delimited copy of a file whose fields are separated by runs of spaces (DuckDB takes one
    delimiter character)."""
    tmp = src.with_name(f".{src.name}.{uuid.uuid4().hex[:8]}.ws.tmp")
    if not os.access(src.parent, os.W_OK):
        import tempfile

        tmp = Path(tempfile.gettempdir()) / tmp.name
    work.temps.append(tmp)
    opener = gzip.open if str(src).endswith(".gz") else open
    with opener(src, "rt", encoding=enc, errors="strict", newline="") as f, open(tmp, "w", encoding="utf-8") as out:
        for line in f:
            out.write("\t".join(line.split()) + "\n")
    return tmp


def plan_text(src: Path, kind: FileKind, opts: ReadOptions, work: _Work, *, path: Path | None = None) -> Plan:
    path_read, enc, info = (path, "utf-8", {"sample": ""}) if path else _text_source(src, kind, opts, work)
    if path:
        info = {"encoding": "utf-8", "sample": decode_sample(read_sample(path, is_gzip=False), "utf-8")}
    report = work.report
    report.format = kind.format + (".gz" if kind.gzip else "")
    if kind.format in ("json", "jsonl"):
        return _plan_json(path_read, kind, opts, info, work)
    text = info["sample"]
    quote = opts.quote or '"'
    delim = opts.delimiter or detect_delimiter(text, kind.format)
    report.delimiter_decision = "given" if opts.delimiter else "detected"
    lines_mode = (
        kind.format == "txt" and not opts.delimiter and delim != WHITESPACE and delim not in text.split("\n", 1)[0]
    )
    skip = 0
    if not lines_mode:
        if opts.skip_rows is not None:
            skip, report.skip_decision = opts.skip_rows, "given"
        else:
            skip = detect_preamble(text, delim, quote, comment=opts.comment)
            report.skip_decision = "detected"
        if skip:
            skipped = text.splitlines()[:skip]
            report.skipped_lines = skip
            report.skipped_sample = [ln[:200] for ln in skipped[:5]]
            if report.skip_decision == "detected":
                work.warn(
                    f"skipped {skip} line(s) before the table (preamble): {skipped[0][:120]!r}"
                    f"{' ...' if skip > 1 else ''}; set skip_rows (0 keeps every line) to override"
                )
    header = opts.header
    if delim in (" ", WHITESPACE) and not lines_mode:
        report.delimiter_decision = "whitespace" if not opts.delimiter else "given"
        if header is None:
            header = has_header(text, WHITESPACE, quote, skip)
            header = True if header is None else header
        if delim == WHITESPACE:
            path_read = _whitespace_copy(path_read, enc if enc != "utf-8" or path_read == src else "utf-8", work)
            enc, delim_sql = "utf-8", "\t"
        else:
            delim_sql = " "
    else:
        delim_sql = delim
    args = [_lit(str(path_read))]
    if lines_mode:
        # plain text without a delimiter: one row per line
        args += ["delim='\x1f'", "quote=''", "escape=''", "header=false", "columns={'text': 'VARCHAR'}"]
    else:
        # skip given explicitly: DuckDB's sniffer may otherwise skip leading rows it finds inconsistent,
        # silently losing data
        duck_skip = skip
        if opts.comment:  # DuckDB drops comment lines itself and counts `skip` over the others only
            duck_skip -= sum(1 for ln in text.splitlines()[:skip] if ln.lstrip().startswith(opts.comment))
        args += [f"delim={_lit(delim_sql)}", f"quote={_lit(quote)}", f"skip={duck_skip}"]
        if opts.comment:
            args.append(f"comment={_lit(opts.comment)}")
        if header is not None:
            args.append(f"header={'true' if header else 'false'}")
    if enc != "utf-8":
        args.append(f"encoding={_lit(enc)}")
    if path_read != src or not kind.gzip:
        args.append("compression='none'" if path_read != src else "compression='auto'")
    args.append(f"max_line_size={opts.max_line_size}")
    # DuckDB's CSV buffers are 16 x max_line_size by default (32 MB each, several per thread): under the
    # memory limit (`connection`) they crowd out the Parquet writer's row groups and the limit then holds
    # the threads back. 16 MB buffers read the same rows with about 10% less CPU, and peak memory stays
    # flat from a 1 GB to a 3 GB CSV; smaller ones (4-8 MB) were as fast on 1 GB but let peak memory grow
    # by a third on 3 GB (benches/bench_conversion.py). A line may span two buffers.
    buffer_size = csv_buffer_size(opts.max_line_size)
    args.append(f"buffer_size={buffer_size}")
    if (path_read != src or not kind.gzip) and not _last_line_fits(path_read, buffer_size):
        raise TableError(
            "the last line is longer than max_line_size; raise max_line_size if the file is genuine",
            code="line_too_long",
        )
    nulls = [""] + [v for v in opts.null_values if v != ""]
    args.append("nullstr=[" + ", ".join(_lit(v) for v in nulls) + "]")
    if not lines_mode and not opts.comment and _sniffs_a_comment(args, path_read):
        # no comment character unless one is given: DuckDB's sniffer would take lines starting with "#" for
        # comments and drop them without a word (a data row "#1000,..." vanished)
        args.append("comment=''")
    report.delimiter = None if lines_mode else ("whitespace" if delim == WHITESPACE else delim)
    report.header = False if lines_mode else header
    report.comment = opts.comment
    info.update(delimiter=None if lines_mode else delim_sql, quote=quote, encoding=info.get("encoding", enc))
    body_text = "\n".join(text.splitlines()[skip:]) + ("\n" if text.endswith(("\n", "\r")) else "") if skip else text
    info["header_fields"] = (
        []
        if lines_mode or header is False
        else first_record(body_text, delim_sql if delim != WHITESPACE else " ", quote)
    )
    info["path_read"] = path_read
    info["csv_encoding"] = enc
    info["skip"] = skip
    _warn_one_column(body_text, None if lines_mode else delim, quote, work)
    plan = Plan(from_sql="", info=info)
    plan.info["csv_args"] = args
    if not lines_mode:
        _plan_numbers(plan, body_text, delim, quote, header, opts, work)
        _plan_dates(plan, opts, work)
    _finish_csv(plan, opts)
    return plan


# a date written with day and month as numbers: 02/06/2024, 2.6.24, 02-06-2024 (an optional time after it)
_NUMERIC_DATE = re.compile(
    r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$"
)


def _plan_dates(plan: Plan, opts: ReadOptions, work: _Work) -> None:
    """Dates whose day and month are both numbers (02/06/2024): which comes first is decided here, not left
    to the CSV sniffer, and reported.

    A value with a first part above 12 makes the column day-first, a second part above 12 month-first. When no
    sampled value decides, day-first is assumed (the order of most of the world) and the warning shows the
    values and the `date_format` option to set. Such columns are read as text and cast with ``strptime`` in
    the select (a later value in another shape widens the column to text, reported); columns that disagree
    with each other are left to the sniffer and reported."""
    cols = plan.info.get("sample_columns") or []
    names = plan.info.get("header_fields") or []
    found: dict[str, tuple[str | None, str, bool, bool, list[str]]] = {}
    for i, values in enumerate(cols):
        values = [v for v in values if v.strip() and v not in opts.null_values]
        matches = [_NUMERIC_DATE.match(v) for v in values]
        if not values or not all(matches):
            continue
        first_high = any(int(m.group(1)) > 12 for m in matches)
        second_high = any(int(m.group(3)) > 12 for m in matches)
        if first_high and second_high and not opts.date_format:
            continue  # not dates in one order: the sniffer leaves them as text
        seps = {m.group(2) for m in matches}
        year4 = {len(m.group(4)) == 4 for m in matches}
        timed = any(" " in v.strip() or "T" in v for v in values)
        if len(seps) > 1 or len(year4) > 1:
            continue
        order = "dmy" if first_high else "mdy" if second_high else None
        name = names[i] if i < len(names) else f"column{i}"
        found[name] = (order, seps.pop(), year4.pop(), timed, values[:3])
    if not found:
        return
    if opts.date_format:  # given: every column of numeric dates is read with it (no time part: dates)
        for name, (*_, timed, _examples) in found.items():
            if not timed:
                plan.date_columns[name] = opts.date_format
                work.report.date_formats[name] = {"format": opts.date_format, "decision": "given"}
        return
    orders = {o for o, *_ in found.values() if o is not None}
    shapes = {(sep, y4) for _, sep, y4, _, _ in found.values()}
    if len(orders) > 1 or len(shapes) > 1:
        work.warn(
            f"date columns written in different orders or shapes ({', '.join(sorted(found))}): each is read as "
            "the file's sniffer decides; check them, or set `date_format` (one pattern for the whole file)"
        )
        return
    order = orders.pop() if orders else "dmy"
    sep, year4 = shapes.pop()
    year = "%Y" if year4 else "%y"
    fmt = f"%d{sep}%m{sep}{year}" if order == "dmy" else f"%m{sep}%d{sep}{year}"
    for name, (col_order, _sep, _y4, timed, examples) in found.items():
        if not timed:  # a date with a time keeps the sniffer's reading; the warning below still applies
            plan.date_columns[name] = fmt
            work.report.date_formats[name] = {"format": fmt, "decision": "detected" if col_order else "assumed"}
        if col_order is None:
            other = f"%m{sep}%d{sep}{year}" if order == "dmy" else f"%d{sep}%m{sep}{year}"
            work.warn(
                f"column {name!r}: no value shows whether the day or the month comes first (e.g. "
                f"{', '.join(examples)}); read as {'day' if order == 'dmy' else 'month'}-first ({fmt}). If the "
                f'dates are {"month" if order == "dmy" else "day"}-first, set the `date_format` option to "{other}"'
            )


def _warn_one_column(text: str, delim: str | None, quote: str, work: _Work) -> None:
    """A table of one column whose every line holds the same other separator the same number of times
    was probably split wrong: say so, with the option to set."""
    lines = [ln for ln in text.splitlines()[:200] if ln.strip()]
    if len(lines) < 2 or (
        delim is not None and delim != WHITESPACE and any(len(split_fields(ln, delim, quote)) > 1 for ln in lines)
    ):
        return
    if delim == WHITESPACE:
        return
    for sep in (";", ",", "\t", "|", ":"):
        counts = {ln.count(sep) for ln in lines}
        if len(counts) == 1 and counts.pop() > 0:
            shown = {"\t": "\\t"}.get(sep, sep)
            work.warn(
                f"the table has one column, yet every line holds {shown!r} the same number of times: the file is "
                f'probably delimited by {shown!r}; set the `delimiter` option (e.g. "{shown}")'
            )
            return


def _finish_csv(plan: Plan, opts: ReadOptions) -> None:
    """The read_csv call of a plan: the explicit types (locale columns read as text, cast in the select)."""
    args = list(plan.info["csv_args"])
    types = {c: t for c, t in opts.column_types.items() if c not in plan.locale_columns}
    types.update({c: "VARCHAR" for c in plan.locale_columns})
    types.update({c: "VARCHAR" for c in plan.date_columns if c not in opts.column_types})
    types.update({c: "VARCHAR" for c in plan.text_columns})
    types.update(plan.widened)
    # verified columns: integers read as text and cast strictly in the select (`_strict_cast`); ISO dates,
    # where `_setup_verification` found it safe, parsed by the reader itself with an explicit format,
    # which refuses a time after the date ("2024-01-01 10:00") where a plain DATE cast cuts it off
    native = plan.info.get("native_dates", False)
    verified = {
        c: ("DATE" if native and t == "DATE" else "VARCHAR")
        for c, t in plan.verify.items()
        if c not in types or c in plan.verify_given
    }
    date_arg = f", dateformat={_lit(ISO_DATE_FORMAT)}" if "DATE" in verified.values() else ""

    def call(extra: dict[str, str], tail: str = "") -> str:
        all_types = {**types, **extra}
        parts = list(args)
        if all_types and plan.info.get("delimiter") is not None:
            parts.append("types={" + ", ".join(f"{_lit(c)}: {_lit(t)}" for c, t in all_types.items()) + "}")
        return f"read_csv({', '.join(parts)}{tail})"

    plan.from_sql = call(verified, date_arg)
    # the whole-file retry infers every type again, except those the user gave: still checked value by value
    given = {c: t for c, t in verified.items() if c in plan.verify_given}
    plan.retry_from_sql = call(given, (date_arg if "DATE" in given.values() else "") + ", sample_size=-1")
    plan.info["raw_sql"] = f"read_csv({', '.join(args)}, all_varchar=true)"


def _sample_columns(body_text: str, delim: str, quote: str, header: bool | None) -> tuple[list[str], list[list[str]]]:
    """(header fields, columns of values) of the sample, parsed with Python's csv module."""
    lines = body_text.splitlines()
    if len(lines) > 1 and not body_text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of a sample may be cut off
    lines = lines[:2001]
    if delim == WHITESPACE:
        rows = [ln.split() for ln in lines if ln.strip()]
    else:
        import csv
        import io

        try:
            reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delim, quotechar=quote or None, strict=False)
            rows = [r for r in reader if r]
        except csv.Error:
            rows = [split_fields(ln, delim, quote) for ln in lines if ln.strip()]
    if not rows:
        return [], []
    head = rows[0] if header is not False else []
    body = rows[1:] if header is not False else rows
    width = len(rows[0])
    cols = [[r[i] for r in body if len(r) == width] for i in range(width)]
    return head, cols


def _plan_numbers(plan: Plan, body_text: str, delim: str, quote: str, header, opts: ReadOptions, work: _Work) -> None:
    """Columns holding numbers in a locale (decimal comma, thousands separators): read as text, cast in
    the select with the separators replaced. Columns explicitly typed numeric follow the given or the
    detected convention too."""
    head, cols = _sample_columns(body_text, delim, quote, header)
    plan.info["sample_columns"] = cols
    if not cols:
        return
    forced = None
    if opts.decimal is not None or opts.thousands is not None:
        dec = opts.decimal or ("," if opts.thousands == "." else ".")
        thou = opts.thousands if opts.thousands is not None else ("." if dec == "," else "")
        forced = numlocale.NumberLocale(dec, thou)
    by_position = {}
    for i, values in enumerate(cols):
        values = [v for v in values if v.strip() and v not in opts.null_values]
        if forced is not None:
            marks = {forced.decimal, forced.thousands, *numlocale.SPACES} - {""}
            if not any(m in v for v in values for m in marks):
                continue  # plain integers: the reader types them
            g = numlocale.guess_column(values, forced=forced)
            if g.locale is None:
                continue  # not numbers in that convention: the reader types them (a given type then fails loudly)
        else:
            g = numlocale.guess_column(values)
            if g.locale is None and not g.ambiguous:
                continue
        by_position[i] = g
    if not by_position:
        return
    try:  # the reader's column names (deduplicated, generated for a headerless file): one sniff
        names = [c for c, _ in _describe(connection(), "read_csv(" + ", ".join(plan.info["csv_args"]) + ")")]
    except Exception:  # noqa: BLE001 - the read reports it
        return
    if len(names) != len(cols):
        return
    guesses = {}
    for i, g in by_position.items():
        given = opts.column_types.get(names[i])
        if given and given not in NUMERIC_TYPES:
            continue
        guesses[names[i]] = g
    decided, ambiguous, assumed = numlocale.resolve(guesses, delim)
    for name in assumed:
        example = next((v for v in cols[names.index(name)] if v.strip()), "")
        work.warn(
            f"column {name!r}: values such as {example!r} read with a decimal point "
            f"({numlocale.parse(example, numlocale.DEFAULT)!r}); nothing in the file shows '.' separating "
            'thousands. If it does, set the `thousands` option to "." (and `decimal` to ",")'
        )
    for name in ambiguous:
        g = guesses[name]
        example = next((v for v in cols[names.index(name)] if v.strip()), "")
        work.warn(
            f"column {name!r} holds numbers whose convention is ambiguous ({example!r} reads as "
            + " or ".join(repr(numlocale.parse(example, loc)) for loc in g.ambiguous)
            + "); kept as text: set the `decimal` and `thousands` options to read it as a number"
        )
    for name, loc in decided.items():
        values = [v for v in cols[names.index(name)] if v.strip()]
        if loc == numlocale.DEFAULT and name not in opts.column_types:
            continue
        given = opts.column_types.get(name)
        target = given or ("BIGINT" if numlocale.is_integral(values, loc) else "DOUBLE")
        plan.locale_columns[name] = (loc, target)
        col = work.report.column(name)
        col.decision = "given" if given else "locale"
        col.note = f"numbers written with {loc.describe()}" + (" (given)" if forced else " (detected)")
        work.report.number_locale[name] = loc.as_dict()
        if forced is None and loc != numlocale.DEFAULT:
            if guesses[name].ambiguous:
                col.note += (
                    "; the values alone were ambiguous: decided by the file's other columns or its ';' delimiter"
                )
            work.warn(
                f"column {name!r}: numbers written with {loc.describe()}; read as {target.lower()}; "
                "set the `decimal`/`thousands` options to override"
            )


_HUGEINT = re.compile(r"\bHUGEINT\b")
# JSON as a type in a DuckDB type string (DuckDB's JSON reader gives it to a field whose values are of more than
# one JSON type): read as VARCHAR instead, which keeps a string's text without its quotes ("e", not "\"e\"").
# Not a struct field named JSON: a field's name is followed by a space, a type by "," ")" "[" or the end.
_JSON_TYPE = re.compile(r"(?:^|(?<=[ (]))JSON(?=$|[\[,)])")
_RENAMED = re.compile(r"(.+)_(\d+)")
_JSON_VERIFIED = ("BIGINT", "BOOLEAN", "DATE", "TIMESTAMP")


def _case_renamed(names: list[str]) -> list[tuple[str, str]]:
    """(key, column) for each column DuckDB renamed because its key differs only in case from another key
    (``name`` read as ``name_1`` beside ``Name``)."""
    folded = {n.casefold() for n in names}
    return [(m[1], n) for n in names if (m := _RENAMED.fullmatch(n)) and m[1].casefold() in folded]


def _plan_json(path_read: Path, kind: FileKind, opts: ReadOptions, info: dict, work: _Work) -> Plan:
    """Sniff the JSON once (DESCRIBE) and read it with those columns given explicitly.

    The explicit columns spare the COPY a second sniff of the file (about 10% of a 200 MB conversion) and
    turn every HUGEINT, nested ones included, into BIGINT: DuckDB's JSON reader types negative integers
    as HUGEINT, which its Parquet writer would store as DOUBLE.

    DuckDB sniffs the first 20,480 records and silently drops any field it did not see there. JSON lines
    are therefore checked for fields the head sample missed (`_late_json_fields`); when there are any,
    the whole file is sniffed instead, so no field is lost."""
    fmt = "newline_delimited" if kind.format == "jsonl" else "auto"
    base = f"read_json({_lit(str(path_read))}, format={_lit(fmt)}, maximum_object_size={max(opts.max_line_size, 16 * 1024 * 1024)})"
    whole = base[:-1] + ", sample_size=-1)"

    def typed(t: str) -> str:
        return _JSON_TYPE.sub("VARCHAR", _HUGEINT.sub("BIGINT", str(t)))

    def checked(c: str, t: str) -> bool:
        """Whether field ``c`` of the sample's type ``t`` is read as its text and checked value by value in
        the select (`_strict_cast`): given its type, DuckDB's reader would round a later 2.5 to 2, read 3 as
        true, cut the time off a date. A field given a type in column_types is read as sampled and cast."""
        return c not in opts.column_types and typed(t) in _JSON_VERIFIED

    def explicit(desc: list[tuple[str, str]]) -> str:
        # a field null in the whole sample is text
        read_as = {
            c: "VARCHAR" if checked(c, t) or (str(t) == '"NULL"' and c not in opts.column_types) else typed(t)
            for c, t in desc
        }
        columns = ", ".join(f"{_lit(c)}: {_lit(t)}" for c, t in read_as.items())
        return base[:-1] + f", columns={{{columns}}})"

    con = connection()
    try:
        desc = _describe(con, base)
        late = (
            _late_json_fields(con, path_read, kind, base, explicit(desc), work)
            if kind.format == "jsonl" and desc
            else []
        )
        if late:
            work.warn(
                f"fields first seen after the first records ({', '.join(late[:10])}); "
                "the whole file was read to find every field and its type"
            )
            desc = _describe(con, whole)
    except ServiceError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the file
        raise _translate(exc, None) from None
    plan = Plan(from_sql=base, retry_from_sql=whole, info=info)
    if [c for c, _ in desc] == ["json"] and info["sample"].lstrip()[:1] in ("{", "["):
        # DuckDB reads objects it cannot take as records (a key that is empty, "") whole, in one column
        try:
            con.execute(f"DESCRIBE SELECT * FROM {base[:-1]}, records=true)").fetchall()
        except Exception:  # noqa: BLE001 - "expected records, but got non-record JSON"
            work.warn(
                'records with an empty key ("") cannot be read as columns: each record is written whole, '
                "in one column 'json'; rename the empty key to get a column per key"
            )
    mixed = [c for c, t in desc if _JSON_TYPE.search(str(t))]
    if mixed:
        work.warn(
            f"values of more than one JSON type (e.g. numbers and text) in {', '.join(map(repr, mixed[:10]))}: "
            "written as text (objects and arrays as JSON text)"
        )
    renamed = _case_renamed([c for c, _ in desc])
    if renamed:
        # DuckDB told the keys apart (reading "name" into "name_1"), but columns given explicitly would look up
        # a key "name_1" that no record has: an all-NULL column. Its own sniff is kept (`_select_sql` mends
        # the top-level types the explicit columns would have: HUGEINT, JSON).
        work.warn(
            "keys that differ only in case from another key, which DuckDB and most Parquet readers do not tell "
            "apart, are written under new names: " + ", ".join(f"{k!r} as {c!r}" for k, c in renamed[:10])
        )
    elif desc:
        try:
            con.execute(f"DESCRIBE SELECT * FROM {explicit(desc)}").fetchall()
            plan.from_sql = explicit(desc)
            plan.verify = {c: typed(t) for c, t in desc if checked(c, t)}
        except Exception:  # noqa: BLE001 - a type DuckDB cannot read back: keep its own sniff
            pass
    if kind.format == "json" and info["sample"].lstrip()[:1] == "{":
        try:
            n = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {base} LIMIT 2)").fetchall()[0][0]
        except Exception as exc:  # noqa: BLE001 - reported with the file
            raise _translate(exc, None) from None
        if n == 1 and desc and all(str(t).endswith("[]") for _, t in desc):
            # an object of arrays: one row per array position
            cols = ", ".join(f"unnest({_ident(c)}) AS {_ident(c)}" for c, _ in desc)
            plan.from_sql = f"(SELECT {cols} FROM {base})"
            plan.retry_from_sql = f"(SELECT {cols} FROM {plan.retry_from_sql})"
            plan.info["layout"] = "object of arrays"
    return plan


JSON_PROBE_SLICES = 8
JSON_PROBE_BYTES = 128 * 1024


# a struct field name in a DuckDB type string: after "STRUCT(" or ", ", followed by a space and its type
_STRUCT_FIELD = re.compile(r'(?:STRUCT\(|, )("(?:[^"]|"")+"|[^\s,()"]+) ')


def _json_paths(con, from_sql: str) -> set[str]:
    """Every column of ``from_sql``, and the struct fields inside it as ``column.field``, from DESCRIBE's
    type strings (a DESCRIBE costs one sniff; building an Arrow schema would cost two)."""
    paths = set()
    for name, type_str in _describe(con, from_sql):
        paths.add(name)
        paths.update(f"{name}.{f.strip(chr(34))}" for f in _STRUCT_FIELD.findall(str(type_str)))
    return paths


def _late_json_fields(con, path: Path, kind: FileKind, base: str, head_sql: str, work: _Work) -> list[str]:
    """Fields of a JSON lines file that DuckDB's head sample missed, found cheaply.

    ``base`` reads the file with DuckDB's sniffing; ``head_sql`` with the columns its head sample found,
    given explicitly. A file up to JSON_PROBE_SLICES x JSON_PROBE_BYTES is sniffed whole; a larger one by
    slices of whole lines at evenly spaced offsets (a few milliseconds, where sniffing all of a 200 MB file
    takes seconds). A gzip stream cannot be sliced: only its head is sniffed (documented). A field that
    appears only in records between the slices can still be missed; the slices catch the usual case, a
    field that starts partway through the file and stays."""
    if kind.gzip:
        return []
    size = path.stat().st_size
    if size <= JSON_PROBE_SLICES * JSON_PROBE_BYTES:
        return sorted(_json_paths(con, base[:-1] + ", sample_size=-1)") - _json_paths(con, head_sql))
    probe = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.probe.tmp")
    if not os.access(path.parent, os.W_OK):
        import tempfile

        probe = Path(tempfile.gettempdir()) / probe.name
    work.temps.append(probe)
    with open(path, "rb") as src, open(probe, "wb") as out:
        for i in range(1, JSON_PROBE_SLICES + 1):
            src.seek(size * i // (JSON_PROBE_SLICES + 1))
            chunk = src.read(JSON_PROBE_BYTES)
            start, end = chunk.find(b"\n") + 1, chunk.rfind(b"\n") + 1
            if 0 < start < end:
                out.write(chunk[start:end])
    if probe.stat().st_size == 0:  # records longer than a slice: nothing whole to look at
        return []
    try:
        found = _json_paths(con, base.replace(_lit(str(path)), _lit(str(probe)), 1)[:-1] + ", sample_size=-1)")
    except Exception:  # noqa: BLE001 - a malformed record: the COPY reports it with its real line number
        return []
    return sorted(found - _json_paths(con, head_sql))


def plan_parquet(src: Path, work: _Work) -> Plan:
    """A Parquet file as it is, except pandas' unnamed row index (``__index_level_N__``), which pandas itself
    turns back into the index, not a column: left out, and the report says so."""
    try:
        import pyarrow.parquet as pq

        meta = pq.read_metadata(src)
        pandas_meta = meta.schema.to_arrow_schema().pandas_metadata or {}
    except Exception as exc:  # noqa: BLE001
        raise TableError(f"not a valid Parquet file: {exc}", code="corrupt_file") from None
    from_sql = f"read_parquet({_lit(str(src))})"
    index = [
        c
        for c in pandas_meta.get("index_columns", [])
        if isinstance(c, str) and c.startswith("__index_level_") and c in meta.schema.names
    ]
    info = {"source_rows": meta.num_rows}
    if index:
        from_sql = f"(SELECT * EXCLUDE ({', '.join(_ident(c) for c in index)}) FROM {from_sql})"
        info["dropped_index_columns"] = index
        work.warn(
            f"left out {', '.join(index)}: pandas' unnamed row index, stored as a column by DataFrame.to_parquet; "
            "it holds row labels, not data"
        )
    return Plan(from_sql=from_sql, info=info)


def plan_excel(src: Path, kind: FileKind, opts: ReadOptions, work: _Work) -> list[Plan]:
    from .excel import check_zip_safety, read_sheets

    if kind.format in ("xlsx", "ods"):
        check_zip_safety(src, max_uncompressed=opts.max_uncompressed_bytes, max_ratio=opts.max_compression_ratio)
    # calamine in a child process (a crash or a hang there fails this file alone)
    tables = read_sheets(src, sheets=opts.sheets, header=opts.header, warn=work.warn, formulas=opts.formulas)
    plans = []
    for name, table in tables:
        if table.num_columns == 0:
            work.warn(f"sheet {name!r} is empty; no output written for it")
            continue
        plans.append(Plan(from_sql="", table=name, arrow=table, extra_meta={"sheet": name}))
    if not plans:
        raise TableError("the workbook has no sheet with data", code="empty_file")
    return plans


def plan_pdf(src: Path, opts: ReadOptions) -> Plan:
    from .pdf import read_pdf

    table, meta = read_pdf(src, timeout=opts.pdf_timeout_seconds, password=opts.pdf_password)
    return Plan(from_sql="", arrow=table, extra_meta={"pdf_metadata": json.dumps(meta, default=str)})


def make_plans(src: Path, kind: FileKind, opts: ReadOptions, work: _Work) -> list[Plan]:
    if kind.format in ("csv", "tsv", "txt", "json", "jsonl"):
        return [plan_text(src, kind, opts, work)]
    if kind.format == "parquet":
        return [plan_parquet(src, work)]
    if kind.format in ("xlsx", "xls", "ods"):
        return plan_excel(src, kind, opts, work)
    if kind.format == "pdf":
        return [plan_pdf(src, opts)]
    raise TableError(f"unsupported format {kind.format!r}", code="unsupported_format")


# --- select list: columns to keep and type overrides --------------------------------------
def _select_sql(plan: Plan, from_sql: str, opts: ReadOptions, cols: list[tuple[str, str]]) -> str:
    names = [c for c, _ in cols]
    types = dict(cols)
    csv_types = plan.from_sql.startswith("read_csv(")  # overrides already applied by the CSV reader
    missing = [c for c in (opts.columns or []) if c not in names]
    if missing:
        raise TableError(f"columns {missing} not found; the file has {names}", code="column_not_found")
    bad_types = [c for c in opts.column_types if c not in names]
    if bad_types:
        raise TableError(f"column_types names {bad_types}, not in the file's columns {names}", code="column_not_found")
    keep = opts.columns or names
    parts = []
    for c in keep:
        if (
            c in plan.verify
            and c not in plan.widened
            and types.get(c) == "VARCHAR"
            and (from_sql == plan.from_sql or c in plan.verify_given)
        ):
            parts.append(f"{_strict_cast(c, plan.verify[c], given=c in plan.verify_given)} AS {_ident(c)}")
            continue
        if c in plan.date_columns and c not in plan.text_columns and c not in opts.column_types:
            parts.append(f"CAST(strptime({_ident(c)}, {_lit(plan.date_columns[c])}) AS DATE) AS {_ident(c)}")
            continue
        if c in plan.locale_columns and c not in plan.text_columns:
            loc, t = plan.locale_columns[c]
            parts.append(f"CAST({numlocale.sql_expression(_ident(c), loc)} AS {t}) AS {_ident(c)}")
            continue
        t = opts.column_types.get(c)
        if not t and types.get(c) == "JSON":
            # values of more than one JSON type (a late one widened the column, see `_plan_json`): text, a
            # string without its quotes, objects and arrays as JSON text
            parts.append(f"{_ident(c)}->>'$' AS {_ident(c)}")
            continue
        if not t and types.get(c) == "HUGEINT":
            t = "BIGINT"  # DuckDB's JSON reader types negative integers as HUGEINT, which Parquet cannot hold
        parts.append(
            f"CAST({_ident(c)} AS {t}) AS {_ident(c)}"
            if t and not (csv_types and c in opts.column_types)
            else _ident(c)
        )
    return f"SELECT {', '.join(parts)} FROM {from_sql}"


def _interrupted_by_user(exc: Exception) -> bool:
    """DuckDB stopped because a signal handler raised (Ctrl-C, or SIGTERM in the command), in a process where
    Ctrl-C means "stop" (a command, a notebook): that is no fault of the file, and the whole run stops. A
    worker's pool process handles its signals otherwise; there the interruption stays the file's error."""
    interrupted = type(exc).__name__ == "InterruptException" or str(exc).strip() == "Query interrupted"
    if not interrupted or threading.current_thread() is not threading.main_thread():
        return False
    import signal

    return signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _translate(exc: Exception, plan: Plan | None) -> ServiceError:
    if isinstance(exc, ServiceError):
        return exc
    if _interrupted_by_user(exc):
        raise KeyboardInterrupt from None
    msg = str(exc)
    low = msg.lower()
    info = plan.info if plan else {}
    if re.search(r"maximum line size of \d+|maximum object size|exceeds the maximum", low):
        return TableError(
            "a line (or JSON record) is longer than max_line_size; raise max_line_size if the file is genuine "
            f"({_clean(msg, 200)})",
            code="line_too_long",
        )
    if "gzip" in low or "zlib" in low:
        return TableError(f"the compressed file is corrupt or truncated: {_clean(msg, 200)}", code="corrupt_file")
    if "invalid unicode" in low:
        return TableError(f"the file is not valid text in the detected encoding: {_clean(msg)}", code="encoding_error")
    if info.get("delimiter") is not None and (
        "sniff" in low or "expected number of columns" in low or "unterminated quote" in low or "quote" in low
    ):
        detail = find_structure_error(
            info["path_read"],
            is_gzip=str(info["path_read"]).endswith(".gz"),
            encoding="latin-1" if info.get("csv_encoding") == "latin-1" else "utf-8",
            delimiter=info["delimiter"],
            quote=info.get("quote") or '"',
            skip=info.get("skip", 0),
        )
        if detail:
            return TableError(detail, code="malformed_csv")
        if info.get("skip"):
            return TableError(
                f"cannot read the table after the {info['skip']} skipped line(s): {_clean(msg, 300)}; check "
                "skip_rows, or line endings that change after the preamble",
                code="malformed_csv",
            )
    if "column_types error" in low:
        names = re.findall(r'"([^"]+)"', msg.split("do not exist")[0])
        return TableError(
            f"column_types names {names or 'columns'} that are not in the file; check the column names",
            code="column_not_found",
        )
    duplicate = re.search(r'duplicate name "+([^"]*)"+ in struct', msg, re.IGNORECASE)
    if duplicate:  # DuckDB's advice (ignore_errors) would drop the records: not passed on
        return TableError(
            f"a nested object holds keys that differ only in case (such as {duplicate[1]!r}): DuckDB reads such "
            "an object into a struct, which cannot hold both; rename one of the keys",
            code="read_error",
        )
    depth = re.search(r"maximum recursion depth of (\d+)", low)
    if depth:
        return TableError(
            f"a JSON record is nested more than {depth[1]} levels deep, more than the reader follows",
            code="read_error",
        )
    if "conversion error" in low or "could not convert" in low:
        return TableError(f"a value does not fit its column type: {_clean(msg)}", code="type_error")
    return TableError(f"cannot read the file: {_clean(msg)}", code="read_error")


_RETRYABLE = (
    "could not convert",
    "could not parse string",  # strptime of a date column in the decided day/month order
    "conversion error",
    "failed to cast",
    "json transform error",
    "type mismatch",
    "does not fit",
)


def _describe(con, from_sql: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {from_sql}").fetchall()]


_INTEGER_TYPES = ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT", "HUGEINT")


def _fits(column_sql: str, duck_type: str) -> str:
    """A SQL condition: the text ``column_sql`` is a value of ``duck_type`` (an integer type takes digits
    only: DuckDB's cast would round "1.5" to 2)."""
    cast = f"TRY_CAST({column_sql} AS {duck_type}) IS NOT NULL"
    if duck_type in _INTEGER_TYPES:
        return f"(regexp_full_match(trim({column_sql}), '[+-]?[0-9]+') AND {cast})"
    return cast


def _misfit_sql(column: str, duck_type: str) -> str:
    """A SQL condition that holds where the text of ``column`` is not a value of ``duck_type`` as it is
    written (NULL stays NULL). DuckDB's own casts are lenient: an integer column takes 1.5 and 25e-1
    (rounded), 0x1f, 0b101 and 1_000; a date takes "2024-01-01 10:00" (cut); a boolean takes yes/no, y/n,
    t/f and 1/0; a timestamp or time drops a UTC offset. An integer is digits with an optional sign here (a
    128-bit one, written as DECIMAL(38,0), 38 digits at most), a boolean true or false in any case, a
    timestamp or time one without an offset."""
    c = _ident(column)
    # the cheap test first (DuckDB evaluates the second only where the first holds): plain digits, and the
    # common spellings of true and false, skip the regular expression and the lower-casing
    if duck_type in ("HUGEINT", "UHUGEINT"):  # written as DECIMAL(38,0) (see `_strict_cast`): 38 digits at most
        digits = f"strlen(regexp_replace(trim({c}), '^[+-]?0*', ''))"
        return f"(({c} GLOB '*[!0-9]*' AND NOT regexp_full_match({c}, '\\s*[+-]?[0-9]+\\s*')) OR {digits} > 38)"
    if duck_type in _INTEGER_TYPES:
        return f"({c} GLOB '*[!0-9]*' AND NOT regexp_full_match({c}, '\\s*[+-]?[0-9]+\\s*'))"
    if duck_type in ("TIMESTAMP", "TIME"):  # a value with a UTC offset does not fit (the cast would drop it)
        return f"regexp_matches(trim({c}), {_lit(_UTC_OFFSET)})"
    if duck_type == "BOOLEAN":
        # Comparisons, not an IN list or list_contains: DuckDB plans a list of five or more constants as a
        # hash (MARK) join, and a COPY over a join lost the rows' order (see `_copy_options`).
        usual = " AND ".join(f"{c} <> '{v}'" for v in ("true", "false", "True", "False", "TRUE", "FALSE"))
        return f"({usual} AND lower(trim({c})) NOT IN ('true', 'false'))"
    return f"contains({c}, ':')"  # a date with a time


def _strict_cast(column: str, duck_type: str, *, given: bool = False) -> str:
    """Cast the text of ``column`` to ``duck_type`` or stop the read (`_misfit_sql` says what does not fit)."""
    c = _ident(column)
    message = _lit(
        f"column {column!r}: a value does not fit {duck_type}"
        + (" (the type given in column_types)" if given else "")
        + ": "
    )
    if duck_type == "BOOLEAN":
        # the usual spellings compared first, each WHEN only on the rows no earlier one took: a quarter of the
        # CPU of testing `_misfit_sql` and casting trim(value), which copies every value (measured on the
        # benchmark CSV). Equalities in a CASE, not an IN list: see `_misfit_sql`.
        usual = " ".join(
            f"WHEN {c} = '{v}' THEN {v.lower()}" for v in ("true", "false", "True", "False", "TRUE", "FALSE")
        )
        return (
            f"CASE {usual} WHEN {c} IS NULL THEN NULL WHEN lower(trim({c})) = 'true' THEN true "
            f"WHEN lower(trim({c})) = 'false' THEN false ELSE error({message} || {c}) END"
        )
    # Parquet has no 128-bit integer: DuckDB would write a HUGEINT as a DOUBLE, rounding 18446744073709551615 to
    # 18446744073709551616.0; DECIMAL(38,0) keeps every digit (a 39-digit value does not fit: the read widens)
    target = "DECIMAL(38,0)" if duck_type in ("HUGEINT", "UHUGEINT") else duck_type
    return f"CASE WHEN {_misfit_sql(column, duck_type)} THEN error({message} || {c}) ELSE CAST({c} AS {target}) END"


def _fits_verified(column: str, duck_type: str) -> str:
    value = f"trim({_ident(column)})" if duck_type == "BOOLEAN" else _ident(column)
    return f"(NOT ({_misfit_sql(column, duck_type)}) AND TRY_CAST({value} AS {duck_type}) IS NOT NULL)"


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATE_AND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\S.*)?$")
_PREFIXED_NUMBER = re.compile(r"^\s*[+-]?0[xXbB][0-9a-fA-F_]+\s*$")
# a time followed by a UTC offset or zone: 10:00+02:00, 10:00:00.5Z, 10:00 UTC (DuckDB regular expression)
_UTC_OFFSET = r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([+-][0-9]{2}(:?[0-9]{2})?|Z|UTC)$"
ISO_DATE_FORMAT = "%Y-%m-%d"


def _setup_verification(con, plan: Plan, opts: ReadOptions, work: _Work) -> None:
    """For a delimited text plan: the sniffed integer, boolean and (ISO) date columns, and the integer and
    date types given in column_types, are checked on every value in the read itself (`_misfit_sql`; a
    value that does not fit stops the read). Columns the sample shows to hold hexadecimal numbers or
    yes/no-style booleans are read as text."""
    plan.verify_ready = True
    if plan.info.get("csv_args") is None or plan.info.get("delimiter") is None:
        return
    try:
        # a small sample (a tenth of the read's own sniff, a tenth of its cost): a column it types as an
        # integer or a date that the read's larger sample would widen is caught by the strict cast anyway
        cols = _describe(con, plan.from_sql[:-1] + ", sample_size=2048)")
    except Exception:  # noqa: BLE001 - the read reports it
        return
    candidates = {
        c: t
        for c, t in cols
        if (t in _INTEGER_TYPES or t in ("DATE", "BOOLEAN"))
        and c not in opts.column_types
        and c not in plan.locale_columns
        and c not in plan.widened
    }
    names = [c for c, _ in cols]
    sample = plan.info.get("sample_columns") or []

    def sampled(c: str) -> list[str]:  # the non-empty values of column c in the planning sample
        return [v for v in sample[names.index(c)] if v.strip()] if len(sample) == len(names) else []

    texts = set()
    # DuckDB reads 0x1f and 0b101 as numbers (and 64-bit hexadecimal ids as rounded doubles): such a
    # column stays text, as pandas and pyarrow keep it
    for c in [c for c, t in cols if (t in _INTEGER_TYPES or t in ("DOUBLE", "FLOAT")) and c not in opts.column_types]:
        prefixed = [v for v in sampled(c) if _PREFIXED_NUMBER.match(v)]
        if prefixed:
            texts.add(c)
            work.report.column(c).note = f"hexadecimal or binary values (e.g. {prefixed[0]!r}) kept as text"
    # DuckDB reads yes/no, y/n and t/f as booleans; a workbook or JSON file with the same cells gives text.
    # Only true/false (any case) make a boolean column here too, so that a label column of yes/no keeps
    # its labels, and the same data has the same type whatever the format.
    for c in [c for c, t in cols if t == "BOOLEAN" and c not in opts.column_types]:
        values = [v.strip().lower() for v in sampled(c)]
        nulls = {n.strip().lower() for n in opts.null_values}
        if any(v not in ("true", "false") and v not in nulls for v in values):
            texts.add(c)
            col = work.report.column(c)
            col.note = "values such as " + ", ".join(repr(v) for v in sorted(set(values))[:4]) + " kept as text "
            col.note += "(only true/false are read as booleans)"
    candidates = {c: t for c, t in candidates.items() if c not in texts}
    # a type given in column_types is a promise about every value: DuckDB's cast would keep it by rounding
    # 1.5 to 2 or cutting the time off a date; checked the same way, and a value that breaks it stops the
    # read with an error (nothing is widened: the user asked for this type)
    # A TIMESTAMP or TIME given (without a time zone) takes no value with a UTC offset: DuckDB's cast would
    # drop "+02:00" and keep 10:00, another instant than the value says (a read format given for timestamps
    # is left to the reader)
    formats = any(a.startswith(("dateformat=", "timestampformat=")) for a in plan.info["csv_args"])
    given = {
        c: t
        for c, t in opts.column_types.items()
        if (t in _INTEGER_TYPES or t == "DATE" or (t in ("TIMESTAMP", "TIME") and not formats))
        and c in names
        and c not in plan.locale_columns
    }
    candidates.update(given)
    for c in [c for c, t in candidates.items() if t == "DATE"]:
        # only ISO dates are cast back by DuckDB without the sniffed format: judged on the sample. A column
        # given the type DATE whose sample holds an ISO date with a time stays checked, so that the time
        # stops the read (a type_error) rather than being cut off by DuckDB's cast
        values = sampled(c)
        shape = _ISO_DATE_AND_TIME if c in given else _ISO_DATE
        if not values or not all(shape.match(v) for v in values):
            del candidates[c]
    plan.verify_given = {c for c in given if c in candidates}
    if texts:
        plan.text_columns |= texts
    if candidates:
        plan.verify = candidates
        # the reader parses the ISO date columns itself (an explicit format, strict) when that format can
        # touch no other column: no other DATE column, no date format or DATE type given by the user
        plan.info["native_dates"] = (
            all(c in candidates for c, t in cols if t == "DATE")
            and not any(a.startswith(("dateformat=", "timestampformat=")) for a in plan.info["csv_args"])
            and not any(
                t.upper() in ("DATE", "TIMESTAMP") and c not in candidates for c, t in opts.column_types.items()
            )
        )
        _finish_csv(plan, opts)
    if candidates or texts:
        if not candidates:
            _finish_csv(plan, opts)
        native = plan.info.get("native_dates", False)
        plan.info["described"] = (
            plan.from_sql,
            [
                (
                    c,
                    "VARCHAR"
                    if c in texts
                    else ("DATE" if native and t == "DATE" else "VARCHAR")
                    if c in candidates
                    else t,
                )
                for c, t in cols
            ],
        )


def _wider_type(first: str, *, has_offsets: bool) -> str:
    """The type a verified column widens to when some value does not fit ``first``."""
    if first == "BOOLEAN":
        return "VARCHAR"
    if first == "DATE":
        return "TIMESTAMPTZ" if has_offsets else "TIMESTAMP"
    return "DOUBLE"


def _widen_verified(con, plan: Plan, opts: ReadOptions, work: _Work) -> bool:
    """After a failed read: the verified columns with values that do not fit their type are widened
    (integer -> double where every value is a plain number without leading zeros, date -> timestamp where
    every value is one, else text), each reported with how many values did not fit and examples."""
    active = {c: t for c, t in plan.verify.items() if c not in plan.widened and c not in plan.verify_given}
    if not active or "raw_sql" not in plan.info:  # JSON: the whole-file read decides (`_run`)
        return False
    raw = plan.info["raw_sql"]
    fits = {c: _fits_verified(c, t) for c, t in active.items()}
    found = {c: v for c, v in _misfits(con, raw, fits).items() if v[0]}
    if not found:
        return False
    # a date column whose values carry a UTC offset ("2024-01-01T10:00:00+02:00") becomes TIMESTAMPTZ: a
    # plain TIMESTAMP would drop the offset and keep 10:00 where the instant is 08:00 UTC
    dates = [c for c in found if active[c] == "DATE"]
    offsets = (
        _misfits(con, raw, {c: f"NOT regexp_matches(trim({_ident(c)}), {_lit(_UTC_OFFSET)})" for c in dates})
        if dates
        else {}
    )
    wider = {c: _wider_type(active[c], has_offsets=bool(offsets.get(c, (0,))[0])) for c in found}
    # a double holds integers exactly only up to 2^53: a column with larger ones stays text rather than
    # have every large value rounded (9007199254740993 would read ...992)
    exact = (
        "NOT (regexp_full_match(trim({c}), '[+-]?[0-9]+') AND abs(TRY_CAST(trim({c}) AS HUGEINT)) > 9007199254740992)"
    )
    ok = _misfits(
        con,
        raw,
        {
            c: (
                f"TRY_CAST({_ident(c)} AS {t}) IS NOT NULL"
                + (
                    ""
                    if t != "DOUBLE"
                    else f" AND NOT regexp_matches(trim({_ident(c)}), '^[+-]?0[0-9xXbB]') AND NOT contains({_ident(c)}, '_') AND "
                    + exact.format(c=_ident(c))
                )
            )
            for c, t in wider.items()
        },
    )
    for c, (n, examples) in found.items():
        t = wider[c] if ok[c][0] == 0 else "VARCHAR"
        plan.widened[c] = t
        col = work.report.column(c)
        col.decision, col.not_fitting, col.examples = "widened", n, examples
        why = (
            f" ({ok[c][0]} value(s), e.g. {ok[c][1][:3]}, do not fit {wider[c]} either)"
            if t == "VARCHAR" and wider[c] != "VARCHAR"
            else ""
        )
        if t == "TIMESTAMPTZ":
            why = f" ({offsets[c][0]} value(s) carry a UTC offset, e.g. {offsets[c][1][:2]}: stored as UTC instants)"
        col.note = f"first typed {active[c]} from the sample; {t} after checking every row{why}"
        work.warn(
            f"column {c!r}: {n} value(s) in the file (e.g. {examples[:3]}) do not fit {active[c]}; "
            f"typed {t} after checking every row{why}"
        )
    _finish_csv(plan, opts)
    return True


def _misfits(con, from_sql: str, checks: dict[str, str]) -> dict[str, tuple[int, list[str]]]:
    """{column: (values that do not fit, up to 5 examples)} for ``checks`` = {column: SQL condition that
    holds where the value fits}: one pass over the whole file."""
    parts = []
    for c, fit in checks.items():
        bad = f"{_ident(c)} IS NOT NULL AND NOT coalesce(({fit}), false)"
        parts.append(f"count(*) FILTER (WHERE {bad})")
        parts.append(f"(list(CAST({_ident(c)} AS VARCHAR)) FILTER (WHERE {bad}))[1:5]")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {from_sql}").fetchall()[0]
    return {c: (row[2 * i], list(row[2 * i + 1] or [])) for i, c in enumerate(checks)}


def _verify_date_columns(con, plan: Plan, opts: ReadOptions, work: _Work) -> bool:
    """After a failed read: widen to text the date columns with values not written in the decided format
    (whole file), report them, and re-plan. False when none failed."""
    active = {c: f for c, f in plan.date_columns.items() if c not in plan.text_columns and c not in opts.column_types}
    if not active or plan.info.get("csv_args") is None:
        return False
    checks = {c: f"try_strptime(CAST({_ident(c)} AS VARCHAR), {_lit(f)}) IS NOT NULL" for c, f in active.items()}
    failed = {c: v for c, v in _misfits(con, plan.from_sql, checks).items() if v[0]}
    for c, (n, examples) in failed.items():
        plan.text_columns.add(c)
        col = work.report.column(c)
        col.decision, col.not_fitting, col.examples = "widened", n, examples
        work.report.date_formats.pop(c, None)
        work.warn(
            f"column {c!r}: {n} value(s) are not dates written as {active[c]} (e.g. {examples[:3]}); kept as text"
        )
    if not failed:
        return False
    _finish_csv(plan, opts)
    return True


def _verify_locale_columns(con, plan: Plan, opts: ReadOptions, work: _Work) -> bool:
    """After a failed read: widen to text the locale columns with values that are not numbers in
    their convention (whole file), report them, and re-plan. False when none failed."""
    active = {c: v for c, v in plan.locale_columns.items() if c not in plan.text_columns}
    if not active or plan.info.get("csv_args") is None:
        return False
    checks = {c: _fits(numlocale.sql_expression(_ident(c), loc), t) for c, (loc, t) in active.items()}
    found = _misfits(con, plan.from_sql, checks)
    failed = {c: v for c, v in found.items() if v[0]}
    for c, (n, examples) in failed.items():
        if c in opts.column_types:
            continue  # a given type: the read fails and says so
        plan.text_columns.add(c)
        col = work.report.column(c)
        col.decision, col.not_fitting, col.examples = "widened", n, examples
        work.warn(
            f"column {c!r}: {n} value(s) are not numbers written with {active[c][0].describe()} "
            f"(e.g. {examples[:3]}); kept as text"
        )
    if not plan.text_columns & set(failed):
        return False
    _finish_csv(plan, opts)
    return True


def _given_type_error(exc: Exception, plan: Plan) -> TableError | None:
    """The error for a value that breaks a type given in column_types (never widened), when ``exc`` names
    such a column; else None."""
    msg = str(exc)
    given = sorted(
        c
        for c in plan.verify_given
        if f'column "{c}"' in msg or f"column {c!r}" in msg or re.search(rf"source column {re.escape(c)}\b", msg)
    )
    if not given:
        return None
    found = (
        re.search(r"does not fit \w+(?: \(the type given in column_types\))?: (.*)", msg)
        or re.search(r'Could not convert string "([^"]*)"', msg)
        or re.search(r"Could not convert string '([^']*)'", msg)
    )
    value = f"the value {found.group(1).strip()[:100]!r}" if found else "a value that does not fit it"
    hint = "another type (e.g. string, float or timestamp)"
    if plan.verify[given[0]] in ("TIMESTAMP", "TIME"):
        value += ", with a UTC offset that this type would drop"
        hint = "timestamptz to keep the instant, or string" if plan.verify[given[0]] == "TIMESTAMP" else "string"
    return TableError(
        f"column {given[0]!r} is given the type {plan.verify[given[0]]} in column_types but holds {value}; give "
        f"{hint}; or fix the value",
        code="type_error",
        details={"column": given[0]},
    )


def _run(plan: Plan, opts: ReadOptions, work: _Work, action: Callable[[str], object]):
    """Run ``action(select_sql)`` for a plan. Every row is read against the chosen types: a value that
    does not fit stops the read; the offending locale columns are then widened to text, or the file is
    read again with whole-file inference, and each column that changed is reported with how many values
    did not fit its first type and examples of them."""
    con = connection()
    name = None
    if plan.arrow is not None:
        name = f"t_{uuid.uuid4().hex[:12]}"
        con.register(name, plan.arrow)
    try:

        def attempt(from_sql: str) -> tuple[object, list[tuple[str, str]] | None]:
            # DESCRIBE costs a second sniff of the file: only when the select list needs the columns
            need_cols = (
                not from_sql.startswith("read_csv(")
                or bool(opts.columns)
                or bool(opts.column_types)
                or bool(plan.locale_columns)
                or bool(plan.date_columns)
                or bool(plan.verify)
            )
            if not need_cols:
                return action(f"SELECT * FROM {from_sql}"), None
            known = plan.info.get("described")
            if known and known[0] == from_sql:
                cols = known[1]
            else:
                try:
                    cols = _describe(con, from_sql)
                except Exception as exc:  # noqa: BLE001
                    raise _translate(exc, plan) from None
            return action(_select_sql(plan, from_sql, opts, cols)), cols

        if name is None and not plan.verify_ready:
            _setup_verification(con, plan, opts, work)
        try:
            result, _ = attempt(name or plan.from_sql)
            return result
        except ServiceError:
            raise
        except Exception as exc:  # noqa: BLE001
            low = str(exc).lower()
            if not plan.retry_from_sql or not any(k in low for k in _RETRYABLE):
                raise _translate(exc, plan) from None
            given = _given_type_error(exc, plan)
            if given is not None:
                raise given from None
            first_error = exc
        for fix in (_verify_date_columns, _verify_locale_columns, _widen_verified):
            try:
                if fix(con, plan, opts, work):
                    result, _ = attempt(plan.from_sql)
                    return result
            except ServiceError:
                raise
            except Exception as exc:  # noqa: BLE001
                low = str(exc).lower()
                if not any(k in low for k in _RETRYABLE):
                    raise _translate(exc, plan) from None
                first_error = exc
        try:
            first = dict(_describe(con, plan.from_sql))
            wide_cols = _describe(con, plan.retry_from_sql)
            result = action(_select_sql(plan, plan.retry_from_sql, opts, wide_cols))
        except ServiceError:
            raise
        except Exception as exc2:  # noqa: BLE001
            raise (_given_type_error(exc2, plan) or _translate(exc2, plan)) from None
        example = _clean(str(first_error), 300)
        csv = plan.from_sql.startswith("read_csv(")  # a CSV's verified columns were widened above
        if not csv:
            first.update(plan.verify)  # read as text, checked as the sample's type
        # as written (`_select_sql`): a HUGEINT as BIGINT (DuckDB's JSON reader types negative integers so),
        # values of several JSON types as text
        written = {"HUGEINT": "BIGINT", "JSON": "VARCHAR"}
        changed = {
            c: written.get(t, t)
            for c, t in wide_cols
            if first.get(c) != written.get(t, t)
            and c not in plan.locale_columns
            and c not in plan.date_columns
            and (c not in plan.verify or not csv)
            and c not in plan.widened
        }
        found = {}
        raw_sql = plan.retry_from_sql  # the values as text where the reader can give them so
        if raw_sql.startswith("read_csv(") and "types=" not in raw_sql:
            raw_sql = raw_sql[:-1] + ", all_varchar=true)"
        if not csv:
            raw_sql = plan.from_sql  # JSON: the checked fields are read as their text there
        with contextlib.suppress(Exception):
            found = _misfits(
                con,
                raw_sql,
                {
                    c: _fits_verified(c, first[c])
                    if c in plan.verify and not csv
                    else _fits(f"CAST({_ident(c)} AS VARCHAR)", first[c])
                    for c in changed
                    if c in first
                },
            )
        for c, t in changed.items():
            n, examples = found.get(c, (None, []))
            col = work.report.column(c)
            col.decision, col.not_fitting, col.examples = "widened", n or 0, examples
            col.note = f"first typed {first.get(c)} from the sample; {t} after reading the whole file"
            work.warn(
                f"column {c!r}: "
                + (f"{n} value(s) later in the file (e.g. {examples[:3]})" if n else "values later in the file")
                + f" do not fit {first.get(c)}; typed {t} after reading the whole file"
                + ("" if n else f" ({example})")
            )
        return result
    finally:
        if name:
            con.unregister(name)


def warn_header(plan: Plan, names: list[str], work: _Work) -> None:
    """Warn about header cells the reader renamed (duplicates, empty names)."""
    raw = plan.info.get("header_fields") or []
    if not raw or len(raw) != len(names):
        return
    if all(n == f"column{i}" for i, n in enumerate(names)) or all(n == f"column{i:02d}" for i, n in enumerate(names)):
        return  # no header row
    for i, (r, n) in enumerate(zip(raw, names, strict=True)):
        if r.strip() == "":
            work.warn(f"column {i + 1} has an empty header; named {n!r}")
        elif r != n and raw.count(r) > 1:
            work.warn(f"duplicate column name {r!r} renamed to {n!r}")


def _encoding_fallback(exc: TableError, plans: list[Plan], src: Path, kind: FileKind, opts, work) -> list[Plan]:
    """Re-plan a text file that turned out not to be UTF-8 after the sample (or raise ``exc``)."""
    info = plans[0].info if plans else {}
    if exc.code != "encoding_error" or opts.encoding or kind.format not in ("csv", "tsv", "txt", "json", "jsonl"):
        raise exc
    if info.get("ascii_sample"):
        enc, errors = "cp1252", "replace"
        work.warn("the file is not UTF-8 (found past the first megabyte); decoded as cp1252")
    else:
        enc, errors = "utf-8", "replace"
        work.warn("the file has invalid UTF-8 bytes; they were replaced with U+FFFD")
    tmp = _transcode(src, kind, enc, work, errors=errors)
    plan = plan_text(src, kind, opts, work, path=tmp)
    plan.info["encoding"] = enc
    return [plan]


def _options(options) -> ReadOptions:
    if isinstance(options, ReadOptions):
        return copy.copy(options)
    return ReadOptions.from_dict(options)


def _open(path: str | Path, opts: ReadOptions) -> tuple[Path, FileKind]:
    path = Path(path)
    kind = detect_format(path, opts.format_for(path.name))
    if kind is None:
        raise TableError(f"{path.name}: not a supported format", code="unsupported_format")
    if not path.is_file():
        raise TableError(f"{path.name} is not a file", code="not_found")
    if path.stat().st_size == 0:
        raise TableError("the file is empty: there is nothing to read", code="empty_file")
    return path, kind


def read_tables(
    path: str | Path, options: ReadOptions | dict | None = None, *, limit: int | None = None
) -> tuple[list[tuple[str | None, pa.Table]], ReadReport]:
    """Every table of a file: one per selected sheet of a workbook (its name), one (None) for any other
    file; with the report of what the reader decided. ``limit`` stops each table after that many rows."""
    opts = _options(options)
    path, kind = _open(path, opts)
    work = _Work()
    work.report.format = kind.format + (".gz" if kind.gzip else "")

    def fetch(sql: str) -> pa.Table:
        if limit is not None:
            sql = f"SELECT * FROM ({sql}) LIMIT {int(limit)}"
        return connection().sql(sql).to_arrow_table()

    try:
        plans = make_plans(path, kind, opts, work)
        try:
            tables = [(p.table, _run(p, opts, work, fetch)) for p in plans]
        except TableError as exc:
            plans = _encoding_fallback(exc, plans, path, kind, opts, work)
            tables = [(p.table, _run(p, opts, work, fetch)) for p in plans]
        for plan, (_, table) in zip(plans, tables, strict=True):
            warn_header(plan, table.column_names, work)
        if len(tables) == 1:
            work.report.rows = tables[0][1].num_rows
            work.report.set_schema(tables[0][1].schema)
        return tables, work.report
    finally:
        for t in work.temps:
            with contextlib.suppress(FileNotFoundError):
                t.unlink()


def read(
    path: str | Path, options: ReadOptions | dict | None = None, *, sheet: str | None = None, limit: int | None = None
) -> tuple[pa.Table, ReadReport]:
    """Read any supported file into Arrow, with the report of what the reader decided.

    ``sheet`` picks a workbook's sheet (default: the first one with data); ``limit`` stops after that many rows
    (a preview: the rows past it are not read, nor verified)."""
    opts = _options(options)
    if sheet is not None:
        opts.sheets = [sheet]
    tables, report = read_tables(path, opts, limit=limit)
    return tables[0][1], report


def read_table(path: str | Path, options: ReadOptions | dict | None = None, *, sheet: str | None = None) -> pa.Table:
    """`read` without the report: the table alone."""
    return read(path, options, sheet=sheet)[0]


def sniff(path: str | Path, options: ReadOptions | dict | None = None, *, rows: int = 0) -> tuple[pa.Table, ReadReport]:
    """The columns (an Arrow table of the first ``rows`` rows, with the schema the whole read would give
    for text formats: the types of the sample) and the reader's decisions, without reading the whole file."""
    return read(path, options, limit=rows)


def count_rows(path: str | Path, options: ReadOptions | dict | None = None) -> int:
    """Data rows of a file as the reader reads them (Parquet: from its metadata)."""
    opts = _options(options)
    path, kind = _open(path, opts)
    if kind.format == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    work = _Work()
    try:
        plans = make_plans(path, kind, opts, work)

        def fetch(sql: str) -> int:
            return connection().execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]

        try:
            return _run(plans[0], opts, work, fetch)
        except TableError as exc:
            plans = _encoding_fallback(exc, plans, path, kind, opts, work)
            return _run(plans[0], opts, work, fetch)
    finally:
        for t in work.temps:
            with contextlib.suppress(FileNotFoundError):
                t.unlink()
