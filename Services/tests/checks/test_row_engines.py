"""The engines behind our checks, on data planted here: fast, no deepchecks, no embedding model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from services_app.capabilities.checks import drift_stats, label_issues, near_duplicates, outliers, text_checks
from services_app.capabilities.checks.features import reduce, tabular_matrices
from services_app.capabilities.checks.jobs import is_regression
from services_app.capabilities.checks.request import ChecksRequest
from services_app.capabilities.checks.row_results import fix_first, row_frame, write_exports
from services_app.errors import ServiceError
from services_app.storage import Storage

from .datagen import flip_labels, german_texts, parcel_batch, text_batch

DRIFT_CFG = {
    "small_sample_max": 1000,
    "p_value": 0.05,
    "min_ks": 0.05,
    "min_cramers_v": 0.1,
    "max_wasserstein": 0.1,
    "max_jensen_shannon": 0.1,
    "allowed_drifted_features": 0,
}
NUMERIC, CATS = ["distance_km", "weight_kg", "price_eur"], ["service"]


def _matrices(ref: pd.DataFrame, new: pd.DataFrame):
    return reduce(tabular_matrices([ref, new], numeric=NUMERIC, categorical=CATS))


def _issues(ref, new, **kw):
    X_ref, X_new = _matrices(ref, new)
    return label_issues.find_label_issues(
        X_ref, ref["delivery"].to_numpy(), X_new, new["delivery"].to_numpy(), tabular=True, seed=0, **kw
    )


# --- label issues -----------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [0.05, 0.10])
def test_label_flips_found_with_precision_and_recall(share):
    ref, clean = parcel_batch(1500, seed=1), parcel_batch(1500, seed=2)
    noisy, flipped = flip_labels(clean, "delivery", share, seed=3)
    found = _issues(ref, noisy)
    truth = np.zeros(len(noisy), dtype=bool)
    truth[flipped] = True
    precision = (found.flagged & truth).sum() / max(1, found.flagged.sum())
    recall = (found.flagged & truth).sum() / truth.sum()
    assert precision >= 0.7 and recall >= 0.5, (precision, recall)
    # Flagged rows suggest another label, mostly the one they had before the flip.
    original = clean["delivery"].to_numpy()
    hits = found.flagged & truth
    assert (found.suggested[hits] == original[hits]).mean() >= 0.7
    assert (found.quality[found.flagged] <= 0.15).all()
    verdict = label_issues.compare_rates(
        found.flagged, noisy["delivery"], found.reference_flagged, ref["delivery"], max_excess=0.02, p_value=0.001
    )
    assert verdict["overall"]["failing"], verdict["overall"]


def test_clean_batches_of_a_hard_task_pass_label_issues():
    """Labels that the features barely predict: many rows look 'wrong' on both sides, so the rates match."""
    alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        ref, new = parcel_batch(300, seed=100 + seed), parcel_batch(300, seed=200 + seed)
        for df in (ref, new):  # half of the labels random: a hard, overlapping task
            mask = rng.random(len(df)) < 0.5
            df.loc[mask, "delivery"] = rng.choice(sorted(df["delivery"].unique()), mask.sum())
        found = _issues(ref, new)
        verdict = label_issues.compare_rates(
            found.flagged, new["delivery"], found.reference_flagged, ref["delivery"], max_excess=0.02, p_value=0.001
        )
        alarms += verdict["overall"]["failing"] or any(r["failing"] for r in verdict["per_class"].values())
    assert alarms <= 1, f"{alarms} false alarms in 20 clean pairs"


def test_label_issues_need_two_rows_per_class():
    X = np.random.default_rng(0).normal(size=(5, 3))
    found = label_issues.find_label_issues(None, None, X, np.array(["a", "a", "a", "a", "b"]), tabular=True)
    assert found.skipped and not found.flagged.any()


def test_a_class_with_one_row_is_left_out_not_the_whole_check():
    ref, clean = parcel_batch(1500, seed=1), parcel_batch(1500, seed=2)
    noisy, flipped = flip_labels(clean, "delivery", 0.10, seed=3)
    noisy.loc[0, "delivery"] = "<img src=x onerror=alert(1)>"  # one row of a label seen nowhere else
    found = _issues(ref, noisy)
    assert found.skipped is None and found.left_out == ["<img src=x onerror=alert(1)>"]
    assert np.isnan(found.quality[0]) and not found.flagged[0]
    truth = np.zeros(len(noisy), dtype=bool)
    truth[[i for i in flipped if i != 0]] = True
    precision = (found.flagged & truth).sum() / max(1, found.flagged.sum())
    recall = (found.flagged & truth).sum() / truth.sum()
    assert precision >= 0.7 and recall >= 0.5, (precision, recall)


# --- near-duplicates ------------------------------------------------------------------------------


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_lsh_finds_near_copies_and_not_strangers():
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(2000, 64)))
    copies = _unit(base[:50] + 0.15 * _unit(rng.normal(size=(50, 64))))  # cosine about 0.99
    vectors = np.vstack([base, copies])
    pairs, checked = near_duplicates.lsh_pairs(vectors, min_similarity=0.95)
    planted = {(i, 2000 + i) for i in range(50)}
    found = {tuple(p) for p in pairs.tolist()}
    assert planted <= found and found - planted == set()
    assert checked < len(vectors) ** 2 / 20  # far fewer comparisons than all pairs


def test_lsh_work_grows_below_quadratic():
    rng = np.random.default_rng(1)
    small = _unit(rng.normal(size=(4000, 64)))
    large = _unit(rng.normal(size=(32000, 64)))
    _, c_small = near_duplicates.lsh_pairs(small, min_similarity=0.95)
    _, c_large = near_duplicates.lsh_pairs(large, min_similarity=0.95)
    assert c_large / max(1, c_small) < 24, (c_small, c_large)  # 8x the rows: all pairs would be 64x


def test_text_sets_group_and_report_conflicts():
    texts = pd.Series(["The cat sat.", "the CAT sat!", "A dog ran.", "Birds fly south.", "birds   fly south"])
    labels = np.array(["x", "y", "x", "z", "z"])
    sets = near_duplicates.text_sets(texts, None, n_ref=0, min_similarity=0.95)
    assert sets.set_id[0] == sets.set_id[1] >= 0 and sets.set_id[3] == sets.set_id[4] >= 0
    assert sets.set_id[2] == -1
    summary = near_duplicates.summarise(sets, labels)
    assert summary["sets"] == 2 and summary["conflicting_sets"] == 1 and summary["rows_in_conflicting_sets"] == 2


def test_table_sets_normalise_case_whitespace_and_tiny_differences():
    ref = parcel_batch(300, seed=1)
    new = parcel_batch(300, seed=2)
    new.loc[5] = ref.loc[7]
    new.loc[5, "service"] = " " + str(ref.loc[7, "service"]).upper()
    new.loc[5, "distance_km"] = ref.loc[7, "distance_km"] + 1e-4
    sets = near_duplicates.table_sets([ref, new], numeric=NUMERIC, categorical=CATS, n_ref=300, tolerance=0.01)
    assert sets.set_id[7] >= 0 and sets.set_id[300 + 5] == sets.set_id[7]
    assert (sets.set_id >= 0).sum() == 2


# --- coverage / outliers ----------------------------------------------------------------------------


def test_minority_cluster_is_out_of_coverage_and_clean_batches_are_not():
    rng = np.random.default_rng(0)
    alarms = 0
    for seed in range(20):
        r = np.random.default_rng(seed)
        ref, new = r.normal(size=(400, 8)), r.normal(size=(400, 8))
        cov = outliers.coverage(ref, new, k=10)
        alarms += outliers.coverage_verdict(cov.scores, quantile=0.95, max_excess=0.05, p_value=0.001)["failing"]
    assert alarms <= 1
    ref, new = rng.normal(size=(600, 8)), rng.normal(size=(600, 8))
    new[:90] += 4.0  # 15% of rows in a cluster the reference does not have
    cov = outliers.coverage(ref, new, k=10)
    verdict = outliers.coverage_verdict(cov.scores, quantile=0.95, max_excess=0.05, p_value=0.001)
    assert verdict["failing"] and verdict["share"] >= 0.15
    assert cov.scores[:90].min() > 0.95 and np.median(cov.scores[90:]) < 0.8


# --- column types, dates, drift ---------------------------------------------------------------------


def test_column_types_units_dates_and_change():
    kg = pd.Series([f"{x:.1f} kg" for x in np.linspace(1, 20, 200)], dtype=object)
    assert drift_stats.column_type(kg).kind == "number_with_unit" and drift_stats.column_type(kg).unit == "kg"
    assert drift_stats.parse_units(kg).iloc[0] == 1.0
    iso = pd.Series(pd.date_range("2024-01-01", periods=200).strftime("%Y-%m-%d"), dtype=object)
    dmy = pd.Series(pd.date_range("2024-01-01", periods=200).strftime("%d/%m/%Y"), dtype=object)
    assert drift_stats.column_type(iso).date_format == "%Y-%m-%d"
    assert drift_stats.column_type(dmy).date_format == "%d/%m/%Y"
    numbers = pd.Series(np.linspace(1, 20, 200))
    changes = drift_stats.type_changes(
        {"w": drift_stats.column_type(numbers), "d": drift_stats.column_type(iso)},
        {"w": drift_stats.column_type(kg), "d": drift_stats.column_type(dmy)},
    )
    assert changes == {"w": {"reference": "numbers", "dataset": "numbers with the unit 'kg'"}}
    assert drift_stats.column_type(pd.Series(["a", "b", None] * 10)).kind == "categorical"


def test_date_checks_format_range_and_unreadable():
    cfg = {"max_unreadable": 0.01, "max_outside_range": 0.01, "range_margin": 1.0}
    ref = pd.Series(pd.date_range("2024-01-01", periods=180).strftime("%Y-%m-%d"), dtype=object)
    same = pd.Series(pd.date_range("2024-04-01", periods=180).strftime("%Y-%m-%d"), dtype=object)
    t = drift_stats.column_type
    assert drift_stats.date_checks(ref, same, ref_type=t(ref), new_type=t(same), cfg=cfg)["problems"] == []
    dmy = pd.Series(pd.date_range("2024-04-01", periods=180).strftime("%d/%m/%Y"), dtype=object)
    problems = drift_stats.date_checks(ref, dmy, ref_type=t(ref), new_type=t(dmy), cfg=cfg)["problems"]
    assert problems == ["format changed from dates as YYYY-MM-DD (ISO 8601) to dates as DD/MM/YYYY"]
    far = same.copy()
    far.iloc[:20] = "1970-01-01"
    far.iloc[20:25] = "not a date"
    result = drift_stats.date_checks(ref, far, ref_type=t(ref), new_type=t(far), cfg=cfg)
    assert result["outside_range"] == 20 and result["unreadable"] == 5 and len(result["problems"]) == 2


def _drift(ref, new):
    return drift_stats.feature_drift(ref, new, numeric=NUMERIC, categorical=CATS, cfg=DRIFT_CFG)


def test_feature_drift_false_alarms_small_and_large_samples():
    alarms = {500: 0, 2000: 0}
    for n in alarms:
        for seed in range(20):
            alarms[n] += _drift(parcel_batch(n, seed=seed), parcel_batch(n, seed=1000 + seed))["failing"]
    assert alarms[500] <= 1 and alarms[2000] <= 1, alarms


def test_feature_drift_subtle_shift_and_rescale():
    ref = parcel_batch(2000, seed=1)
    shifted = parcel_batch(2000, seed=2)
    shifted["weight_kg"] += 0.24 * ref["weight_kg"].std()
    result = _drift(ref, shifted)
    assert result["failing"] and result["drifted_columns"] == ["weight_kg"]
    assert result["columns"]["weight_kg"]["method"] == "Wasserstein (normed)"
    rescaled = parcel_batch(2000, seed=3)
    rescaled["price_eur"] *= 1.5
    assert _drift(ref, rescaled)["drifted_columns"] == ["price_eur"]
    small_ref, small = parcel_batch(600, seed=4), parcel_batch(600, seed=5)
    small["service"] = np.where(np.arange(600) < 200, "express", small["service"])
    result = _drift(small_ref, small)
    assert result["drifted_columns"] == ["service"] and result["columns"]["service"]["method"] == "chi-squared"


def test_regression_label_detected():
    rng = np.random.default_rng(0)
    assert is_regression(pd.Series(rng.normal(size=300)), None)
    assert not is_regression(pd.Series(rng.integers(0, 4, 300)), None)
    assert not is_regression(pd.Series(rng.choice(["a", "b"], 300)), None)


# --- texts ------------------------------------------------------------------------------------------


def test_markup_and_empty_texts():
    texts = pd.Series(["<p>Hello</p>", "a &amp; b", "5 < 6 and 7 > 2", "x=1/2", "", "   ", None, "plain"])
    assert text_checks.markup_rows(texts).tolist() == [True, True, False, False, False, False, False, False]
    assert text_checks.empty_rows(texts).tolist() == [False] * 4 + [True, True, True, False]


def test_language_mix_catches_a_new_language_in_a_fifth_of_texts():
    cfg = {"max_share_increase": 0.05, "p_value": 0.001}
    ref = text_batch(300, seed=1)["text"]
    clean = text_batch(300, seed=2)["text"]
    assert not text_checks.language_mix(ref, clean, cfg=cfg)["failing"]
    mixed = clean.copy()
    mixed.iloc[:60] = german_texts(60, seed=3)
    result = text_checks.language_mix(ref, mixed, cfg=cfg)
    assert result["failing"] and result["grown"][0]["language"] == "de"
    assert result["grown"][0]["share"] == pytest.approx(0.2, abs=0.02)


# --- the request model and the per-row results ------------------------------------------------------


def test_request_model_forbids_unknown_fields_and_fills_defaults():
    req = ChecksRequest.from_params({"dataset": "a.csv", "reference": "b.csv", "label": "y", "text": "t1, t2"})
    assert req.task == "text_classification" and req.text == ["t1", "t2"] and req.suites == ["integrity", "drift"]
    assert req.fix_budget == 100
    with pytest.raises(ServiceError) as err:
        ChecksRequest.from_params({"dataset": "a.csv", "label": "y", "colour": "red"})
    assert err.value.code == "invalid_params" and "colour" in err.value.message
    with pytest.raises(ServiceError) as err:
        ChecksRequest.from_params({"dataset": "a.csv", "label": "y", "suites": ["drift"]})
    assert "needs a reference" in err.value.message
    with pytest.raises(ServiceError) as err:
        ChecksRequest.from_params(
            {"dataset": "a.csv", "label": "y", "conditions": {"label_issues": {"nope": 1}}}
        ).settings()
    assert err.value.code == "invalid_conditions" and "max_excess" in err.value.message


def test_row_frame_ranks_and_exports(tmp_path):
    storage = Storage(data_root=tmp_path)
    n = 6
    frame = row_frame(
        source_rows=np.array([10, 11, 12, 13, 14, 15]),
        labels=pd.Series(["a", "b", "a", "b", "a", "b"]),
        rows={
            "label_quality": np.array([0.9, 0.05, 0.9, 0.1, 0.9, 0.9]),
            "suggested_label": np.array([None, "a", None, "a", None, None], dtype=object),
            "suggested_label_probability": np.array([np.nan, 0.9, np.nan, 0.8, np.nan, np.nan]),
            "duplicate_set": np.array([-1, -1, 0, -1, 0, -1]),
            "outlier_score": np.linspace(0, 1, n),
        },
        issues={
            "label_issue": np.array([0, 1, 0, 1, 0, 0], bool),
            "near_duplicate": np.array([0, 0, 1, 0, 1, 0], bool),
            "outlier": np.array([0, 0, 0, 0, 0, 1], bool),
        },
    )
    top = fix_first(frame, budget=3)
    assert top["row"].tolist() == [11, 13, 15]  # label issues (least likely label first), then the outlier
    content = pd.DataFrame({"text": [f"text {i}" for i in range(n)]})
    out = write_exports(storage, tmp_path / "out", frame, content=content, text_column="text", budget=3)
    tasks = json.loads((tmp_path / out["label_studio.json"]).read_text())
    assert tasks[0]["data"] == {"row": 11, "label": "b", "issues": ["label_issue"], "text": "text 1"}
    assert tasks[0]["predictions"][0]["result"][0] == {
        "from_name": "label",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["a"]},
    }
    csv = pd.read_csv(tmp_path / out["fix_first.csv"])
    assert csv["row"].tolist() == [11, 13, 15] and csv["text"].tolist() == ["text 1", "text 3", "text 5"]
    parquet = pd.read_parquet(tmp_path / out["rows.parquet"])
    assert len(parquet) == n and list(parquet.loc[2, "issues"]) == ["near_duplicate"]


def test_one_word_off_texts_are_near_duplicates():
    texts = pd.Series(
        [
            "Hooli installed 13 new solar panels at its Osaka site.",
            "Contoso installed 13 new solar panels at its Osaka site.",  # one word substituted
            "Hooli installed 13 new solar panels at its Osaka site today.",  # one word added
            "Hooli installed 14 new wind panels at its Osaka site.",  # two words changed: not a near copy
            "A short one.",
        ]
    )
    pairs = near_duplicates.one_word_off_pairs(near_duplicates._normalise_text(texts).to_numpy())
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (0, 2)]
    sets = near_duplicates.text_sets(texts, None, n_ref=0, min_similarity=0.95)
    assert sets.set_id[0] == sets.set_id[1] == sets.set_id[2] >= 0 and sets.set_id[3] == -1


def test_fix_first_csv_opens_as_data_not_formulas(tmp_path):
    storage = Storage(data_root=tmp_path)
    frame = row_frame(
        source_rows=np.array([0, 1, 2]),
        labels=pd.Series(["a", "=cmd|' /C calc'!A0", "b"]),
        rows={"label_quality": np.array([0.01, 0.02, 0.03])},
        issues={"label_issue": np.array([1, 1, 1], bool)},
    )
    content = pd.DataFrame({"text": ['=HYPERLINK("http://evil.example","click")', "@SUM(1+1)", "-3 plain"]})
    out = write_exports(storage, tmp_path / "out", frame, content=content, text_column="text", budget=3)
    import csv

    with open(tmp_path / out["fix_first.csv"], newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert '\'=HYPERLINK("http://evil.example","click")' in cells and "'@SUM(1+1)" in cells
    assert "'=cmd|' /C calc'!A0" in cells and "'-3 plain" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    # the Label Studio import keeps the text exactly as it was
    tasks = json.loads((tmp_path / out["label_studio.json"]).read_text())
    assert {t["data"]["text"] for t in tasks} == {'=HYPERLINK("http://evil.example","click")', "@SUM(1+1)", "-3 plain"}
