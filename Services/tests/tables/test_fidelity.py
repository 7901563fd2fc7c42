"""No silent wrong table, from any door: each kind of fault the reader once had, with the case that showed
it and one more, asserted through the conversion, the knowledge base and the checks where the door applies.

The doors: `convert_file` (Parquet out, with its per-file report), the knowledge base's extractor
(`read_and_extract`: one text line per row), and the checks' reader (`checks.io.read_table`: a DataFrame).
"""

from __future__ import annotations

import os
import random
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services_app import tables
from services_app.capabilities.checks.io import read_table as checks_read
from services_app.capabilities.checks.io import table_columns
from services_app.capabilities.conversion import convert_file
from services_app.capabilities.knowledgebase.extract import read_and_extract
from services_app.errors import ServiceError
from services_app.tables import engine


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def convert(path: Path, **options) -> tuple[dict, pa.Table]:
    out = path.with_name(path.name + ".parquet")
    report = convert_file(path, out, options or None)
    return report, pq.read_table(out)


def kb_lines(path: Path) -> list[str]:
    res = read_and_extract(str(path), path.suffix.lower())
    assert "error" not in res, res
    return [line for text, *_ in res["sections"] for line in text.splitlines()]


# --- 1. number locale ---------------------------------------------------------------------------------
def test_decimal_comma_with_semicolons_is_a_number_by_every_door(tmp_path):
    path = write(tmp_path, "body.csv", "id;sex;weight;height\n123;M;456,78;90\n124;F;1.234,5;91\n")
    report, table = convert(path)
    assert table.schema.field("weight").type == pa.float64()
    assert table["weight"].to_pylist() == [456.78, 1234.5]
    assert report["read"]["number_locale"] == {"weight": {"decimal": ",", "thousands": "."}}
    weight = next(c for c in report["read"]["columns"] if c["name"] == "weight")
    assert weight["decision"] == "locale" and "decimal ','" in weight["note"]
    assert any("'weight'" in w and "decimal ','" in w for w in report["warnings"])
    assert checks_read(path)["weight"].tolist() == [456.78, 1234.5]
    assert kb_lines(path)[0] == "id: 123; sex: M; weight: 456.78; height: 90"


def test_thousands_separators_are_numbers(tmp_path):
    path = write(tmp_path, "money.csv", 'amount,who\n"100,000.00",a\n"2,500.50",b\n')
    report, table = convert(path)
    assert table["amount"].to_pylist() == [100000.0, 2500.5]
    assert report["read"]["number_locale"]["amount"] == {"decimal": ".", "thousands": ","}
    assert checks_read(path)["amount"].tolist() == [100000.0, 2500.5]


def test_explicit_float_type_reads_decimal_comma(tmp_path):
    path = write(tmp_path, "typed.csv", "id;sex;weight;height\n123;M;456,78;90\n")
    _, table = convert(path, column_types={"weight": "float"})
    assert table["weight"].to_pylist() == [456.78]


def test_decimal_and_thousands_options_apply_to_inference_and_types(tmp_path):
    # under decimal comma, "1.234" is one thousand two hundred thirty-four, not 1.234
    path = write(tmp_path, "de.csv", "id;w;v\n1;1.234;1 000,5\n2;2.000;2 500\n")
    _, table = convert(path, decimal=",", thousands=".")
    assert table["w"].to_pylist() == [1234, 2000]
    assert table["v"].to_pylist() == ["1 000,5", "2 500"]  # spaces are not the given thousands separator
    _, table = convert(path, decimal=",", thousands=" ", column_types={"w": "float"})
    assert table["v"].to_pylist() == [1000.5, 2500.0]
    swiss = write(tmp_path, "ch.csv", "n;price\n1;1'234.50\n2;12'000\n")
    _, table = convert(swiss)
    assert table["price"].to_pylist() == [1234.5, 12000.0]


def test_ambiguous_numbers_stay_text_and_say_which_option_to_set(tmp_path):
    path = write(tmp_path, "amb.csv", 'id,w\n1,"1,234"\n2,"5,678"\n')
    report, table = convert(path)
    assert table["w"].to_pylist() == ["1,234", "5,678"]
    assert any("ambiguous" in w and "`decimal`" in w for w in report["warnings"])
    _, table = convert(path, decimal=".", thousands=",")
    assert table["w"].to_pylist() == [1234, 5678]


def test_a_late_value_that_is_not_a_locale_number_widens_only_its_column(tmp_path):
    rows = "".join(f"{i};{i},5;{i}\n" for i in range(30_000))
    path = write(tmp_path, "late.csv", "id;w;n\n" + rows + "7;n/a;7\n")
    report, table = convert(path)
    assert table.schema.field("w").type == pa.string() and table["w"][0].as_py() == "0,5"
    assert table.schema.field("n").type == pa.int64()  # the other columns keep their types
    w = next(c for c in report["read"]["columns"] if c["name"] == "w")
    assert w["decision"] == "widened" and w["not_fitting"] == 1 and w["examples"] == ["n/a"]


# --- 2. encodings -------------------------------------------------------------------------------------
def test_mac_roman_is_read_as_mac_roman_by_every_door(tmp_path):
    body = "name,n\nüber gründen wäre,1\nRéunion,2\n".encode("mac_roman")
    path = write(tmp_path, "mac.csv", body)
    report, table = convert(path)
    assert table["name"].to_pylist() == ["über gründen wäre", "Réunion"]
    assert report["encoding"] == "mac-roman" and report["read"]["encoding_decision"] == "detected"
    warning = next(w for w in report["warnings"] if "not UTF-8" in w)
    assert "über gründen wäre" in warning and "`encoding`" in warning
    assert checks_read(path)["name"].tolist() == ["über gründen wäre", "Réunion"]
    assert kb_lines(path) == ["name: über gründen wäre; n: 1", "name: Réunion; n: 2"]
    text = write(tmp_path, "note.txt", "Die Gründe für über alles wären gut.".encode("mac_roman"))
    assert kb_lines(text) == ["Die Gründe für über alles wären gut."]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Zażółć gęślą jaźń", "cp1250"),
        ("Příliš žluťoučký kůň", "iso8859-2"),
        ("naïve café; crème brûlée", "cp1252"),
        ("Grüße aus Köln", "latin-1"),
    ],
)
def test_western_and_central_european_code_pages(tmp_path, text, encoding):
    path = write(tmp_path, "t.csv", f"text,n\n{text},1\n".encode(encoding))
    _, table = convert(path)
    assert table["text"].to_pylist() == [text]
    assert checks_read(path)["text"].tolist() == [text]


def test_a_given_encoding_is_used_and_not_warned_about(tmp_path):
    path = write(tmp_path, "g.csv", "a\nüber\n".encode("mac_roman"))
    report, table = convert(path, encoding="mac_roman")
    assert table["a"].to_pylist() == ["über"] and report["warnings"] == []
    assert report["read"]["encoding_decision"] == "given"


# --- 3. delimiters and preambles ----------------------------------------------------------------------
def test_space_delimited_file_with_a_header(tmp_path):
    path = write(tmp_path, "fit.txt", "Chins Situps Jumps\n5 162 60\n2 110 60\n12 101 101\n")
    report, table = convert(path)
    assert table.column_names == ["Chins", "Situps", "Jumps"]
    assert table["Situps"].to_pylist() == [162, 110, 101]
    assert report["delimiter"] == " " and report["read"]["delimiter_decision"] == "whitespace"
    assert table_columns(path).columns == ["Chins", "Situps", "Jumps"]


def test_space_delimited_file_without_a_header_keeps_its_first_row(tmp_path):
    rng = random.Random(4)
    lines = [f"{rng.randint(1, 99)} {rng.randint(100, 999)} {rng.random() * 10:.2f}" for _ in range(442)]
    path = write(tmp_path, "nohead.dat.txt", "\n".join(lines) + "\n")
    _, table = convert(path)
    assert table.num_rows == 442
    assert table.column(0)[0].as_py() == int(lines[0].split()[0])
    aligned = write(tmp_path, "aligned.txt", "  x     y\n  1   2.5\n 10  12.5\n")
    report, table = convert(aligned)
    assert table.column_names == ["x", "y"] and table["y"].to_pylist() == [2.5, 12.5]
    assert report["delimiter"] == "whitespace"


def test_metadata_line_before_the_header_is_skipped_and_reported(tmp_path):
    body = (
        "150,4,setosa,versicolor,virginica\n"
        "sepal_length,sepal_width,petal_length,petal_width,species\n"
        "5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n"
    )
    path = write(tmp_path, "iris.csv", body)
    report, table = convert(path)
    assert table.column_names == ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    assert table.num_rows == 3 and table["sepal_length"].to_pylist() == [5.1, 4.9, 7.0]
    assert report["read"]["skipped_lines"] == 1 and report["read"]["skip_decision"] == "detected"
    assert any("150,4,setosa" in w and "skip_rows" in w for w in report["warnings"])
    assert kb_lines(path)[0].startswith("sepal_length: 5.1; sepal_width: 3.5")
    assert list(checks_read(path).columns)[0] == "sepal_length"
    # skip_rows overrides: 0 keeps the first line (as the header)
    _, kept = convert(path, skip_rows=0)
    assert kept.column_names[:2] == ["150", "4"] and kept.num_rows == 4


def test_title_and_comment_lines_before_a_table(tmp_path):
    path = write(tmp_path, "sales.csv", "Sales report 2024\n\nregion;revenue\nnorth;10\nsouth;20\n")
    report, table = convert(path)
    assert table.column_names == ["region", "revenue"] and table["revenue"].to_pylist() == [10, 20]
    assert report["read"]["skipped_lines"] == 2
    notes = write(tmp_path, "notes.csv", "# exported by tool\n# 2024-01-01\na,b\n1,2\n")
    _, table = convert(notes)
    assert table.column_names == ["a", "b"] and table.num_rows == 1
    inline = write(tmp_path, "inline.csv", "a,b\n1,2\n% dropped\n3,4\n")
    _, table = convert(inline, comment="%")
    assert table["a"].to_pylist() == [1, 3]


def test_one_column_whose_lines_all_hold_a_separator_is_a_warning(tmp_path):
    path = write(tmp_path, "semi.csv", "id;sex\n1;M\n2;F\n")
    report, table = convert(path, delimiter=",")
    assert table.num_columns == 1
    assert any("one column" in w and "';'" in w and "`delimiter`" in w for w in report["warnings"])


# --- 4. formulas without cached values ----------------------------------------------------------------
def _formula_book(path: Path) -> Path:
    wb = openpyxl.Workbook()  # openpyxl writes formulas without calculating them
    ws = wb.active
    ws.title = "Data"
    ws.append(["a", "b", "c", "d"])
    for i in range(2, 5):
        ws.append([i, i * 10, f"=A{i}+30", f"=C{i}*2"])
    totals = wb.create_sheet("Totals")
    totals.append(["name", "sum"])
    totals.append(["all", "=SUM(Data!A2:A4)"])
    wb.save(path)
    return path


def test_formulas_without_cached_values_are_reported_never_silent_nulls(tmp_path):
    path = _formula_book(tmp_path / "calc.xlsx")
    out = tmp_path / "calc.parquet"
    report = convert_file(path, out)
    data = pq.read_table(tmp_path / "calc" / "Data.parquet")
    assert data["c"].null_count == 3  # the values do not exist in the file ...
    warning = next(w for w in report["warnings"] if "'Data'" in w)  # ... and the report says so, per cell
    assert "6 formula cell(s) have no calculated value" in warning and "C2 (=A2+30)" in warning
    assert 'formulas="text"' in warning
    assert any("'Totals'" in w and "B2 (=SUM(Data!A2:A4))" in w for w in report["warnings"])
    report = convert_file(path, tmp_path / "text.parquet", {"formulas": "text"})
    data = pq.read_table(tmp_path / "text" / "Data.parquet")
    assert data["c"].to_pylist() == ["=A2+30", "=A3+30", "=A4+30"]
    assert data["a"].to_pylist() == [2, 3, 4]


# --- 5. binary garbage --------------------------------------------------------------------------------
def test_random_bytes_are_not_text_by_every_door(tmp_path):
    rng = random.Random(5)
    noise = bytes(rng.getrandbits(8) for _ in range(200_000))
    printable_noise = bytes(rng.randint(32, 255) for _ in range(200_000))  # no NUL, no control byte
    for name, data in (("noise.csv", noise), ("printable.csv", printable_noise)):
        path = write(tmp_path, name, data)
        with pytest.raises(ServiceError) as err:
            convert(path)
        assert err.value.code == "not_text", name
        with pytest.raises(ServiceError) as err:
            checks_read(path)
        assert err.value.code == "not_tabular" and err.value.details["reason"] == "not_text"
        res = read_and_extract(str(path), ".csv")
        assert res["code"] == "binary", res


# --- 6. whole-file verification -----------------------------------------------------------------------
def test_every_row_is_checked_and_only_offending_columns_widen(tmp_path):
    rows = "".join(f"{i},{i},2024-01-{i % 28 + 1:02d}\n" for i in range(30_000))
    path = write(tmp_path, "late.csv", "id,v,d\n" + rows + "30000,1.5,2024-02-01\n")
    report, table = convert(path)
    # a late 1.5 in an integer column is not rounded to 2: the column becomes double
    assert table.schema.field("v").type == pa.float64() and table["v"][-1].as_py() == 1.5
    assert table.schema.field("id").type == pa.int64() and table.schema.field("d").type == pa.date32()
    columns = {c["name"]: c for c in report["read"]["columns"]}
    assert columns["v"]["decision"] == "widened" and columns["v"]["not_fitting"] == 1
    assert columns["v"]["examples"] == ["1.5"] and columns["v"]["type"] == "double"
    assert columns["id"]["decision"] == "inferred" and columns["id"]["not_fitting"] == 0
    assert report["read"]["delimiter"] == "," and report["read"]["encoding"] == "utf-8"


def test_a_late_time_in_a_date_column_is_not_cut_off(tmp_path):
    # the first rows hold dates only; later every other row has a time (the reader's own wider sample then
    # finds no date format and would cut the times off)
    rows = "".join(
        f"{i},2024-01-{i % 28 + 1:02d}{' 10:00' if i >= 3000 and i % 2 == 0 else ''},2023-05-{i % 28 + 1:02d}\n"
        for i in range(30_000)
    )
    path = write(tmp_path, "late.csv", "id,d,e\n" + rows)
    report, table = convert(path)
    assert table.schema.field("d").type == pa.timestamp("us")
    assert table["d"][3000].as_py() == datetime(2024, 1, 5, 10, 0) and table["d"][0].as_py() == datetime(2024, 1, 1)
    assert table.schema.field("e").type == pa.date32() and table["e"][-1].as_py() == date(2023, 5, 12)
    columns = {c["name"]: c for c in report["read"]["columns"]}
    assert columns["d"]["decision"] == "widened" and columns["d"]["not_fitting"] == 13_500
    assert columns["d"]["examples"][0] == "2024-01-05 10:00"
    assert columns["e"]["decision"] == "inferred" and columns["e"]["not_fitting"] == 0
    assert columns["id"]["type"] == "int64" and table.num_rows == 30_000


def test_report_lists_the_encoding_locale_and_delimiter_decisions(tmp_path):
    path = write(tmp_path, "r.csv", "Titel\nname;preis\nkäse;1,5\n".encode("cp1252"))
    report, _ = convert(path)
    read = report["read"]
    assert (read["encoding"], read["delimiter"], read["skipped_lines"]) == ("cp1252", ";", 1)
    assert read["number_locale"] == {"preis": {"decimal": ",", "thousands": "."}}
    assert {c["name"]: c["type"] for c in read["columns"]} == {"name": "string", "preis": "double"}


# --- 7. same data, same types, whatever the format ----------------------------------------------------
def _typed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [1, 2, 3],
            "amount": [1.5, 2.25, 3.0],
            "day": [date(2024, 1, 2), date(2024, 2, 3), date(2024, 3, 4)],
            "at": [datetime(2024, 1, 2, 3, 4, 5), datetime(2024, 2, 3, 4, 5, 6), datetime(2024, 3, 4, 5, 6, 7)],
            "label": ["a", "b", "a"],
        }
    )


def test_dates_timestamps_and_numbers_type_identically_in_every_format(tmp_path):
    df = _typed_frame()
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    df.assign(day=df["day"].astype(str), at=df["at"].astype(str)).to_json(
        tmp_path / "t.jsonl", orient="records", lines=True
    )
    arrow = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(arrow.set_column(3, "at", arrow["at"].cast(pa.timestamp("us"))), tmp_path / "t.parquet")
    wb = openpyxl.Workbook()
    wb.active.append(list(df.columns))
    for row in df.itertuples(index=False):
        wb.active.append(list(row))
    wb.save(tmp_path / "t.xlsx")
    expected = {"id": "int64", "amount": "double", "day": "date32[day]", "at": "timestamp[us]", "label": "string"}
    frames = {}
    for name in ("t.csv", "t.tsv", "t.jsonl", "t.parquet", "t.xlsx"):
        table = tables.read_table(tmp_path / name)
        got = {f.name: str(f.type) for f in table.schema}
        if name == "t.xlsx":  # Excel has no date-only type: a date cell is a midnight timestamp
            got["day"] = "date32[day]" if got["day"] == "timestamp[us]" else got["day"]
        assert got == expected, name
        frames[name] = checks_read(tmp_path / name)
    for name, frame in frames.items():
        assert str(frame["day"].dtype).startswith("datetime64"), name
        pd.testing.assert_frame_equal(
            frame.astype({"day": "datetime64[ns]", "at": "datetime64[ns]"}),
            frames["t.csv"].astype({"day": "datetime64[ns]", "at": "datetime64[ns]"}),
            check_dtype=False,
        )


def test_yes_no_labels_stay_text_and_true_false_are_booleans_in_every_format(tmp_path):
    df = pd.DataFrame(
        {
            "churned": ["yes", "no", "no", "yes"],
            "short": ["Y", "N", "n", "y"],
            "flag": [True, False, True, False],
            "mixed": ["true", "false", "t", ""],
        }
    )
    df.to_csv(tmp_path / "l.csv", index=False)
    df.to_json(tmp_path / "l.jsonl", orient="records", lines=True)
    wb = openpyxl.Workbook()
    wb.active.append(list(df.columns))
    for row in df.itertuples(index=False):
        wb.active.append([v if v != "" else None for v in row])
    wb.save(tmp_path / "l.xlsx")
    for name in ("l.csv", "l.jsonl", "l.xlsx"):
        table = tables.read_table(tmp_path / name)
        got = {f.name: str(f.type) for f in table.schema}
        assert got == {"churned": "string", "short": "string", "flag": "bool", "mixed": "string"}, name
        assert table["churned"].to_pylist() == ["yes", "no", "no", "yes"], name
        assert table["short"].to_pylist() == ["Y", "N", "n", "y"], name
        assert table["flag"].to_pylist() == [True, False, True, False], name
    table, report = tables.read(tmp_path / "l.csv")
    notes = {c["name"]: c["note"] for c in report.as_dict()["columns"]}
    assert "kept as text" in notes["churned"] and "'yes'" in notes["churned"] and notes["flag"] is None
    # the checks read the same labels
    assert sorted(checks_read(tmp_path / "l.csv")["churned"].unique()) == ["no", "yes"]


# --- 9. missing values stay missing -------------------------------------------------------------------
def test_missing_values_stay_missing_by_every_door(tmp_path):
    path = write(tmp_path, "gaps.csv", "text,label,score\nfine,a,1\nmissing label,,2\n,b,\n")
    _, table = convert(path)
    assert table["label"].to_pylist() == ["a", None, "b"] and table["score"].to_pylist() == [1, 2, None]
    frame = checks_read(path)
    assert frame["label"].tolist() == ["a", None, "b"] and frame["text"].tolist() == ["fine", "missing label", None]
    assert "None" not in kb_lines(path)[1] and kb_lines(path)[1] == "text: missing label; score: 2"


def test_labels_as_text_keep_missing_labels_missing():
    from services_app.capabilities.checks.jobs import label_text, missing_labels

    labels = pd.Series([1, None, 2, None], dtype=object)
    assert label_text(labels).tolist() == ["1", None, "2", None]
    frame = pd.DataFrame({"label": ["x", None, "y", None, None]})
    assert missing_labels(frame, "label") == {"count": 3, "rows": [1, 3, 4]}


def test_options_refuse_unknown_names():
    with pytest.raises(ServiceError) as err:
        tables.ReadOptions.from_dict({"skiprows": 1})
    assert err.value.details["unknown"] == ["skiprows"] and "skip_rows" in err.value.details["known"]
    for bad in ({"decimal": ";"}, {"thousands": "x"}, {"skip_rows": -1}, {"formulas": "maybe"}):
        with pytest.raises(ServiceError):
            tables.ReadOptions.from_dict(bad)
    assert os.path.basename(tables.__file__) == "__init__.py"


def test_pandas_unnamed_index_is_not_a_data_column(tmp_path):
    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", "x", "y"]})
    filtered = df[df.label == "x"]  # a non-range index: pandas stores it as __index_level_0__
    filtered.to_parquet(tmp_path / "new.parquet")
    df.set_index("label").to_parquet(tmp_path / "named.parquet")  # a named index is data: kept
    table, report = tables.read(tmp_path / "new.parquet")
    assert table.column_names == ["text", "label"] and table.column("text").to_pylist() == ["a", "c"]
    assert any("__index_level_0__" in w and "row index" in w for w in report.warnings)
    named, _ = tables.read(tmp_path / "named.parquet")
    assert sorted(named.column_names) == ["label", "text"]
    assert checks_read(tmp_path / "new.parquet").columns.tolist() == ["text", "label"]


def _dates_csv(path, days: list[str]) -> None:
    path.write_text("id,day\n" + "".join(f"{i},{d}\n" for i, d in enumerate(days)), encoding="utf-8")


def test_day_and_month_order_is_decided_from_the_values_and_reported(tmp_path):
    # one value with a second part above 12 makes the whole column month-first
    _dates_csv(tmp_path / "us.csv", ["02/06/2024", "03/11/2024", "04/25/2024"])
    table, report = tables.read(tmp_path / "us.csv")
    assert table.column("day").to_pylist() == [date(2024, 2, 6), date(2024, 3, 11), date(2024, 4, 25)]
    assert report.date_formats == {"day": {"format": "%m/%d/%Y", "decision": "detected"}}
    assert report.warnings == []
    # one value with a first part above 12: day-first, also with dots and two-digit years
    _dates_csv(tmp_path / "de.csv", ["02.06.24", "25.11.24"])
    table, report = tables.read(tmp_path / "de.csv")
    assert table.column("day").to_pylist() == [date(2024, 6, 2), date(2024, 11, 25)]
    assert report.date_formats["day"] == {"format": "%d.%m.%y", "decision": "detected"}


def test_undecidable_dates_are_read_day_first_with_a_warning_and_the_option_overrides(tmp_path):
    _dates_csv(tmp_path / "any.csv", ["02/06/2024", "03/11/2024", "01/01/2024"])
    table, report = tables.read(tmp_path / "any.csv")
    assert table.column("day").to_pylist() == [date(2024, 6, 2), date(2024, 11, 3), date(2024, 1, 1)]
    assert report.date_formats["day"]["decision"] == "assumed"
    (warning,) = report.warnings
    assert "02/06/2024" in warning and "day-first" in warning and '"%m/%d/%Y"' in warning
    table, report = tables.read(tmp_path / "any.csv", {"date_format": "%m/%d/%Y"})
    assert table.column("day").to_pylist() == [date(2024, 2, 6), date(2024, 3, 11), date(2024, 1, 1)]
    assert report.warnings == []
    with pytest.raises(ServiceError) as exc:
        tables.ReadOptions.from_dict({"date_format": "%Y"})
    assert "date_format" in exc.value.message


def test_numeric_dates_leave_other_date_columns_alone_and_a_late_misfit_widens_to_text(tmp_path):
    rows = "".join(f"{i},2024-0{i % 9 + 1}-1{i % 9},{i % 12 + 1:02d}/{(i * 5) % 12 + 1:02d}/2024\n" for i in range(50))
    (tmp_path / "mixed.csv").write_text("id,iso,day\n" + rows, encoding="utf-8")
    table, _ = tables.read(tmp_path / "mixed.csv")
    assert str(table.schema.field("iso").type) == "date32[day]" and str(table.schema.field("day").type) == "date32[day]"
    assert table.column("iso").to_pylist()[1] == date(2024, 2, 11)
    # the sample (first 2,000 lines) cannot tell; a value far below shows month-first: text, not wrong dates
    days = ["02/06/2024"] * 3000 + ["12/25/2024"]
    _dates_csv(tmp_path / "late.csv", days)
    table, report = tables.read(tmp_path / "late.csv")
    assert str(table.schema.field("day").type) == "string"
    assert table.column("day").to_pylist()[-1] == "12/25/2024" and table.column("day").to_pylist()[0] == "02/06/2024"
    assert report.columns["day"].not_fitting == 1 and "12/25/2024" in report.columns["day"].examples
    assert any("not dates written as %d/%m/%Y" in w for w in report.warnings)


def test_dot_groups_of_three_follow_the_files_convention_or_say_what_was_assumed(tmp_path):
    # a semicolon file (decimal comma): 1.000 is a thousand, like the file's other numbers
    (tmp_path / "eu.csv").write_text("name;qty;price\na;1.000;2,50\nb;2.000;3,75\nc;15.000;1,20\n", encoding="utf-8")
    table, report = tables.read(tmp_path / "eu.csv")
    assert table.column("qty").to_pylist() == [1000, 2000, 15000]
    assert report.number_locale["qty"] == {"decimal": ",", "thousands": "."}
    # a comma file with nothing else to go by: a decimal point, and the warning says so with the option
    (tmp_path / "us.csv").write_text("name,kg\na,1.250\nb,2.500\n", encoding="utf-8")
    table, report = tables.read(tmp_path / "us.csv")
    assert table.column("kg").to_pylist() == [1.25, 2.5]
    assert any("'1.250'" in w and "`thousands`" in w for w in report.warnings)
    # plain decimals are not ambiguous: no warning
    (tmp_path / "plain.csv").write_text("name,kg\na,1.25\nb,2.5\n", encoding="utf-8")
    assert tables.read(tmp_path / "plain.csv")[1].warnings == []


def test_a_row_starting_with_a_hash_is_data_unless_comments_are_asked_for(tmp_path):
    rows = ["id,name,n"] + [f"{i},name{i},{i}" for i in range(2000)]
    rows[1001] = "#1000,name1000,1000"  # the reader's sniffer would take it for a comment and drop it
    path = write(tmp_path, "hash.csv", "\n".join(rows) + "\n")
    report, table = convert(path)
    assert table.num_rows == 2000 and table["id"][1000].as_py() == "#1000" and table["n"][1000].as_py() == 1000
    assert report["read"]["comment"] is None
    report, table = convert(path, comment="#")
    assert table.num_rows == 1999 and report["read"]["comment"] == "#"
    # a comment line that breaks the table's shape: refused, with the way out named
    section = write(tmp_path, "section.csv", "id,v\n1,2\n## section ##\n3,4\n")
    with pytest.raises(ServiceError) as info:
        convert(section)
    assert info.value.code == "malformed_csv" and "line 3" in info.value.message
    assert "set the `comment` option" in info.value.message
    _, table = convert(section, comment="#")
    assert table.to_pydict() == {"id": [1, 3], "v": [2, 4]}
    # a file large enough that the reader's sniffer is asked first: it takes both "#" lines for comments (and
    # would drop them), so no line is dropped and the one that breaks the shape is named
    big_rows = ["id,name,n"] + [f"{i},name{i:08d}-{'x' * 20},{i}" for i in range(500_000)]
    big_rows[1001], big_rows[3] = "#1000,name1000,1000", "# a note"
    big = write(tmp_path, "big.csv", "\n".join(big_rows) + "\n")
    assert big.stat().st_size > engine.COMMENT_SNIFF_BYTES
    with pytest.raises(ServiceError) as info:
        convert(big)
    assert "line 4 has 1 fields" in info.value.message and "`comment` option" in info.value.message
    _, table = convert(big, comment="#")
    assert table.num_rows == 499_998


def test_a_late_offset_keeps_its_instant_and_large_integers_are_not_rounded(tmp_path):
    rows = "".join(f"{i},2024-01-{i % 28 + 1:02d},{9007199254740993 + 2 * i}\n" for i in range(30_000))
    late = "30000,2024-02-01T10:00:00+02:00,1.5\n"
    report, table = convert(write(tmp_path, "late.csv", "id,d,big\n" + rows + late))
    # the offset is kept as the instant it names (08:00 UTC), not dropped (10:00)
    assert table.schema.field("d").type == pa.timestamp("us", tz="UTC")
    assert table["d"][-1].as_py() == datetime(2024, 2, 1, 8, 0, tzinfo=UTC)
    assert table["d"][0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)
    # a double would round every one of these integers: the column stays text, each value exact
    assert table.schema.field("big").type == pa.string()
    assert table["big"][0].as_py() == "9007199254740993" and table["big"][-1].as_py() == "1.5"
    columns = {c["name"]: c for c in report["read"]["columns"]}
    assert "UTC offset" in columns["d"]["note"] and "do not fit DOUBLE either" in columns["big"]["note"]
    assert any("'big'" in w and "do not fit DOUBLE either" in w for w in report["warnings"])


def test_hexadecimal_ids_stay_text(tmp_path):
    rows = "".join(f"{i},0x{(0x60D24054E17A0698 + i * 7919) & 0xFFFFFFFFFFFFFFFF:016x},{i}\n" for i in range(1000))
    report, table = convert(write(tmp_path, "hex.csv", "seed,v,n\n" + rows))
    assert table.schema.field("v").type == pa.string() and table.schema.field("n").type == pa.int64()
    assert table["v"][0].as_py() == "0x60d24054e17a0698"  # not 6976709506054621184.0
    note = {c["name"]: c["note"] for c in report["read"]["columns"]}["v"]
    assert "hexadecimal" in note and "0x60d24054e17a0698" in note
    # a late hexadecimal value in an integer column: the widened column keeps it as text, not a number
    late = "".join(f"{i},{i}\n" for i in range(30_000)) + "30000,0x1f\n30001,1.5\n"
    report, table = convert(write(tmp_path, "late.csv", "id,v\n" + late))
    assert table.schema.field("v").type == pa.string() and table["v"][-2].as_py() == "0x1f"


def test_a_given_integer_or_date_type_is_checked_on_every_value(tmp_path):
    rows = "".join(f"{i},{i},2024-01-{i % 28 + 1:02d}\n" for i in range(30_000))
    frac = write(tmp_path, "frac.csv", "id,n,d\n" + rows + "30000,1.5,2024-02-01\n")
    with pytest.raises(ServiceError) as info:  # DuckDB's cast would store 2
        convert(frac, column_types={"n": "integer"})
    assert info.value.code == "type_error" and "'n'" in info.value.message and "column_types" in info.value.message
    assert "1.5" in info.value.message
    timed = write(tmp_path, "timed.csv", "id,n,d\n" + rows + "30000,7,2024-02-01 10:00\n")
    with pytest.raises(ServiceError) as info:  # the cast would cut the time off
        convert(timed, column_types={"d": "date"})
    assert info.value.code == "type_error" and "'d'" in info.value.message
    # values that fit: the given types, every value as written
    report, table = convert(timed, column_types={"n": "int32", "d": "timestamp"})
    assert table.schema.field("n").type == pa.int32() and table["d"][-1].as_py() == datetime(2024, 2, 1, 10, 0)
    report, table = convert(frac, column_types={"n": "float", "d": "date"})
    assert table["n"][-1].as_py() == 1.5 and table["d"][-1].as_py() == date(2024, 2, 1)
    # another column's late misfit makes the reader infer every type again from the whole file: the given
    # type is still checked there
    both = write(tmp_path, "both.csv", "id,n,x\n" + "".join(f"{i},{i},{i}.5\n" for i in range(30_000)) + "1,1.5,abc\n")
    with pytest.raises(ServiceError) as info:
        convert(both, column_types={"n": "integer"})
    assert info.value.code == "type_error" and "'n'" in info.value.message and "1.5" in info.value.message
    report, table = convert(both, column_types={"n": "float"})
    assert table.schema.field("x").type == pa.string() and table["n"][-1].as_py() == 1.5


def test_late_values_that_only_a_lenient_cast_would_take_widen_their_column(tmp_path):
    head = "".join(f"{i},{i},{'true' if i % 2 else 'false'}\n" for i in range(30_000))
    for late_n, late_b, n_as in (
        ("0x1F", "yes", "0x1F"),
        ("25e-1", "t", 2.5),
        ("1_000", "1", "1_000"),
        ("0b101", "N", "0b101"),
    ):
        report, table = convert(write(tmp_path, "late.csv", "id,n,b\n" + head + f"30000,{late_n},{late_b}\n"))
        # DuckDB's casts would store 31, 3 (rounded), 1000 or 5, and True or False, without a word
        assert table["n"][-1].as_py() == n_as, late_n  # a number in exponent form widens to double, the rest to text
        assert table.schema.field("n").type == (pa.float64() if n_as == 2.5 else pa.string()), late_n
        assert table.schema.field("b").type == pa.string() and table["b"][-1].as_py() == late_b, late_b
        assert table["b"][1].as_py() == "true" and table.num_rows == 30_001
        columns = {c["name"]: c for c in report["read"]["columns"]}
        assert columns["n"]["decision"] == "widened" and columns["n"]["examples"] == [late_n]
        assert columns["b"]["decision"] == "widened" and columns["b"]["examples"] == [late_b]
    _, table = convert(write(tmp_path, "ok.csv", "id,n,b\n" + head + "30000, +7 , TRUE \n"))
    assert table.schema.field("n").type == pa.int64() and table["n"][-1].as_py() == 7
    assert table.schema.field("b").type == pa.bool_() and table["b"][-1].as_py() is True


def test_a_given_date_type_refuses_a_time_early_in_the_file_too(tmp_path):
    """A time among the first rows (the planning sample) was cut off by DuckDB's cast without a word; a late
    one was already a type_error."""
    for value in ("2024-01-01 10:00", "2024-01-01T10:00:00+02:00"):
        with pytest.raises(ServiceError) as info:
            convert(write(tmp_path, "d.csv", f"id,n\n1,{value}\n2,2024-01-02\n"), column_types={"n": "date"})
        assert info.value.code == "type_error" and repr(value) in info.value.message
    _, table = convert(write(tmp_path, "ok.csv", "id,n\n1,2024-01-01\n2,2024-01-02\n"), column_types={"n": "date"})
    assert table["n"].to_pylist() == [date(2024, 1, 1), date(2024, 1, 2)]


def test_a_given_integer_type_refuses_exponents_hexadecimal_and_values_out_of_range(tmp_path):
    head = "".join(f"{i},{i}\n" for i in range(30_000))
    for late, kind in (("25e-1", "integer"), ("0x10", "integer"), ("40000", "int16"), ("3000000000", "int32")):
        with pytest.raises(ServiceError) as info:
            convert(write(tmp_path, "g.csv", "id,n\n" + head + f"30000,{late}\n"), column_types={"n": kind})
        assert info.value.code == "type_error", (late, info.value.message)
        assert "column 'n' is given the type" in info.value.message and repr(late) in info.value.message
        assert "give another type" in info.value.message


def test_comment_lines_before_the_header_keep_the_header_and_every_row(tmp_path):
    path = write(tmp_path, "c.csv", "# exported 2024\n# by tool\nid,tag,n\n1,a,2\n2,b,3\n")
    _, table = convert(path, comment="#")
    assert table.to_pydict() == {"id": [1, 2], "tag": ["a", "b"], "n": [2, 3]}
    _, table = convert(path)  # without the option: the same two lines are a preamble, skipped with a warning
    assert table.to_pydict() == {"id": [1, 2], "tag": ["a", "b"], "n": [2, 3]}
