"""Workbooks (xlsx/xlsm/xls) to Arrow tables, one per sheet.

Before a zip-based workbook is opened, its central directory is checked:
declared uncompressed sizes and compression ratios must stay under limits (a
zip bomb is refused without inflating it), and no XML part may declare a DTD
or entities (billion laughs). Only then does calamine (Rust) read the cells.
"""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa

from .detect import TableError

WORKBOOK_TIMEOUT_SECONDS = 300.0  # a workbook read longer than this is stopped
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def check_zip_safety(path: Path, *, max_uncompressed: int, max_ratio: int) -> None:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise TableError(f"corrupt workbook: not a valid xlsx (zip) file ({exc})", code="corrupt_file") from None
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        if total > max_uncompressed:
            raise TableError(
                f"the workbook declares {total:,} bytes uncompressed, over the limit of {max_uncompressed:,} "
                "(possible zip bomb); raise max_uncompressed_bytes if the file is genuine",
                code="unsafe_file",
            )
        for info in infos:
            if info.file_size > 1_000_000 and info.compress_size and info.file_size / info.compress_size > max_ratio:
                raise TableError(
                    f"part {info.filename!r} expands {info.file_size / info.compress_size:.0f}x "
                    f"(limit {max_ratio}x; possible zip bomb)",
                    code="unsafe_file",
                )
        for info in infos:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            try:
                with zf.open(info) as f:
                    head = f.read(65536)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
                raise TableError(f"corrupt workbook part {info.filename!r}: {exc}", code="corrupt_file") from None
            # a DTD must come before the root element, so the head of each part is enough
            if _DTD.search(head):
                raise TableError(
                    f"part {info.filename!r} declares a DTD or XML entities, which workbooks never need "
                    "(possible billion-laughs attack); the file is refused",
                    code="unsafe_file",
                )


def sheet_names(path: Path, *, timeout: float = WORKBOOK_TIMEOUT_SECONDS) -> list[str]:
    """The workbook's sheet names, read in a child process like `read_sheets`."""
    from ...isolation import run_isolated

    return run_isolated(sheet_names_here, path, timeout=timeout)


def sheet_names_here(path: Path) -> list[str]:
    with _open(path) as wb:
        return list(wb.sheet_names)


class _open:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        from python_calamine import CalamineWorkbook

        try:
            self.wb = CalamineWorkbook.from_path(str(self.path))
        except Exception as exc:  # noqa: BLE001 - calamine raises several types for corrupt files
            raise TableError(f"corrupt or unreadable workbook: {exc}", code="corrupt_file") from None
        return self.wb

    def __exit__(self, *exc):
        try:
            self.wb.close()
        except Exception:  # noqa: BLE001
            pass


def read_sheets(
    path: Path,
    *,
    sheets: list[str] | None,
    header: bool | None,
    warn,
    formulas: str = "values",
    timeout: float = WORKBOOK_TIMEOUT_SECONDS,
) -> list[tuple[str, pa.Table]]:
    """[(sheet name, table)] for the selected sheets (all by default).

    calamine runs in a child process (`services_app.isolation`) with a memory cap and a timeout:
    it aborts the whole process on some malformed workbooks (a sheet that declares a cell at
    ``XFD1048576`` makes it panic, SIGABRT), which no ``try`` in this process could contain. Such a
    file fails alone with code ``reader_crashed`` (the signal in the details) or ``timeout``."""
    from ..isolation import ReaderCrashed, ReaderTimeout, run_isolated

    options = {"sheets": sheets, "header": header, "formulas": formulas}
    try:
        tables, warnings = run_isolated(read_workbook, str(path), options, timeout=timeout)
    except ReaderCrashed as exc:
        raise TableError(
            f"the workbook reader crashed on this file ({exc.signal_name or f'exit status {exc.exit_status}'}); "
            "the workbook is malformed or too large for the reader's memory cap (READER_MEMORY_LIMIT_MB): "
            "open and re-save it in a spreadsheet program, or export the sheets as CSV",
            code="reader_crashed",
            details=exc.details(),
        ) from None
    except ReaderTimeout:
        raise TableError(
            f"reading the workbook did not finish within {timeout:g} s and was stopped; the file may be malformed",
            code="timeout",
        ) from None
    for w in warnings:
        warn(w)
    return tables


def read_sheets_here(
    path: Path, *, sheets: list[str] | None, header: bool | None, formulas: str = "values"
) -> tuple[list, list[str]]:
    """`read_sheets` in this process (the child's side): ([(sheet name, table)], warnings)."""
    return read_workbook(path, {"sheets": sheets, "header": header, "formulas": formulas})


def read_workbook(path: str | Path, options: dict | None = None) -> tuple[list[tuple[str, pa.Table]], list[str]]:
    """([(sheet name, table)], warnings) for the selected sheets, read in this process: a pure function
    of a path and plain options (``sheets``, ``header``, ``formulas``), which `read_sheets` runs in a
    child process.

    Formula cells whose result was never calculated (a workbook written by a library that does not
    calculate: the cell has the formula and no cached value) are reported per sheet, never left as
    silent nulls; ``formulas="text"`` puts the formula text (``=A2+30``) in every formula cell instead
    of its cached value."""
    options = options or {}
    path = Path(path)
    sheets, header = options.get("sheets"), options.get("header")
    formulas = options.get("formulas") or "values"
    warnings: list[str] = []

    def warn(msg: str) -> None:
        if msg not in warnings:
            warnings.append(msg)

    out = []
    parts = _sheet_parts(path)
    with _open(path) as wb:
        names = list(wb.sheet_names)
        if sheets:
            missing = [s for s in sheets if s not in names]
            if missing:
                raise TableError(f"sheets {missing} not found; the workbook has {names}", code="sheet_not_found")
            names = [n for n in names if n in sheets]
        for name in names:
            try:
                sheet = wb.get_sheet_by_name(name)
                rows = sheet.to_python(skip_empty_area=True)
                merged = sheet.merged_cell_ranges or []
                start = sheet.start or (0, 0)
            except Exception as exc:  # noqa: BLE001
                raise TableError(f"sheet {name!r} cannot be read: {exc}", code="corrupt_file") from None
            cells = _formula_cells(path, parts.get(name)) if name in parts else []
            if cells:
                rows, start = _apply_formulas(name, rows, start, cells, formulas, warn)
            out.append((name, rows_to_table(rows, header=header is not False, merged=merged, start=start, warn=warn)))
    return out, warnings


# --- formulas --------------------------------------------------------------------------------------
_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_CELL_REF = re.compile(r"^([A-Z]+)(\d+)$")


def _sheet_parts(path: Path) -> dict[str, str]:
    """{sheet name: zip part} of an xlsx (empty for other workbooks or when the parts cannot be read)."""
    import xml.etree.ElementTree as ET  # noqa: S405 - DTDs and entities were refused by check_zip_safety

    try:
        with zipfile.ZipFile(path) as zf:
            book = ET.fromstring(zf.read("xl/workbook.xml"))  # noqa: S314
            rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
    except (zipfile.BadZipFile, KeyError, OSError, ET.ParseError):
        return {}
    targets = {r.get("Id"): r.get("Target", "") for r in rels}
    parts = {}
    for sheet in book.iter(f"{_NS}sheet"):
        target = targets.get(sheet.get(f"{_REL_NS}id"), "")
        if target:
            parts[sheet.get("name")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return parts


def _col_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def _formula_cells(path: Path, part: str | None) -> list[tuple[int, int, str, str | None, bool]]:
    """[(row, column, reference, formula text or None for a shared one, has a cached value)] of a sheet
    part, streamed; empty when the part has no formula at all (checked on the raw bytes first)."""
    import xml.etree.ElementTree as ET  # noqa: S405 - DTDs and entities were refused by check_zip_safety

    if not part:
        return []
    try:
        with zipfile.ZipFile(path) as zf, zf.open(part) as f:
            found = False
            while chunk := f.read(1 << 20):
                if b"<f" in chunk or b":f" in chunk:
                    found = True
                    break
            if not found:
                return []
        cells = []
        with zipfile.ZipFile(path) as zf, zf.open(part) as f:
            for _, el in ET.iterparse(f, events=("end",)):  # noqa: S314
                if el.tag != f"{_NS}c":
                    if el.tag == f"{_NS}row":
                        el.clear()
                    continue
                formula = el.find(f"{_NS}f")
                if formula is not None:
                    m = _CELL_REF.match(el.get("r", ""))
                    if m:
                        value = el.find(f"{_NS}v")
                        if value is None:
                            value = el.find(f"{_NS}is")
                        has_value = value is not None and (value.text not in (None, "") or len(value))
                        cells.append(
                            (int(m.group(2)) - 1, _col_index(m.group(1)), m.group(0), formula.text, bool(has_value))
                        )
    except (zipfile.BadZipFile, KeyError, OSError, ET.ParseError):
        return []
    return cells


def _apply_formulas(name: str, rows: list[list], start, cells, formulas: str, warn) -> tuple[list[list], tuple]:
    """Report formula cells without a cached value; with ``formulas="text"`` put every formula's text in
    its cell (growing the grid where a formula lies outside the data area calamine saw)."""
    missing = [c for c in cells if not c[4]]
    if missing:
        shown = ", ".join(f"{ref} (={text})" if text else ref for _, _, ref, text, _ in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        if formulas == "text":
            warn(
                f"sheet {name!r}: {len(missing)} formula cell(s) have no calculated value: {shown}{more}; "
                'their formula text is stored (formulas="text")'
            )
        else:
            warn(
                f"sheet {name!r}: {len(missing)} formula cell(s) have no calculated value (the workbook was saved "
                f"without calculating, e.g. by a library): {shown}{more}; they are null. Open and save the file in "
                'a spreadsheet program to calculate them, or set formulas="text" to get the formula text'
            )
    if formulas != "text":
        return rows, start
    r0, c0 = start if rows else (min(c[0] for c in cells), min(c[1] for c in cells))
    r0, c0 = min(r0, min(c[0] for c in cells)), min(c0, min(c[1] for c in cells))
    sr, sc = start if rows else (r0, c0)
    height = max([sr + len(rows) - 1, *(c[0] for c in cells)]) - r0 + 1
    width = max([sc + max((len(r) for r in rows), default=0) - 1, *(c[1] for c in cells)]) - c0 + 1
    grid = [[""] * width for _ in range(height)]
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            grid[sr - r0 + i][sc - c0 + j] = v
    for r, c, _ref, text, _ in cells:
        if text:  # a shared formula's other cells carry no text of their own: their cached value stays
            grid[r - r0][c - c0] = "=" + text
    return grid, (r0, c0)


def _header_rows(rows: list[list], merged, start) -> int:
    """How many rows the header takes: 2 when a group header merged across columns in the first row has a
    text sub-header under each of its columns in the second ("Revenue" over "Q1", "Q2") and the rows below
    are not text there (numbers, dates, ...), else 1. When everything below is text too, the second row
    could as well be data: it stays data."""
    if len(rows) < 3:
        return 1
    r0, c0 = start
    second = rows[1]
    for (ra, ca), (rb, cb) in merged:
        if ra == rb == r0 and cb > ca:
            cols = range(ca - c0, min(cb - c0 + 1, len(second)))
            if len(cols) > 1 and all(isinstance(second[c], str) and second[c].strip() for c in cols):
                below = (row[c] for row in rows[2:] for c in cols)
                if any(v not in (None, "") and _kind(v) != "text" for v in below):
                    return 2
    return 1


def _header_names(head: list[list], merged, start, warn) -> list[str]:
    """Column names from one header row, or two (a group row over a sub-header row: "Revenue_Q1")."""
    names = ["" if v is None else str(v).strip() for v in head[0]]
    grouped = [False] * len(names)
    # a header cell merged across columns names each of them: "Group", "Group_2", ... (or, over a
    # sub-header row, "Group_<sub-header>")
    r0, c0 = start
    for (ra, ca), (rb, cb) in merged:
        if ra <= r0 <= rb:
            first = ca - c0
            if 0 <= first < len(names) and names[first]:
                for k, col in enumerate(range(first, min(cb - c0 + 1, len(names))), start=1):
                    grouped[col] = cb > ca
                    if k > 1 and not names[col]:
                        names[col] = names[first] if len(head) > 1 else f"{names[first]}_{k}"
    if len(head) > 1:
        subs = ["" if v is None else str(v).strip() for v in head[1]]
        for i, (top, sub) in enumerate(zip(names, subs, strict=True)):
            if sub and (grouped[i] or top):
                names[i] = f"{top}_{sub}"
            elif sub:
                names[i] = sub
    seen: dict[str, int] = {}
    result = []
    for i, n in enumerate(names):
        if not n:
            n = f"column{i + 1}"
            warn(f"column {i + 1} has an empty header; named {n!r}")
        if n in seen:
            seen[n] += 1
            new = f"{n}_{seen[n]}"
            warn(f"duplicate column name {n!r} renamed to {new!r}")
            n = new
        else:
            seen[n] = 0
        result.append(n)
    return result


def rows_to_table(rows: list[list], *, header: bool, merged=(), start=(0, 0), warn=lambda m: None) -> pa.Table:
    if not rows:
        warn("the sheet is empty")
        return pa.table({})
    width = max(len(r) for r in rows)
    rows = [list(r) + [""] * (width - len(r)) for r in rows]
    if header:
        n = _header_rows(rows, merged, start)
        names = _header_names(rows[:n], merged, start, warn)
        body = rows[n:]
    else:
        names = [f"column{i + 1}" for i in range(width)]
        body = rows
    # rows inside the data area are kept even when blank (they may be all-null records);
    # calamine already trims empty rows and columns around the data area
    kept = body
    if not kept:
        warn("no data rows (header only)")
    columns = list(zip(*kept, strict=True)) if kept else [() for _ in names]
    arrays = [infer_column(list(col), name, warn) for name, col in zip(names, columns, strict=True)]
    return pa.table(dict(zip(names, arrays, strict=True))) if names else pa.table({})


def infer_column(values: list, name: str, warn) -> pa.Array:
    """One typed Arrow array from a column of cell values (every cell considered).

    Excel stores every number as a float: a column whose numbers are all whole
    becomes int64. Empty cells are nulls. A column that mixes kinds (numbers
    and text) becomes text, with a warning."""
    values = [None if (v == "" or v is None) else v for v in values]
    present = [v for v in values if v is not None]
    if not present:
        return pa.array(values, type=pa.string())
    kinds = {_kind(v) for v in present}
    if kinds == {"number"}:
        if all(isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 2**53) for v in present):
            return pa.array([None if v is None else int(v) for v in values], type=pa.int64())
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    if kinds == {"bool"}:
        return pa.array(values, type=pa.bool_())
    if kinds <= {"datetime", "date"}:
        if kinds == {"date"}:
            return pa.array(values, type=pa.date32())
        stamps = [
            None if v is None else (v if isinstance(v, datetime) else datetime.combine(v, time())) for v in values
        ]
        return pa.array(stamps, type=pa.timestamp("us"))
    if kinds == {"time"}:
        return pa.array(values, type=pa.time64("us"))
    if kinds == {"duration"}:
        return pa.array(values, type=pa.duration("us"))
    if kinds != {"text"}:
        warn(f"column {name!r} mixes {sorted(kinds)}; stored as text")
    return pa.array([None if v is None else _text(v) for v in values], type=pa.string())


def _kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, datetime):
        return "datetime"
    if isinstance(v, date):
        return "date"
    if isinstance(v, time):
        return "time"
    if isinstance(v, timedelta):
        return "duration"
    return "text"


def _text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)
