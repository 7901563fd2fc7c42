"""The checks see the table the reader reads: the same verdict for the same data in any format, and
missing labels reported as missing, never a class named "None"."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services_app.capabilities.checks.jobs import run_checks
from services_app.jobs.context import JobContext
from services_app.storage import Storage

from .datagen import tabular_batch


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return Storage(data_root=tmp_path_factory.mktemp("fidelity-checks"))


def _daily(n: int) -> pd.DataFrame:
    """Rows that differ only by their date: one reading a day, two alternating sites, a label per site."""
    rng = np.random.default_rng(7)
    site = rng.choice(["north", "south"], n)
    return pd.DataFrame(
        {
            "day": [date(2020, 1, 1) + timedelta(days=i) for i in range(n)],
            "site": site,
            "level": np.where(site == "north", 1, 2),
            "status": np.where(site == "north", "ok", "check"),
        }
    )


def test_a_date_column_gets_the_same_verdict_from_csv_and_parquet(storage):
    df = _daily(300)
    df.to_csv(storage.data_root / "daily.csv", index=False)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), storage.data_root / "daily.parquet")
    verdicts = {}
    for name in ("daily.csv", "daily.parquet"):
        result = run_checks(
            JobContext(storage=storage),
            {"dataset": name, "label": "status", "wandb": False, "suites": ["integrity"], "output": name + "-out"},
        )
        checks = {c["id"]: c for c in result["checks"]}
        verdicts[name] = {k: checks[k]["passed"] for k in ("data_duplicates", "conflicting_labels")}
        assert not any("'day'" in n and "free text" in n for n in result["sampling"]), result["sampling"]
    # every row has its own date: no duplicates and no conflicting labels, read from either format
    assert verdicts["daily.csv"] == verdicts["daily.parquet"] == {"data_duplicates": True, "conflicting_labels": True}


def test_missing_labels_are_their_own_finding_not_a_class(storage):
    tabular_batch(600, seed=1).to_parquet(storage.data_root / "ref.parquet")
    new = tabular_batch(600, seed=2)
    gaps = list(range(0, 600, 30))  # 20 rows without a label
    new.loc[gaps, "risk"] = None
    new.to_csv(storage.data_root / "gaps.csv", index=False)
    result = run_checks(
        JobContext(storage=storage),
        {"dataset": "gaps.csv", "reference": "ref.parquet", "label": "risk", "wandb": False, "suites": ["drift"]},
    )
    assert result["missing_labels"]["dataset"] == {"count": 20, "rows": gaps}
    assert result["missing_labels"]["reference"] == {"count": 0, "rows": []}
    assert any("20 row(s) without a 'risk' label" in n for n in result["sampling"])
    checks = {c["id"]: c for c in result["checks"]}
    assert checks["new_label"]["passed"], checks["new_label"]  # no phantom class "None"
    assert checks["label_drift"]["passed"], checks["label_drift"]
