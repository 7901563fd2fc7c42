"""convert_file / read_table on real files: formats, types, metadata, bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import zipfile
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services_app.capabilities.conversion import ConversionError, convert_file, read_table
from services_app.errors import ServiceError

from .makers import make_billion_laughs_xlsx, make_pdf, make_xlsx, make_zip_bomb_xlsx


def conv(tmp_path: Path, name: str, content: bytes | str, **options) -> tuple[dict, pa.Table]:
    src = tmp_path / name
    src.write_bytes(content.encode() if isinstance(content, str) else content)
    out = tmp_path / "out" / (name + ".parquet")
    report = convert_file(src, out, options or None)
    return report, pq.read_table(out)


def fails(tmp_path: Path, name: str, content: bytes | str, **options) -> ConversionError:
    src = tmp_path / name
    src.write_bytes(content.encode() if isinstance(content, str) else content)
    out = tmp_path / "out" / (name + ".parquet")
    with pytest.raises(ServiceError) as info:
        convert_file(src, out, options or None)
    # nothing half-written: no output, no temporary file
    leftovers = list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else []
    assert leftovers == [], leftovers
    return info.value


def test_csv_types_nulls_metadata(tmp_path):
    body = (
        "id,name,amount,when,day,flag\n"
        "1,alpha,1.5,2024-01-02 03:04:05,2024-01-02,true\n"
        "2,,2.25,2024-02-03 04:05:06,2024-02-03,false\n"
        '3,"quoted, with comma",,,,\n'
    )
    report, table = conv(tmp_path, "a.csv", body)
    schema = {f.name: str(f.type) for f in table.schema}
    assert schema == {
        "id": "int64",
        "name": "string",
        "amount": "double",
        "when": "timestamp[us]",
        "day": "date32[day]",
        "flag": "bool",
    }
    assert table.column("name").to_pylist() == ["alpha", None, "quoted, with comma"]
    assert table.column("amount").to_pylist() == [1.5, 2.25, None]
    assert table.column("when")[0].as_py() == datetime(2024, 1, 2, 3, 4, 5)
    assert report["rows"] == 3 and report["columns"] == 6
    src_sha = hashlib.sha256(body.encode()).hexdigest()
    assert report["sha256"] == src_sha
    meta = pq.read_metadata(tmp_path / "out" / "a.csv.parquet").metadata
    assert meta[b"source_sha256"].decode() == src_sha
    assert meta[b"source"].decode().endswith("a.csv")
    assert json.loads(meta[b"options"])["compression"] == "snappy"
    codecs = {
        c["compression"]
        for c in pq.read_metadata(tmp_path / "out" / "a.csv.parquet").to_dict()["row_groups"][0]["columns"]
    }
    assert codecs == {"SNAPPY"}
    assert meta[b"converter_version"]
    out_sha = hashlib.sha256((tmp_path / "out" / "a.csv.parquet").read_bytes()).hexdigest()
    assert report["outputs"][0]["sha256"] == out_sha


@pytest.mark.parametrize("spelling", [("true", "false"), ("True", "False")])
def test_rows_keep_their_order_with_a_checked_boolean_column(tmp_path, spelling):
    """The strict check of a true/false column once planned as a join, and DuckDB's COPY then wrote row
    groups in the order its threads finished them: rows 307,200-349,086 of 400,000 came after the last."""
    n = 400_000
    rows = "".join(f"{i},{spelling[i % 3 == 0]},{i % 7}\n" for i in range(n))
    (tmp_path / "flags.csv").write_text("id,flag,bucket\n" + rows)
    convert_file(tmp_path / "flags.csv", tmp_path / "flags.parquet")
    table = pq.read_table(tmp_path / "flags.parquet")
    assert table.schema.field("flag").type == pa.bool_()
    assert table.column("id").to_pylist() == list(range(n))
    assert table.column("flag").to_pylist()[:4] == [False, True, True, False]


_DUCKDB_TYPES = [
    *(
        "BOOLEAN TINYINT SMALLINT INTEGER BIGINT UTINYINT USMALLINT UINTEGER UBIGINT FLOAT DOUBLE VARCHAR BLOB DATE "
        "TIME TIMESTAMP TIMESTAMPTZ HUGEINT TIMESTAMP_MS TIMESTAMP_NS TIMESTAMP_S UUID INTERVAL"
    ).split(),
    "DECIMAL(4,1)",
    "DECIMAL(18,3)",
    "DECIMAL(30,5)",
    "INTEGER[]",
    "STRUCT(a INTEGER, b VARCHAR)",
    "MAP(VARCHAR, INTEGER)",
]


@pytest.mark.parametrize("duck_type", _DUCKDB_TYPES)
def test_the_schema_of_a_written_file_names_each_type_as_arrow_does(tmp_path, duck_type):
    """Outputs' schemas are read back by DuckDB (a CSV's conversion never imports pyarrow): every type must
    carry the name pyarrow gives it, whether mapped or left to pyarrow."""
    from services_app.capabilities.conversion.core import _written_schema
    from services_app.tables.engine import connection

    path = tmp_path / "t.parquet"
    connection().execute(
        f'COPY (SELECT CAST(NULL AS {duck_type}) AS "x", 7 AS "n" FROM range(3)) TO \'{path}\' (FORMAT parquet)'
    )
    arrow = pq.read_metadata(path).schema.to_arrow_schema()  # as outputs named their types before
    assert _written_schema(path) == (3, [(f.name, str(f.type)) for f in arrow])


@pytest.mark.parametrize("name", ["last.csv", "last.txt"])
def test_a_last_line_longer_than_a_read_buffer_is_refused_not_dropped(tmp_path, name):
    """DuckDB dropped a final line of 17 MB (longer than its 16 MB read buffer) and reported the other rows
    as the whole file; a long line anywhere else was already an error."""
    head = "id,s\n" + "".join(f"{i},a\n" for i in range(50_000))
    for ending in ("\n", ""):
        (tmp_path / name).write_text(head + "50000," + "y" * 17_000_000 + ending)
        with pytest.raises(ConversionError) as info:
            convert_file(tmp_path / name, tmp_path / "out.parquet")
        assert info.value.code == "line_too_long" and "last line" in info.value.message
        assert not (tmp_path / "out.parquet").exists()
    # a file larger than a buffer whose last line is short converts whole
    (tmp_path / "big.csv").write_text(head + "".join(f"{i},{'z' * 400}\n" for i in range(50_000, 95_000)))
    report = convert_file(tmp_path / "big.csv", tmp_path / "big.parquet")
    assert (tmp_path / "big.csv").stat().st_size > 16 * 1024 * 1024 and report["rows"] == 95_000


def test_sheets_whose_names_clash_get_files_of_their_own(tmp_path):
    """ "a!b" and "a#b" both made a_b.parquet, and the second sheet overwrote the first."""
    make_xlsx(tmp_path / "b.xlsx", {"a!b": [["v"], [1]], "a#b": [["w"], [2], [3]], "A_B": [["x"], ["z"]]})
    report = convert_file(tmp_path / "b.xlsx", tmp_path / "b.parquet")
    files = {o["location"].rsplit("/", 1)[-1]: o for o in report["outputs"]}
    assert set(files) == {"a_b.parquet", "a_b_2.parquet", "A_B_3.parquet"}
    assert pq.read_table(tmp_path / "b" / "a_b.parquet").to_pylist() == [{"v": 1}]
    assert pq.read_table(tmp_path / "b" / "a_b_2.parquet").to_pylist() == [{"w": 2}, {"w": 3}]
    assert pq.read_table(tmp_path / "b" / "A_B_3.parquet").to_pylist() == [{"x": "z"}]
    assert report["rows"] == 4 and files["a_b_2.parquet"]["rows"] == 2
    assert sum("clashes" in w for w in report["warnings"]) == 2


def test_nested_columns_count_once(tmp_path):
    """A struct column is one column of the table (Parquet's footer counts its leaves: it said 3 here)."""
    report, table = conv(
        tmp_path, "n.jsonl", '{"a": 1, "d": {"x": 1, "y": [1, 2]}}\n{"a": 2, "d": {"x": 3, "y": []}}\n'
    )
    assert report["columns"] == report["outputs"][0]["columns"] == table.num_columns == 2
    assert report["outputs"][0]["schema"] == {"a": "int64", "d": "struct<x: int64, y: list<element: int64>>"}


def test_a_csv_conversion_does_not_import_pyarrow(tmp_path):
    """pyarrow costs a command about 0.07 s of start-up; a CSV's conversion reads its output's schema with
    DuckDB instead (a fresh interpreter: this test process has pyarrow loaded already)."""
    import subprocess
    import sys

    (tmp_path / "a.csv").write_text("id,name,when\n1,x,2024-01-02\n2,y,2024-01-03\n")
    code = (
        "import sys\n"
        "from services_app.capabilities.conversion import convert_file\n"
        f"r = convert_file({str(tmp_path / 'a.csv')!r}, {str(tmp_path / 'a.parquet')!r})\n"
        "print(r['rows'], r['outputs'][0]['schema'], 'pyarrow' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2], check=True
    ).stdout
    assert out.strip() == "2 {'id': 'int64', 'name': 'string', 'when': 'date32[day]'} False"


def test_late_value_widens_the_column_with_a_warning(tmp_path):
    rows = "".join(f"{i},{i * 2}\n" for i in range(30_000))
    report, table = conv(tmp_path, "late.csv", "id,v\n" + rows + "N/A,7\n")
    assert table.num_rows == 30_001
    assert table.schema.field("id").type == pa.string()
    assert table.schema.field("v").type == pa.int64()
    assert table.column("id")[30_000].as_py() == "N/A"
    assert any("'id'" in w and "BIGINT" in w for w in report["warnings"])


def test_null_values_option_keeps_integers(tmp_path):
    rows = "".join(f"{i}\n" for i in range(30_000))
    report, table = conv(tmp_path, "n.csv", "id\n" + rows + "N/A\n", null_values=["N/A"])
    assert table.schema.field("id").type == pa.int64()
    assert table.column("id").null_count == 1
    assert report["warnings"] == []


def test_delimiter_encoding_bom_crlf_quoted_newlines(tmp_path):
    body = '\ufeffname;city;n\r\n"Zoë";"Köln\r\nNord";1\r\n"Ana";"Porto";2\r\n'
    report, table = conv(tmp_path, "semi.csv", body)
    assert table.column_names == ["name", "city", "n"]
    assert table.column("city").to_pylist() == ["Köln\r\nNord", "Porto"]
    assert report["delimiter"] == ";"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_legacy_encodings_are_decoded_with_a_warning(tmp_path, encoding):
    text = "name,price\ncafé,1\nnaïve – “quoted”,2\n" if encoding == "cp1252" else "name,price\ncafé,1\nnaïve,2\n"
    report, table = conv(tmp_path, f"{encoding}.csv", text.encode(encoding))
    assert table.column("name").to_pylist()[0] == "café"
    if encoding == "cp1252":
        assert table.column("name").to_pylist()[1] == "naïve – “quoted”"
    assert any("not UTF-8" in w for w in report["warnings"])


def test_explicit_encoding_and_tsv(tmp_path):
    report, table = conv(tmp_path, "x.tsv", "a\tb\n1\tü\n".encode("cp1252"), encoding="cp1252")
    assert table.to_pylist() == [{"a": 1, "b": "ü"}]


def test_gzip_text(tmp_path):
    report, table = conv(tmp_path, "g.csv.gz", gzip.compress(b"a,b\n1,x\n2,y\n"))
    assert report["format"] == "csv.gz"
    assert table.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert table.schema.field("a").type == pa.int64()


def test_no_header_and_column_types_and_columns(tmp_path):
    report, table = conv(
        tmp_path, "h.csv", "007,5\n008,6\n", header=False, column_types={"column0": "string"}, columns=["column0"]
    )
    assert table.column_names == ["column0"]
    assert table.column("column0").to_pylist() == ["007", "008"]


def test_txt_without_delimiter_is_one_row_per_line(tmp_path):
    report, table = conv(tmp_path, "notes.txt", "first line\nsecond line, with a comma\nthird\n")
    assert table.column_names == ["text"]
    assert table.column("text").to_pylist() == ["first line", "second line, with a comma", "third"]
    assert report["warnings"] == []


def test_json_layouts(tmp_path):
    _, t1 = conv(tmp_path, "arr.json", json.dumps([{"a": 1, "n": {"x": 1, "y": [1, 2]}}, {"a": 2, "n": None}]))
    assert pa.types.is_struct(t1.schema.field("n").type)
    assert t1.to_pylist() == [{"a": 1, "n": {"x": 1, "y": [1, 2]}}, {"a": 2, "n": None}]
    _, t2 = conv(tmp_path, "obj.json", json.dumps({"a": [1, 2, 3], "b": ["x", None, "z"]}))
    assert t2.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}, {"a": 3, "b": "z"}]
    _, t3 = conv(tmp_path, "l.jsonl", '{"a": 1, "t": "2024-01-02T03:04:05"}\n{"a": 2, "t": null}\n')
    assert t3.schema.field("a").type == pa.int64()
    assert pa.types.is_timestamp(t3.schema.field("t").type)
    assert t3.to_pylist() == [{"a": 1, "t": datetime(2024, 1, 2, 3, 4, 5)}, {"a": 2, "t": None}]


def test_json_negative_integers_stay_int64_when_nested(tmp_path):
    body = '{"a": -5, "s": {"c": -3, "l": [-1, 2]}}\n{"a": 7, "s": {"c": 2, "l": []}}\n'
    _, t = conv(tmp_path, "neg.jsonl", body)
    assert t.schema.field("a").type == pa.int64()
    assert t.schema.field("s").type == pa.struct([("c", pa.int64()), ("l", pa.list_(pa.int64()))])
    assert t.to_pylist()[0] == {"a": -5, "s": {"c": -3, "l": [-1, 2]}}


# A column typed BIGINT from the first rows that meets text later is widened to text: numbers as written, a
# string without its JSON quotes (as a column mixing them from the start, below).
LATE_JSON_VALUES = ["0", "24999", "N/A"]


def test_a_given_timestamp_refuses_a_value_with_a_utc_offset(tmp_path):
    """DuckDB's cast to TIMESTAMP drops "+02:00" and keeps 10:00, another instant: a type given in column_types
    is a promise about every value, so the value is an error that says what to give instead."""
    body = "x,t\n1,2024-01-01 10:00:00\n" + "".join(f"{i},2024-01-02 11:30:00\n" for i in range(30_000))
    for where, extra in (
        ("first rows", "x,t\n2,2024-01-01T10:00:00+02:00\n" + body[4:]),
        ("late", body + "2,2024-01-01T10:00:00+02:00\n"),
    ):
        err = fails(tmp_path, "ts.csv", extra, column_types={"t": "timestamp"})
        assert err.code == "type_error", where
        assert "'2024-01-01T10:00:00+02:00', with a UTC offset that this type would drop" in err.message
        assert "timestamptz" in err.message
    err = fails(tmp_path, "time.csv", "t\n10:00:00\n11:00:00+01:00\n", column_types={"t": "time"})
    assert err.code == "type_error" and "'11:00:00+01:00', with a UTC offset" in err.message
    # timestamptz keeps the instant; values without an offset keep a plain timestamp
    report, table = conv(
        tmp_path, "tz.csv", "t\n2024-01-01T10:00:00+02:00\n2024-01-01 10:00:00\n", column_types={"t": "timestamptz"}
    )
    assert [v.isoformat() for v in table.column("t").to_pylist()] == [
        "2024-01-01T08:00:00+00:00",
        "2024-01-01T10:00:00+00:00",
    ]
    report, table = conv(
        tmp_path, "naive.csv", "t\n2024-01-01 10:00:00\n2024-01-02T11:30:00\n", column_types={"t": "timestamp"}
    )
    assert table.column("t").to_pylist() == [datetime(2024, 1, 1, 10, 0), datetime(2024, 1, 2, 11, 30)]


def test_csv_integers_beyond_64_bits_keep_every_digit(tmp_path):
    """DuckDB types them HUGEINT, which its Parquet writer stores as a DOUBLE (18446744073709551615 became
    18446744073709551616.0): written as DECIMAL(38,0), exact; a 39-digit value makes the column text."""
    report, table = conv(tmp_path, "big.csv", "id,v\n18446744073709551615,1\n5,2\n-99999999999999999999,3\n")
    assert table.schema.field("id").type == pa.decimal128(38, 0)
    assert [str(x) for x in table.column("id").to_pylist()] == [
        "18446744073709551615",
        "5",
        "-99999999999999999999",
    ]
    assert report["warnings"] == []
    report, table = conv(tmp_path, "bigger.csv", "id\n170141183460469231731687303715884105727\n5\n")
    assert table.column("id").to_pylist() == ["170141183460469231731687303715884105727", "5"]
    assert "column 'id'" in report["warnings"][0]


def test_json_fields_of_mixed_types_are_text_without_json_quotes(tmp_path):
    records = [
        {"a": 1, "x": 1, "s": {"k": 1}},
        {"a": 2, "x": "e", "s": {"k": "v"}},
        {"a": 3, "x": {"k": 2}, "s": {"k": None}},
        {"a": 4, "x": [1, "b"], "s": None},
        {"a": 5, "x": None, "s": {"k": True}},
        {"a": 6, "x": 'say "hi"', "s": {"k": 2.5}},
    ]
    for name, body in (
        ("mixed.jsonl", "".join(json.dumps(r) + "\n" for r in records)),
        ("mixed.json", json.dumps(records)),
    ):
        report, table = conv(tmp_path, name, body)
        assert table.schema.field("x").type == pa.string()
        assert table.column("x").to_pylist() == ["1", "e", '{"k":2}', '[1,"b"]', None, 'say "hi"']
        assert [r and r["k"] for r in table.column("s").to_pylist()] == ["1", "v", None, None, "true", "2.5"]
        assert report["warnings"] == [
            "values of more than one JSON type (e.g. numbers and text) in 'x', 's': written as text "
            "(objects and arrays as JSON text)"
        ]


@pytest.mark.parametrize(
    ("head", "late", "expected_type", "expected_last"),
    [
        (1, 2.5, pa.float64(), 2.5),  # was 2: DuckDB's reader cast it to the sampled BIGINT
        (True, 3, pa.string(), "3"),  # was true
        (True, "yes", pa.string(), "yes"),  # was true
        ("2024-01-01", "2024-01-01 10:00:00", pa.string(), "2024-01-01 10:00:00"),  # was the date, time cut
        ("2024-01-01 10:00:00", "2024-01-01T10:00:00+02:00", pa.string(), "2024-01-01T10:00:00+02:00"),  # offset
        (None, 5, pa.string(), "5"),  # was lost: a field null in the whole sample
    ],
)
@pytest.mark.parametrize("layout", ["jsonl", "json"])
def test_json_values_after_the_sample_are_never_cast_to_its_type(
    tmp_path, layout, head, late, expected_type, expected_last
):
    """DuckDB sniffs the first 20,480 records; given the types it found, its reader casts a later value to
    them without a word. The sampled integers, booleans, dates and timestamps are read as text and checked
    value by value: a later value that does not fit makes the whole file decide, with a warning."""
    records = [{"m": head, "k": i} for i in range(21_000)] + [{"m": late, "k": -1}]
    body = "".join(json.dumps(r) + "\n" for r in records) if layout == "jsonl" else json.dumps(records)
    report, table = conv(tmp_path, f"late.{layout}", body)
    assert table.schema.field("m").type == expected_type
    assert table.column("m").to_pylist()[-1] == expected_last
    assert table.column("k").to_pylist()[-1] == -1 and table.num_rows == 21_001
    if head is not None:  # one warning, about m alone (k's late -1 is still an int64)
        (warning,) = report["warnings"]
        assert warning.startswith(f"column 'm': 1 value(s) later in the file (e.g. [{str(late)!r}]) do not fit ")


def test_json_fields_given_a_type_are_cast_to_it_not_checked_as_sampled(tmp_path):
    err = fails(tmp_path, "bad.jsonl", '{"id": 1}\n', column_types={"id": "date"})
    assert err.code == "type_error"
    body = "".join(json.dumps({"m": i, "d": "2024-01-02"}) + "\n" for i in range(3)) + '{"m": 2.5, "d": "x"}\n'
    report, table = conv(tmp_path, "given.jsonl", body, column_types={"m": "double", "d": "string"})
    assert table.column("m").to_pylist() == [0.0, 1.0, 2.0, 2.5]
    assert table.column("d").to_pylist() == ["2024-01-02"] * 3 + ["x"]
    assert report["warnings"] == []


def test_json_files_duckdb_cannot_read_say_why_in_plain_words(tmp_path):
    err = fails(tmp_path, "nested.jsonl", '{"o": {"X": 1, "x": 2}}\n')
    assert err.message == (
        "a nested object holds keys that differ only in case (such as 'x'): DuckDB reads such an object into a "
        "struct, which cannot hold both; rename one of the keys"
    )
    deep = {"a": 1}
    for _ in range(200):
        deep = {"n": deep}
    err = fails(tmp_path, "deep.jsonl", json.dumps(deep) + "\n")
    assert err.message == "a JSON record is nested more than 128 levels deep, more than the reader follows"
    assert err.code == "read_error"


def test_json_records_with_an_empty_key_are_one_column_with_a_warning(tmp_path):
    report, table = conv(tmp_path, "empty.jsonl", '{"": 1, "a": 2}\n{"": 3, "a": 4}\n')
    assert table.column_names == ["json"]
    assert [dict(v) for v in table.column("json").to_pylist()] == [{"": 1, "a": 2}, {"": 3, "a": 4}]
    assert report["warnings"] == [
        'records with an empty key ("") cannot be read as columns: each record is written whole, in one column '
        "'json'; rename the empty key to get a column per key"
    ]
    report, table = conv(tmp_path, "named.jsonl", '{"json": 1}\n{"json": 2}\n')  # a key named json: a column
    assert table.column("json").to_pylist() == [1, 2] and report["warnings"] == []


def test_json_keys_that_differ_only_in_case_keep_their_values(tmp_path):
    """DuckDB reads "name" beside "Name" into a column "name_1"; columns given to it explicitly would look
    up a key "name_1" and give NULLs: every value is kept, under the name DuckDB gives, with a warning."""
    body = '{"Name": "a", "name": -7, "x": -1}\n{"name": 8, "x": 2}\n{"NAME": "q", "Name": "r", "name": 9}\n'
    report, table = conv(tmp_path, "case.jsonl", body)
    assert table.column_names == ["Name", "name_1", "x", "NAME_2"]
    assert table.to_pylist() == [
        {"Name": "a", "name_1": -7, "x": -1, "NAME_2": None},
        {"Name": None, "name_1": 8, "x": 2, "NAME_2": None},
        {"Name": "r", "name_1": 9, "x": None, "NAME_2": "q"},
    ]
    assert table.schema.field("name_1").type == table.schema.field("x").type == pa.int64()  # not HUGEINT/double
    assert report["warnings"] == [
        "keys that differ only in case from another key, which DuckDB and most Parquet readers do not tell "
        "apart, are written under new names: 'name' as 'name_1', 'NAME' as 'NAME_2'"
    ]


def test_jsonl_late_type_change_widens(tmp_path):
    body = "".join(json.dumps({"a": i}) + "\n" for i in range(25_000)) + '{"a": "N/A"}\n'
    report, table = conv(tmp_path, "late.jsonl", body)
    assert table.num_rows == 25_001
    column = table.column("a")
    assert [column[0].as_py(), column[24_999].as_py(), column[25_000].as_py()] == LATE_JSON_VALUES
    assert len(report["warnings"]) == 1
    assert "column 'a'" in report["warnings"][0] and "do not fit BIGINT" in report["warnings"][0]


def test_zstd_is_one_option_away_at_level_1_unless_given(tmp_path):
    """snappy by default (as DuckDB and pyarrow write); zstd on request, at level 1 (about a tenth faster than
    the writer's 3) or the level given."""
    rows = "".join(f"{i},{'abcdefgh'[i % 8] * (i % 13)},{i * 0.5}\n" for i in range(20_000))
    (tmp_path / "z.csv").write_text("id,s,x\n" + rows)
    sizes = {}
    for name, options in (
        ("snappy", None),
        ("zstd", {"compression": "zstd"}),
        ("zstd9", {"compression": "zstd", "compression_level": 9}),
    ):
        out = tmp_path / f"{name}.parquet"
        convert_file(tmp_path / "z.csv", out, options)
        meta = pq.read_metadata(out)
        assert meta.row_group(0).column(1).compression == ("SNAPPY" if name == "snappy" else "ZSTD"), name
        assert pq.read_table(out).column("id").to_pylist() == list(range(20_000))
        sizes[name] = meta.row_group(0).column(1).total_compressed_size
    assert json.loads(pq.read_metadata(tmp_path / "zstd.parquet").metadata[b"options"])["compression_level"] == 1
    assert json.loads(pq.read_metadata(tmp_path / "zstd9.parquet").metadata[b"options"])["compression_level"] == 9
    for codec in ("snappy", "gzip", "brotli"):  # the writer would ignore a level without a word
        with pytest.raises(ServiceError, match="zstd only"):
            convert_file(tmp_path / "z.csv", tmp_path / "x.parquet", {"compression": codec, "compression_level": 5})
    assert sizes["zstd9"] < sizes["zstd"] < sizes["snappy"]  # the level reached the writer


def test_parquet_is_validated_and_reencoded(tmp_path):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", None]}), src, compression="snappy")
    report = convert_file(src, tmp_path / "o.parquet", {"compression": "gzip"})
    assert pq.read_table(tmp_path / "o.parquet").to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": None}]
    assert pq.read_metadata(tmp_path / "o.parquet").row_group(0).column(0).compression == "GZIP"
    assert report["rows"] == 2
    err = fails(tmp_path, "bad.parquet", b"PAR1 not really")
    assert err.code == "corrupt_file"


def test_xlsx_every_sheet_typed(tmp_path):
    src = make_xlsx(
        tmp_path / "book.xlsx",
        {
            "Sales": [
                [],
                ["id", "amount", "when", "ok", "note"],
                [1, 2.5, datetime(2024, 1, 2, 3, 4), True, None],
                [2, 3.0, datetime(2024, 1, 3), False, "x"],
            ],
            "Empty": [],
            "Other": [["k"], ["v"]],
        },
    )
    report = convert_file(src, tmp_path / "out" / "book.parquet")
    locs = sorted(o["location"] for o in report["outputs"])
    assert [Path(p).name for p in locs] == ["Other.parquet", "Sales.parquet"]
    t = pq.read_table(tmp_path / "out" / "book" / "Sales.parquet")
    assert {f.name: str(f.type) for f in t.schema} == {
        "id": "int64",
        "amount": "double",
        "when": "timestamp[us]",
        "ok": "bool",
        "note": "string",
    }
    assert t.column("note").to_pylist() == [None, "x"]
    assert any("Empty" in w for w in report["warnings"])
    assert pq.read_metadata(tmp_path / "out" / "book" / "Sales.parquet").metadata[b"sheet"] == b"Sales"
    only = read_table(src, sheet="Other")
    assert only.to_pylist() == [{"k": "v"}]


def test_xlsx_merged_header_and_duplicates(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Region", None, "x", "x", None])
    ws.merge_cells("A1:B1")
    ws.append(["EU", "DE", 1, 2, 3])
    wb.save(tmp_path / "m.xlsx")
    report = convert_file(tmp_path / "m.xlsx", tmp_path / "m.parquet")
    t = pq.read_table(report["outputs"][0]["location"])
    assert t.column_names == ["Region", "Region_2", "x", "x_1", "column5"]
    assert any("duplicate" in w for w in report["warnings"])
    assert any("empty header" in w for w in report["warnings"])


def test_pdf_row_per_page_with_metadata(tmp_path):
    src = make_pdf(tmp_path / "doc.pdf", ["Hello page one", "Second page here"], title="Annual report")
    report = convert_file(src, tmp_path / "doc.parquet")
    t = pq.read_table(tmp_path / "doc.parquet")
    assert t.column("page").to_pylist() == [1, 2]
    assert "Hello page one" in t.column("text")[0].as_py()
    assert t.column("doc_title").to_pylist() == ["Annual report"] * 2
    assert report["rows"] == 2


# --- bad input: each ends as a clear error, nothing half-written -----------------------------------


def test_empty_file(tmp_path):
    assert fails(tmp_path, "e.csv", b"").code == "empty_file"
    assert fails(tmp_path, "w.csv", b"  \n\n").code == "empty_file"


def test_header_only(tmp_path):
    report, table = conv(tmp_path, "h.csv", "a,b,c\n")
    assert table.num_rows == 0 and table.column_names == ["a", "b", "c"]
    assert any("header only" in w for w in report["warnings"])


def test_ragged_rows_name_the_line(tmp_path):
    err = fails(tmp_path, "r.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n1,2,3\n")
    assert err.code == "malformed_csv"
    assert "line 4" in err.message


def test_unmatched_quote(tmp_path):
    err = fails(tmp_path, "q.csv", 'a,b\n1,"open\n2,y\n')
    assert err.code == "malformed_csv"
    assert "unmatched quote" in err.message and re.search(r"\bline \d+\b", err.message), err.message


def test_single_huge_line_is_refused_in_bounded_memory(tmp_path):
    src = tmp_path / "long.csv"
    with open(src, "wb") as f:
        f.write(b"a,b\n1,")
        chunk = b"x" * (1 << 20)
        for _ in range(200):
            f.write(chunk)
        f.write(b"\n")
    out = tmp_path / "out" / "long.parquet"
    with pytest.raises(ServiceError) as info:
        convert_file(src, out, {"max_line_size": 8 * 1024 * 1024})
    assert info.value.code == "line_too_long"
    assert len(info.value.message) < 1000
    assert not out.exists()


def test_long_lines_across_read_buffers_keep_every_row(tmp_path):
    # lines of up to 2 MB (just under max_line_size) among short ones, 27 MB in all: lines cross the
    # reader's buffer boundaries
    src = tmp_path / "wide.csv"
    sizes = [5, 1_500_000, 17, 900_000, 3] * 8 + [2_000_000] * 4
    with open(src, "w") as f:
        f.write("id,text,n\n")
        for i, size in enumerate(sizes):
            f.write(f"{i},{chr(97 + i % 26) * size},{i * 2}\n")
    entry = convert_file(src, tmp_path / "out" / "wide.parquet")
    table = pq.read_table(tmp_path / "out" / "wide.parquet")
    assert entry["rows"] == len(sizes) == table.num_rows
    assert [len(t) for t in table["text"].to_pylist()] == sizes
    assert table["n"].to_pylist() == [i * 2 for i in range(len(sizes))]
    assert {t[0] for t in table["text"].to_pylist()[:26]} == {chr(97 + i) for i in range(26)}


def test_binary_garbage_named_csv(tmp_path):
    err = fails(tmp_path, "g.csv", os.urandom(4096) + b"\x00" * 10)
    assert err.code == "not_text"


def test_truncated_gzip(tmp_path):
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 200_000)
    err = fails(tmp_path, "t.csv.gz", data[: len(data) // 2])
    assert err.code == "corrupt_file"


def test_corrupt_xlsx(tmp_path):
    assert fails(tmp_path, "c.xlsx", os.urandom(2000)).code == "corrupt_file"
    make_xlsx(tmp_path / "good.xlsx", {"S": [["a"], [1]]})
    data = (tmp_path / "good.xlsx").read_bytes()
    (tmp_path / "good.xlsx").unlink()
    assert fails(tmp_path, "trunc.xlsx", data[: len(data) // 2]).code == "corrupt_file"


def test_xlsx_zip_bomb_rejected_without_inflating_it(tmp_path, monkeypatch):
    src = make_zip_bomb_xlsx(tmp_path / "bomb.xlsx", inflated_mb=60)
    assert src.stat().st_size < 2_000_000
    opened = []
    real_open = zipfile.ZipFile.open

    def recording_open(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", recording_open)
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "bomb.parquet")
    assert info.value.code == "unsafe_file"
    assert "zip bomb" in info.value.message
    assert opened == []  # refused from the zip directory alone: no part was read, let alone inflated
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "bomb.parquet", {"max_uncompressed_bytes": 10_000_000})
    assert "uncompressed" in info.value.message


def test_billion_laughs_xlsx_rejected(tmp_path):
    src = make_billion_laughs_xlsx(tmp_path / "lol.xlsx")
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "lol.parquet")
    assert info.value.code == "unsafe_file"
    assert "entities" in info.value.message


def test_encrypted_pdf(tmp_path):
    src = make_pdf(tmp_path / "secret.pdf", ["top secret"], encrypt=True)
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "secret.parquet")
    assert info.value.code == "encrypted_pdf"
    assert "password" in info.value.message


def test_pdf_extraction_is_bounded_by_a_timeout(tmp_path):
    src = make_pdf(tmp_path / "slow.pdf", ["page"] * 3)
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "slow.parquet", {"pdf_timeout_seconds": 0.001})
    assert info.value.code == "timeout"
    assert not (tmp_path / "out" / "slow.parquet").exists()


def test_pdf_with_a_cyclic_page_tree_fails_as_corrupt(tmp_path):
    """A page tree whose kid points back at itself: pdfium refuses to load its pages, and the file
    fails as corrupt (not a timeout, not a crash of the caller, nothing written)."""
    src = make_pdf(tmp_path / "loop.pdf", ["a", "b"], cyclic=True)
    with pytest.raises(ServiceError) as info:
        convert_file(src, tmp_path / "out" / "loop.parquet", {"pdf_timeout_seconds": 20})
    assert info.value.code == "corrupt_file"
    assert "PDF" in info.value.message
    assert not (tmp_path / "out" / "loop.parquet").exists()


def test_corrupt_pdf(tmp_path):
    assert fails(tmp_path, "x.pdf", b"%PDF-1.4 garbage").code == "corrupt_file"


def test_duplicate_and_empty_column_names(tmp_path):
    report, table = conv(tmp_path, "d.csv", "a,a,,b\n1,2,3,4\n")
    assert table.to_pylist() == [{"a": 1, "a_1": 2, "column2": 3, "b": 4}]
    assert any("duplicate" in w for w in report["warnings"])
    assert any("empty header" in w for w in report["warnings"])


def test_bad_options(tmp_path):
    (tmp_path / "a.csv").write_text("a\n1\n")
    with pytest.raises(ServiceError, match="compression"):
        convert_file(tmp_path / "a.csv", tmp_path / "a.parquet", {"compression": "zip"})
    with pytest.raises(ServiceError, match="unknown conversion option"):
        convert_file(tmp_path / "a.csv", tmp_path / "a.parquet", {"delim": ";"})
    with pytest.raises(ServiceError, match="columns"):
        convert_file(tmp_path / "a.csv", tmp_path / "a.parquet", {"columns": ["nope"]})


def test_read_table_any_format(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2024-01-02\n")
    t = read_table(tmp_path / "a.csv")
    assert t.to_pylist() == [{"a": 1, "b": date(2024, 1, 2)}]
    (tmp_path / "b.jsonl").write_text('{"x": true}\n')
    assert read_table(tmp_path / "b.jsonl").to_pylist() == [{"x": True}]


def test_non_utf8_byte_after_the_sample_falls_back(tmp_path):
    body = b"id,name\n" + b"".join(b"%d,plain ascii text\n" % i for i in range(70_000)) + "99,café\n".encode("cp1252")
    assert len(body) > 1024 * 1024
    report, table = conv(tmp_path, "late-enc.csv", body)
    assert table.num_rows == 70_001
    assert table.column("name")[70_000].as_py() == "café"
    assert any("cp1252" in w for w in report["warnings"])
    t = read_table(tmp_path / "late-enc.csv")
    assert t.column("name")[70_000].as_py() == "café"


def test_jsonl_field_first_seen_after_the_sniff_sample_is_kept(tmp_path):
    # DuckDB sniffs the first 20,480 records and would drop "late" and "n.extra" silently
    rows = [{"a": i, "n": {"x": i}} for i in range(30_000)]
    rows[25_000] = {"a": 25_000, "n": {"x": 1, "extra": "e"}, "late": "kept"}
    report, table = conv(tmp_path, "late.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert table.num_rows == 30_000
    got = table.slice(25_000, 1).to_pylist()[0]
    assert got["late"] == "kept" and got["n"]["extra"] == "e", got
    assert any("late" in w and "n.extra" in w for w in report["warnings"]), report["warnings"]


def test_large_jsonl_field_that_starts_partway_is_found_by_the_probe(tmp_path):
    # larger than the probe window: found by the evenly spaced slices, not by sniffing the whole file
    pad = "p" * 200
    body = "".join(
        json.dumps({"a": i, "pad": pad, **({"status": "ok"} if i >= 30_000 else {})}) + "\n" for i in range(40_000)
    )
    assert len(body) > 8 * 128 * 1024
    report, table = conv(tmp_path, "drift.jsonl", body)
    assert table.column("status").null_count == 30_000
    assert any("status" in w for w in report["warnings"])


def test_jsonl_without_late_fields_has_no_warning(tmp_path):
    body = "".join(json.dumps({"a": i, "pad": "p" * 200}) + "\n" for i in range(40_000))
    report, table = conv(tmp_path, "steady.jsonl", body)
    assert report["warnings"] == [] and table.column_names == ["a", "pad"]


def test_large_jsonl_with_a_malformed_record_names_its_real_line(tmp_path):
    lines = [json.dumps({"a": i, "pad": "p" * 200}) for i in range(40_000)]
    lines[30_000] = '{"a": 30000, "pad": '  # cut short, inside the probe's slices
    err = fails(tmp_path, "bad.jsonl", "\n".join(lines) + "\n")
    assert err.code == "read_error" and "bad.jsonl" in err.message and "line 3000" in err.message, err.message
    assert "probe" not in err.message and ".tmp" not in err.message, err.message


def test_parquet_version_v2_writes_newer_encodings_with_equal_values(tmp_path):
    body = "id,t,x\n" + "".join(f"{i},2024-01-{1 + i % 28:02d} 10:00:00,{i / 7}\n" for i in range(5_000))
    _, v1 = conv(tmp_path, "v1.csv", body)
    report, v2 = conv(tmp_path, "v2.csv", body, parquet_version="v2")
    assert v2.equals(v1)
    meta = pq.read_metadata(tmp_path / "out" / "v2.csv.parquet")
    encodings = {e for i in range(meta.num_columns) for e in meta.row_group(0).column(i).encodings}
    assert "DELTA_BINARY_PACKED" in encodings, encodings
    v1_meta = pq.read_metadata(tmp_path / "out" / "v1.csv.parquet")
    assert "DELTA_BINARY_PACKED" not in {e for i in range(3) for e in v1_meta.row_group(0).column(i).encodings}
    with pytest.raises(ServiceError, match="parquet_version"):
        convert_file(tmp_path / "v1.csv", tmp_path / "x.parquet", {"parquet_version": "v3"})


def test_xlsx_two_row_header_under_a_merged_group(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Region", "Revenue", None, "Cost", None])
    ws.append([None, "Q1", "Q2", "Q1", "Q2"])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:C1")
    ws.merge_cells("D1:E1")
    ws.append(["EU", 10, 11, 5, 6])
    ws.append(["US", 20, 21, 7, 8])
    wb.save(tmp_path / "g.xlsx")
    report = convert_file(tmp_path / "g.xlsx", tmp_path / "g.parquet")
    t = pq.read_table(report["outputs"][0]["location"])
    assert t.column_names == ["Region", "Revenue_Q1", "Revenue_Q2", "Cost_Q1", "Cost_Q2"]
    assert t.schema.field("Revenue_Q1").type == pa.int64()  # the sub-header row is not data
    assert t.to_pylist()[1] == {"Region": "US", "Revenue_Q1": 20, "Revenue_Q2": 21, "Cost_Q1": 7, "Cost_Q2": 8}
    assert report["warnings"] == []


def test_xlsx_text_under_a_merged_header_stays_data(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", None, "City"])
    ws.merge_cells("A1:B1")
    for row in (["Ada", "Lovelace", "London"], ["Alan", "Turing", "Wilmslow"]):
        ws.append(row)
    wb.save(tmp_path / "n.xlsx")
    report = convert_file(tmp_path / "n.xlsx", tmp_path / "n.parquet")
    t = pq.read_table(report["outputs"][0]["location"])
    assert t.column_names == ["Name", "Name_2", "City"]
    assert t.num_rows == 2 and t.to_pylist()[0]["Name_2"] == "Lovelace"


@pytest.mark.parametrize("late_value", [None, "1.5"])
def test_a_large_output_hashed_while_written_matches_its_bytes(tmp_path, late_value):
    """The recorded sha256 is of the output's final bytes (the footer patched): hashing the file while DuckDB
    wrote it read regions its threads had not filled yet, about one run in five under load. A value that
    does not fit makes a second COPY into a new file."""
    rows = [f"{i},{i * 7 % 1000},{hashlib.sha256(str(i).encode()).hexdigest()}" for i in range(200_000)]
    if late_value:
        rows[-10] = f"{late_value},1,late"
    body = "id,n,text\n" + "\n".join(rows) + "\n"
    assert len(body) > 8 * 1024 * 1024
    report, table = conv(tmp_path, "big.csv", body)
    out = tmp_path / "out" / "big.csv.parquet"
    assert report["outputs"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert report["outputs"][0]["bytes_out"] > 4 << 20  # more than one checkpoint of the hashing thread
    assert pq.read_metadata(out).metadata[b"source_sha256"].decode() == hashlib.sha256(body.encode()).hexdigest()
    assert table.num_rows == 200_000
    assert str(table.schema.field("id").type) == ("double" if late_value else "int64")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_source_rewritten_during_the_conversion_is_refused(tmp_path, monkeypatch):
    """The sha256 recorded with the output must be of the bytes that were read: a file written to between
    the hash and the end of the read makes the conversion fail, and no output is left."""
    from services_app.capabilities.conversion import core

    folder = tmp_path / "w"
    folder.mkdir()
    src = folder / "live.csv"
    src.write_text("id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(1000)))
    copy = core._copy

    def copy_then_rewrite(*args, **kwargs):
        copy(*args, **kwargs)
        src.write_text("id,x\n1,2\n")  # a writer replaces the content in place meanwhile

    monkeypatch.setattr(core, "_copy", copy_then_rewrite)
    with pytest.raises(ConversionError) as err:
        convert_file(src, folder / "live.parquet")
    assert err.value.code == "source_changed" and "changed while it was being converted" in err.value.message
    assert sorted(p.name for p in folder.iterdir()) == ["live.csv"]


@pytest.mark.parametrize("late", ["0,787", "1234,567", None])
def test_a_late_value_that_breaks_the_thousands_grouping_is_not_read_as_a_number(tmp_path, late):
    """Under ',' thousands, 0,787 and 1234,567 are no grouped numbers: taking the separator out made them
    787 and 1234567. The column is widened to text instead, and the report says so; empty fields stay
    nulls of a number column when every value is grouped right (None: no such late value)."""
    rows = [f"{i};" if i % 5 == 0 else f"{i};{i % 9 + 1},{i % 1000:03d}.5" for i in range(30_000)]
    rows.append(f"30000;{late or '7,000.25'}")
    (tmp_path / "w").mkdir()
    src = tmp_path / "w" / "amounts.csv"
    src.write_text("id;amount\n" + "\n".join(rows) + "\n")
    entry = convert_file(src, tmp_path / "w" / "amounts.parquet")
    table = pq.read_table(tmp_path / "w" / "amounts.parquet")
    assert table.column("id").to_pylist()[-1] == 30000
    amounts = table.column("amount").to_pylist()
    column = next(c for c in entry["read"]["columns"] if c["name"] == "amount")
    if late is None:
        assert table.schema.field("amount").type == pa.float64()
        assert amounts[:3] == [None, 2001.5, 3002.5] and amounts[-1] == 7000.25
        return
    assert table.schema.field("amount").type == pa.string()
    assert amounts[:2] == [None, "2,001.5"] and amounts[-1] == late
    assert column["decision"] == "widened" and late in column["examples"]
