"""Reading inputs: the formats read here and those handed to the parquet conversion's reader."""

from __future__ import annotations

import gzip

import pytest

from services_app.capabilities.checks.io import read_table, table_columns
from services_app.capabilities.checks.jobs import run_checks
from services_app.errors import ServiceError
from services_app.jobs.context import JobContext
from services_app.storage import Storage

from .datagen import tabular_batch


def test_formats_beyond_csv_and_parquet(tmp_path):
    (tmp_path / "batch.csv.gz").write_bytes(gzip.compress(b"text,label\nhello,a\nworld,b\n"))
    (tmp_path / "semicolons.csv").write_text("text;label\nhello;a\nworld;b\n")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncafé crème,a\nnaïve,b\n".encode("latin-1"))
    (tmp_path / "pipes.tab").write_text("text\tlabel\nhello\ta\nworld\tb\n")
    for name in ("batch.csv.gz", "semicolons.csv", "pipes.tab"):
        assert table_columns(tmp_path / name).columns == ["text", "label"], name
        assert read_table(tmp_path / name).to_dict("list") == {"text": ["hello", "world"], "label": ["a", "b"]}
    assert read_table(tmp_path / "latin1.csv")["text"].tolist() == ["café crème", "naïve"]
    assert read_table(tmp_path / "semicolons.csv", columns=["label"]).columns.tolist() == ["label"]


def test_unreadable_and_unknown_files(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"zz")
    with pytest.raises(ServiceError, match="not a tabular file") as unknown:
        read_table(tmp_path / "x.bin")
    assert unknown.value.status == 400 and ".xlsm" in unknown.value.message
    (tmp_path / "broken.csv.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ServiceError, match="could not read 'broken.csv.gz'") as broken:
        read_table(tmp_path / "broken.csv.gz")
    assert broken.value.status == 400 and broken.value.code == "not_tabular"


def test_check_reads_gzipped_semicolon_csv(tmp_path):
    storage = Storage(data_root=tmp_path)
    tabular_batch(300, seed=1).to_parquet(tmp_path / "ref.parquet")
    (tmp_path / "new.csv.gz").write_bytes(
        gzip.compress(tabular_batch(300, seed=2).to_csv(index=False, sep=";").encode())
    )
    result = run_checks(
        JobContext(storage=storage),
        {"dataset": "new.csv.gz", "reference": "ref.parquet", "label": "risk", "wandb": False, "suites": ["drift"]},
    )
    assert result["rows"]["dataset"] == 300
    assert result["passed"], result["failed_checks"]
