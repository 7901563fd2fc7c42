"""The whole check on planted problems: each fails the check that names it and no unrelated one; clean
pairs from one distribution pass. Tabular: parcels with a four-class delivery label (learnable);
text: topic sentences, embedded by the local model (slow)."""

from __future__ import annotations

import pandas as pd
import pytest

from services_app.capabilities.checks.jobs import run_checks
from services_app.jobs.context import JobContext
from services_app.storage import Storage

from .datagen import flip_labels, german_texts, off_topic_texts, parcel_batch, text_batch

# Drift of the rows as a whole, or rows outside the reference's coverage, go with any planted change of
# the feature values; they are not "unrelated".
WHOLE_BATCH = {"multivariate_drift", "coverage"}


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    return Storage(data_root=tmp_path_factory.mktemp("blind-spots"))


@pytest.fixture(scope="module")
def parcel_ref(storage):
    parcel_batch(1000, seed=1).to_parquet(storage.data_root / "parcels_ref.parquet")
    return "parcels_ref.parquet"


def run_tab(storage, reference, df, name, *, fmt: str = "csv", **extra):
    if fmt == "csv":
        df.to_csv(storage.data_root / f"{name}.csv", index=False)
    else:  # Parquet keeps date strings as written (the CSV reader may type them)
        df.to_parquet(storage.data_root / f"{name}.parquet", index=False)
    params = {
        "dataset": f"{name}.{fmt}",
        "reference": reference,
        "label": "delivery",
        "wandb": False,
        "output": name,
    }
    result = run_checks(JobContext(storage=storage), {**params, **extra})
    return result, set(result["failed_checks"]), {c["id"]: c for c in result["checks"]}


def test_clean_parcels_pass_and_rows_come_back(storage, parcel_ref):
    result, failed, checks = run_tab(storage, parcel_ref, parcel_batch(1000, seed=2), "parcels_clean")
    assert not failed, [checks[f] for f in failed]
    assert {"label_issues", "near_duplicates", "coverage", "column_types", "date_columns"} <= set(checks)
    # The table reader may type the CSV's dates itself ("typed"); the Parquet reference keeps them as text.
    assert checks["date_columns"]["value"]["columns"]["shipped"]["format"] in (
        "dates as YYYY-MM-DD (ISO 8601)",
        "dates (typed)",
    )
    rows = pd.read_parquet(storage.data_root / result["row_results"]["rows.parquet"])
    assert len(rows) == 1000 and rows["row"].tolist() == list(range(1000))
    assert rows["label_quality"].between(0, 1).all() and rows["outlier_score"].between(0, 1).all()
    assert result["problems"] == []


def test_label_flips_fail_label_issues_only(storage, parcel_ref):
    noisy, flipped = flip_labels(parcel_batch(1000, seed=3), "delivery", 0.10, seed=3)
    result, failed, checks = run_tab(storage, parcel_ref, noisy, "parcels_flipped", fix_budget=150)
    assert "label_issues" in failed
    # Flipping labels moves class shares a little: label drift may see it too.
    assert failed <= {"label_issues", "label_drift"}, failed
    rows = pd.read_parquet(storage.data_root / result["row_results"]["rows.parquet"])
    flagged = set(rows.loc[rows["issues"].map(lambda xs: "label_issue" in list(xs)), "row"])
    precision = len(flagged & set(flipped)) / len(flagged)
    recall = len(flagged & set(flipped)) / len(flipped)
    assert precision >= 0.7 and recall >= 0.5, (precision, recall)
    first = pd.read_csv(storage.data_root / result["row_results"]["fix_first.csv"])
    assert len(first) == min(150, int((rows["priority"] > 0).sum())) and len(first) >= len(flagged)
    assert first["issues"].iloc[0].startswith("label_issue") and set(first["row"][: len(flagged)]) == flagged
    assert result["problems"][0]["check"] == "label_issues" and "Likely wrong labels" in result["problems"][0]["what"]
    html = (storage.data_root / result["report"]).read_text()
    assert html.index("Likely wrong labels") < html.index("Data Duplicates")  # plain words before deepchecks
    assert 'href="exports/fix_first.csv"' in html


def test_numbers_arriving_with_units_fail_column_types_only(storage, parcel_ref):
    df = parcel_batch(1000, seed=4)
    df["weight_kg"] = df["weight_kg"].map(lambda x: f"{x} kg")
    result, failed, checks = run_tab(storage, parcel_ref, df, "parcels_units")
    assert failed == {"column_types"}, failed  # not multivariate_drift crashing, not feature drift
    assert checks["column_types"]["value"]["changed"] == {
        "weight_kg": {"reference": "numbers", "dataset": "numbers with the unit 'kg'"}
    }
    assert checks["multivariate_drift"]["status"] == "pass"
    assert any("numbers with a unit ('kg')" in n for n in result["sampling"])


def test_date_format_change_fails_date_columns_only(storage, parcel_ref):
    df = parcel_batch(1000, seed=5)
    df["shipped"] = pd.to_datetime(df["shipped"]).dt.strftime("%d/%m/%Y")
    result, failed, checks = run_tab(storage, parcel_ref, df, "parcels_dates", fmt="parquet")
    assert failed == {"date_columns"}, failed
    problems = checks["date_columns"]["value"]["columns"]["shipped"]["problems"]
    assert problems == ["format changed from dates as YYYY-MM-DD (ISO 8601) to dates as DD/MM/YYYY"]


def test_dates_out_of_range_fail_date_columns_only(storage, parcel_ref):
    df = parcel_batch(1000, seed=6)
    df.loc[:49, "shipped"] = "1999-12-31"
    result, failed, checks = run_tab(storage, parcel_ref, df, "parcels_old_dates", fmt="parquet")
    assert failed == {"date_columns"}, failed
    assert checks["date_columns"]["value"]["columns"]["shipped"]["outside_range"] == 50


@pytest.fixture(scope="module")
def big_ref(storage):
    parcel_batch(2000, seed=7).to_parquet(storage.data_root / "parcels_big_ref.parquet")
    return "parcels_big_ref.parquet"


def test_subtle_mean_shift_fails_feature_drift(storage, big_ref):
    df = parcel_batch(2000, seed=8)
    df["weight_kg"] += 0.24 * df["weight_kg"].std()
    result, failed, checks = run_tab(storage, big_ref, df, "parcels_shift")
    assert "feature_drift" in failed and failed <= {"feature_drift", *WHOLE_BATCH}, failed
    assert checks["feature_drift"]["value"]["drifted_columns"] == ["weight_kg"]


def test_rescaled_money_column_fails_feature_drift(storage, big_ref):
    df = parcel_batch(2000, seed=9)
    df["price_eur"] = (df["price_eur"] * 1.5).round(2)
    result, failed, checks = run_tab(storage, big_ref, df, "parcels_price")
    assert "feature_drift" in failed and failed <= {"feature_drift", *WHOLE_BATCH}, failed
    assert checks["feature_drift"]["value"]["drifted_columns"] == ["price_eur"]


def test_regression_label_is_not_applicable_not_failed(storage):
    ref, new = parcel_batch(600, seed=10), parcel_batch(600, seed=11)
    ref.to_parquet(storage.data_root / "reg_ref.parquet")
    new.to_csv(storage.data_root / "reg_new.csv", index=False)
    params = {"dataset": "reg_new.csv", "reference": "reg_ref.parquet", "label": "price_eur", "wandb": False}
    result = run_checks(JobContext(storage=storage), {**params, "output": "reg"})
    checks = {c["id"]: c for c in result["checks"]}
    assert result["passed"], result["failed_checks"]
    assert result["label_type"] == "regression"
    for cid in ("class_imbalance", "label_issues", "new_label", "conflicting_labels", "near_duplicate_conflicts"):
        assert checks[cid]["status"] == "not_applicable" and checks[cid]["passed"], checks[cid]
    assert checks["label_drift"]["status"] == "pass"


def test_coarse_features_coinciding_by_chance_pass_conflicting_labels(storage):
    from .datagen import tabular_batch

    coarse = {"age": 0, "income": -3, "score": 2}  # 0.1-0.2% of rows share features by chance
    ref, new = tabular_batch(3000, seed=1).round(coarse), tabular_batch(3000, seed=2).round(coarse)
    ref.to_parquet(storage.data_root / "coarse_ref.parquet")
    new.to_csv(storage.data_root / "coarse.csv", index=False)
    params = {"dataset": "coarse.csv", "reference": "coarse_ref.parquet", "label": "risk", "wandb": False}
    result = run_checks(JobContext(storage=storage), {**params, "output": "coarse", "suites": ["integrity"]})
    checks = {c["id"]: c for c in result["checks"]}
    ratio = checks["conflicting_labels"]["value"]["conflicting_ratio"]
    assert 0 < ratio < 0.01 and checks["conflicting_labels"]["passed"], ratio


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_clean_tabular_pairs_false_alarm_rate(storage):
    """20 clean pairs: the report gives the false-alarm rate; at most one may fail."""
    alarms = []
    for seed in range(20):
        parcel_batch(600, seed=100 + seed).to_parquet(storage.data_root / f"fa_ref_{seed}.parquet")
        result, failed, _ = run_tab(storage, f"fa_ref_{seed}.parquet", parcel_batch(600, seed=200 + seed), f"fa_{seed}")
        if failed:
            alarms.append((seed, sorted(failed)))
    print(f"tabular clean pairs: {len(alarms)} of 20 failed: {alarms}")
    assert len(alarms) <= 1, alarms


# --- text (the local embedding model) -------------------------------------------------------------


@pytest.fixture(scope="module")
def text_ref(storage):
    text_batch(400, seed=21).to_parquet(storage.data_root / "topics_ref.parquet")
    return "topics_ref.parquet"


def run_text(storage, reference, df, name, **extra):
    df.to_parquet(storage.data_root / f"{name}.parquet", index=False)
    params = {
        "dataset": f"{name}.parquet",
        "reference": reference,
        "label": "label",
        "text": "text",
        "wandb": False,
        "output": name,
    }
    result = run_checks(JobContext(storage=storage), {**params, **extra})
    return result, set(result["failed_checks"]), {c["id"]: c for c in result["checks"]}


# Text properties (length, characters) and the whole-batch embedding classifier move with any planted
# change of the texts themselves.
TEXT_WHOLE = {"property_drift", "property_outliers", "embedding_drift"}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_text_clean_and_planted_problems(storage, text_ref):
    result, failed, checks = run_text(storage, text_ref, text_batch(400, seed=22), "topics_clean")
    assert not failed, [checks[f] for f in failed]

    noisy, flipped = flip_labels(text_batch(400, seed=23), "label", 0.10, seed=23)
    result, failed, checks = run_text(storage, text_ref, noisy, "topics_flipped")
    # Template sentences are near-duplicates of each other: a flipped label also makes a conflicting set.
    assert "label_issues" in failed and failed <= {"label_issues", "label_drift", "near_duplicate_conflicts"}, failed

    df = text_batch(400, seed=24)
    twins = df.sample(20, random_state=1).copy()
    companies = r"\b(Acme|Globex|Initech|Umbrella|Stark|Wayne|Hooli|Vandelay|Soylent|Tyrell)\b"
    twins["text"] = twins["text"].str.replace(companies, "Contoso", n=1, regex=True)  # one word changed
    twins["label"] = twins["label"].map({"environment": "social", "social": "governance", "governance": "environment"})
    result, failed, checks = run_text(storage, text_ref, pd.concat([df.iloc[:380], twins]), "topics_twins")
    assert "near_duplicate_conflicts" in failed
    assert failed <= {"near_duplicate_conflicts", "near_duplicates", "label_issues"}, failed

    df = text_batch(400, seed=25)
    df.loc[:79, "text"] = german_texts(80, seed=25, labels=df.loc[:79, "label"].tolist())
    result, failed, checks = run_text(storage, text_ref, df, "topics_german")
    assert "language_mix" in failed and failed <= {"language_mix", "coverage", "label_issues", *TEXT_WHOLE}, failed

    df = text_batch(400, seed=26)
    df.loc[:59, "text"] = off_topic_texts(60, seed=26, labels=df.loc[:59, "label"].tolist())
    result, failed, checks = run_text(storage, text_ref, df, "topics_new_topic")
    assert "coverage" in failed and failed <= {"coverage", "label_issues", *TEXT_WHOLE}, failed

    df = text_batch(400, seed=27)
    df.loc[:39, "text"] = "<div class='body'><p>" + df.loc[:39, "text"] + "</p></div>"
    result, failed, checks = run_text(storage, text_ref, df, "topics_html")
    assert "markup" in failed and failed <= {"markup", "special_characters", *TEXT_WHOLE}, failed

    df = text_batch(400, seed=28)
    df.loc[:11, "text"] = ["", " ", "\n"] * 4
    result, failed, checks = run_text(storage, text_ref, df, "topics_empty")
    assert "empty_texts" in failed
    assert failed <= {
        "empty_texts",
        "text_duplicates",
        "near_duplicates",
        "conflicting_labels",
        "near_duplicate_conflicts",
        *TEXT_WHOLE,
    }, failed


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_clean_text_pairs_false_alarm_rate(storage):
    alarms = []
    for seed in range(20):
        text_batch(200, seed=300 + seed).to_parquet(storage.data_root / f"tfa_ref_{seed}.parquet")
        result, failed, _ = run_text(
            storage, f"tfa_ref_{seed}.parquet", text_batch(200, seed=400 + seed), f"tfa_{seed}"
        )
        if failed:
            alarms.append((seed, sorted(failed)))
    print(f"text clean pairs: {len(alarms)} of 20 failed: {alarms}")
    assert len(alarms) <= 1, alarms


def test_date_format_change_between_two_csv_batches_fails_date_columns(storage):
    # both sides CSV: the reader types both columns as dates, and the check still sees how they were written
    reference = parcel_batch(1000, seed=1)
    reference.to_csv(storage.data_root / "parcels_ref_dates.csv", index=False)
    df = parcel_batch(1000, seed=3)
    df["shipped"] = pd.to_datetime(df["shipped"]).dt.strftime("%d/%m/%Y")
    result, failed, checks = run_tab(storage, "parcels_ref_dates.csv", df, "parcels_dates_csv")
    assert failed == {"date_columns"}, failed
    problems = checks["date_columns"]["value"]["columns"]["shipped"]["problems"]
    assert problems == ["format changed from dates as YYYY-MM-DD (ISO 8601) to dates as DD/MM/YYYY"]
    # the same new batch, written ISO like the reference: passes
    df["shipped"] = pd.to_datetime(df["shipped"], format="%d/%m/%Y").dt.strftime("%Y-%m-%d")
    result, failed, checks = run_tab(storage, "parcels_ref_dates.csv", df, "parcels_dates_csv_iso")
    assert "date_columns" not in failed, checks["date_columns"]
