"""Property-based round trips: a typed table written as csv, jsonl and xlsx converts back to an equal table.

csv and jsonl must round-trip exactly (floats are written with ``repr``, the shortest exact form). A
workbook differs only within Excel's documented limits, and the xlsx property applies exactly those:

- Excel keeps 15 significant digits (and numbers up to 9.99999999999999E+307) of a number: the generated floats are ones Excel represents (at most
  15 significant digits) and the converted floats are compared after rounding to 15 significant digits
  (the writer may emit a 16th digit that Excel itself would drop).
- Excel has no date-only or integer type: a date column reads back as midnight timestamps and a float
  column whose values happen to be whole as int64, so the result is cast to the expected schema.
- A trailing all-empty row does not exist in a sheet (rows of nulls before the last non-empty row do).

Settings keep the file to a few seconds and CI reproducible: few examples, derandomized, no example
database, no deadline, and no shrinking (a failing table is at most 16 rows, readable as it is; shrinking
one that goes through a converter costs minutes).
"""

from __future__ import annotations

import csv
import json
import string
import tempfile
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from services_app.capabilities.conversion import convert_file

SCHEMA = pa.schema(
    [
        ("i", pa.int64()),
        ("f", pa.float64()),
        ("s", pa.string()),
        ("b", pa.bool_()),
        ("d", pa.date32()),
        ("t", pa.timestamp("us")),
    ]
)
EXCEL_DIGITS = 15


def _excel_float(x: float) -> float:
    """The float Excel keeps for ``x``: rounded to 15 significant digits."""
    return float(f"{x:.{EXCEL_DIGITS}g}")


text = st.text(alphabet=string.ascii_letters + ' ,;"éü\n', min_size=0, max_size=12).map(lambda s: "w" + s.strip())
any_float = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False)
# Excel's largest number is 9.99999999999999E+307
excel_float = st.floats(-9.99999999999999e307, 9.99999999999999e307, allow_subnormal=False).map(_excel_float)


def rows(floats: st.SearchStrategy[float]) -> st.SearchStrategy[list[dict]]:
    row = st.fixed_dictionaries(
        {
            "i": st.none() | st.integers(-(2**40), 2**40),
            "f": st.none() | floats,
            "s": st.none() | text,
            "b": st.none() | st.booleans(),
            "d": st.none() | st.dates(date(1990, 1, 1), date(2100, 1, 1)),
            "t": st.none()
            | st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.replace(microsecond=0)),
        }
    )
    # the first row has no nulls, so that every column has a value to be typed by; later rows may be all null
    first = row.filter(lambda r: all(v is not None for v in r.values()))
    all_null = st.just(dict.fromkeys(SCHEMA.names))
    return st.tuples(first, st.lists(row | all_null, max_size=15)).map(lambda fr: [fr[0], *fr[1]])


SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    return repr(v) if isinstance(v, float) else str(v)


def _convert(src: Path, out: Path) -> None:
    report = convert_file(src, out)
    assert report["status"] == "converted", report


def _assert_equal(got: pa.Table, rows: list[dict]) -> None:
    expected = pa.Table.from_pylist(rows, schema=SCHEMA)
    assert got.schema.equals(SCHEMA), got.schema
    assert got.num_rows == expected.num_rows
    for name in SCHEMA.names:
        assert got[name].to_pylist() == expected[name].to_pylist(), name


@SETTINGS
@given(rows(any_float))
def test_csv_round_trip(rows):
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.csv"
        with open(src, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(SCHEMA.names)
            for r in rows:
                w.writerow([_fmt(r[c]) for c in SCHEMA.names])
        _convert(src, Path(d) / "t.parquet")
        _assert_equal(pq.read_table(Path(d) / "t.parquet"), rows)


@SETTINGS
@given(rows(any_float))
def test_jsonl_round_trip(rows):
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.jsonl"
        with open(src, "w", encoding="utf-8") as f:
            for r in rows:
                rec = {k: (_fmt(r[k]) if isinstance(r[k], date) else r[k]) for k in SCHEMA.names}
                f.write(json.dumps(rec) + "\n")
        _convert(src, Path(d) / "t.parquet")
        _assert_equal(pq.read_table(Path(d) / "t.parquet"), rows)


@SETTINGS
@given(rows(excel_float))
def test_xlsx_round_trip(rows):
    import openpyxl

    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.xlsx"
        wb = openpyxl.Workbook(write_only=True)  # the streaming writer: no cell objects kept
        ws = wb.create_sheet("data")
        ws.append(SCHEMA.names)
        for r in rows:
            ws.append([r[c] for c in SCHEMA.names])
        wb.save(src)
        _convert(src, Path(d) / "out")
        got = pq.read_table(Path(d) / "out" / "data.parquet").cast(SCHEMA)
        got = got.set_column(1, "f", pa.array([None if x is None else _excel_float(x) for x in got["f"].to_pylist()]))
        while rows and all(v is None for v in rows[-1].values()):
            rows = rows[:-1]
        _assert_equal(got, rows)


# --- the reader's decisions under round trips: locale numbers, Western encodings, whitespace, preambles ----
LOCALES = [(",", "."), (".", ","), (",", " "), (",", "'"), (".", "'")]


def _locale_number(x: float, decimal: str, thousands: str) -> str:
    whole, frac = f"{abs(x):,.2f}".split(".")
    return ("-" if x < 0 else "") + whole.replace(",", thousands) + decimal + frac


@SETTINGS
@given(
    st.sampled_from(LOCALES),
    st.lists(st.floats(-1e9, 1e9, allow_nan=False).map(lambda x: round(x, 2)), min_size=2, max_size=16),
)
def test_locale_numbers_round_trip(locale, values):
    decimal, thousands = locale
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "n.csv"
        lines = ["id;amount"] + [f"{i};{_locale_number(v, decimal, thousands)}" for i, v in enumerate(values)]
        src.write_text("\n".join(lines) + "\n", encoding="utf-8")
        report = convert_file(src, Path(d) / "n.parquet", {"decimal": decimal, "thousands": thousands})
        got = pq.read_table(Path(d) / "n.parquet")["amount"].to_pylist()
        assert got == [round(v, 2) for v in values], (lines, report["warnings"])


# words of Western and Central European languages, each encodable in the code page it is tested with
# (Polish for cp1250: Czech "kůň" or Hungarian "Győr" alone read as plausibly in cp1252, "kùò", "Gyõr";
# letters alone cannot tell those apart, and the report then warns with both readings)
WORDS = {
    "cp1252": ["über", "gründen", "wäre", "Réunion", "naïve", "crème", "señor", "ação", "smörgåsbord", "Straße"],
    "mac_roman": ["über", "gründen", "wäre", "Réunion", "naïve", "crème", "señor", "façade", "Ålesund", "Straße"],
    "cp1250": ["Zażółć", "gęślą", "jaźń", "źdźbło", "Wrocław", "Gdańsk", "Łódź", "Kraków", "Straße"],
}


@SETTINGS
@given(
    st.sampled_from(sorted(WORDS)).flatmap(
        lambda enc: st.tuples(
            st.just(enc),
            st.lists(
                st.lists(st.sampled_from(WORDS[enc]), min_size=1, max_size=4).map(" ".join), min_size=1, max_size=12
            ),
        )
    )
)
def test_western_encodings_round_trip(case):
    encoding, texts = case
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "w.csv"
        src.write_bytes(("text,n\n" + "".join(f"{t},{i}\n" for i, t in enumerate(texts))).encode(encoding))
        convert_file(src, Path(d) / "w.parquet")
        assert pq.read_table(Path(d) / "w.parquet")["text"].to_pylist() == texts


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(-(10**6), 10**6), st.integers(0, 10**4)), min_size=2, max_size=16),
    st.booleans(),
    st.integers(1, 4),
)
def test_whitespace_delimited_round_trip(rows, header, width):
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "s.txt"
        pad = " " * width
        lines = ([f"x{pad}y"] if header else []) + [f"{a}{pad}{b}" for a, b in rows]
        src.write_text("\n".join(lines) + "\n")
        convert_file(src, Path(d) / "s.parquet")
        got = pq.read_table(Path(d) / "s.parquet")
        assert got.num_rows == len(rows) and got.num_columns == 2
        assert list(zip(got.column(0).to_pylist(), got.column(1).to_pylist(), strict=True)) == rows
        if header:
            assert got.column_names == ["x", "y"]


PREAMBLES = st.lists(
    st.sampled_from(["Report generated 2024-11-29", "# exported by tool", "", "Source: survey", "# a; b; c"]),
    min_size=1,
    max_size=4,
).filter(lambda lines: any(line.strip() for line in lines))


@SETTINGS
@given(PREAMBLES, rows(any_float))
def test_preamble_lines_are_skipped_and_counted(preamble, rows):
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "p.csv"
        with open(src, "w", newline="", encoding="utf-8") as f:
            f.write("\r\n".join(preamble) + "\r\n")  # the csv writer's line ending: DuckDB reads one kind per file
            w = csv.writer(f)
            w.writerow(SCHEMA.names)
            for r in rows:
                w.writerow([_fmt(r[c]) for c in SCHEMA.names])
        report = convert_file(src, Path(d) / "p.parquet")
        assert report["read"]["skipped_lines"] == len(preamble)
        _assert_equal(pq.read_table(Path(d) / "p.parquet"), rows)
