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
