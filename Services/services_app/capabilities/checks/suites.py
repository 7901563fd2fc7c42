"""The checks each task runs, built from explicit deepchecks checks.

deepchecks' default suites cannot be built offline (the NLP integrity suite
loads BERT from the hub) and run slow methods (UMAP); here every check is
chosen, configured for speed, and given the condition its settings ask for.
Imported by the worker only: this module imports deepchecks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from deepchecks.core import ConditionCategory, ConditionResult

Builder = Callable[[dict], Any]
Measure = Callable[[Any], Any]


@dataclass(frozen=True)
class CheckSpec:
    id: str
    stage: str  # "integrity" (the new batch alone) or "drift" (against the reference)
    build: Builder
    measure: Measure


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else round(f, 6)


def _max_score(value: dict, key: str = "Drift score") -> dict:
    scores = {str(k): _num(v.get(key)) for k, v in (value or {}).items() if isinstance(v, dict)}
    scores = {k: v for k, v in scores.items() if v is not None}
    top = max(scores.items(), key=lambda kv: kv[1], default=(None, None))
    return {"max_drift_score": top[1], "max_drift_column": top[0], "drift_scores": scores}


def _mixed_types_condition(max_ratio: float):
    def condition(value: dict) -> ConditionResult:
        mixed = {str(col): round(min(mix["strings"], mix["numbers"]), 4) for col, mix in (value or {}).items() if mix}
        failing = {c: r for c, r in mixed.items() if r > max_ratio}
        if failing:
            return ConditionResult(
                ConditionCategory.FAIL, f"Columns with mixed numbers and strings (rare type ratio): {failing}"
            )
        return ConditionResult(ConditionCategory.PASS, f"No column mixes types above ratio {max_ratio}")

    return f"Rare data type ratio is less or equal to {max_ratio}", condition


def _mixed_types(cfg: dict):
    from deepchecks.tabular.checks import MixedDataTypes

    name, fn = _mixed_types_condition(cfg["max_rare_type_ratio"])
    return MixedDataTypes().add_condition(name, fn)


def _tab(name: str):
    def get():
        import deepchecks.tabular.checks as checks

        return getattr(checks, name)

    return get


def _nlp(name: str):
    def get():
        import deepchecks.nlp.checks as checks

        return getattr(checks, name)

    return get


class _OnlyDataset:
    """A deepchecks context that hands out one given dataset and delegates everything else."""

    def __init__(self, context, dataset):
        self._context, self._dataset = context, dataset

    def get_data_by_kind(self, kind):
        return self._dataset

    def __getattr__(self, name):
        return getattr(self._context, name)


def _conflicting_labels_check():
    """deepchecks' tabular ConflictingLabels, same result, fed only the rows that can conflict.

    deepchecks groups by every feature and walks all groups in Python (``iterrows``): 9 s for
    100,000 rows of distinct values. Rows whose feature values carry a single label cannot
    conflict; they are found with vectorised pandas and left out before deepchecks' own logic
    runs, and the ratio is rescaled to the whole dataset."""
    from deepchecks.core import CheckResult
    from deepchecks.tabular.checks import ConflictingLabels
    from deepchecks.utils.dataframes import cast_categorical_to_object_dtype

    class FastConflictingLabels(ConflictingLabels):
        def run_logic(self, context, dataset_kind):
            dataset = context.get_data_by_kind(dataset_kind)
            dataset = dataset.sample(self.n_samples, random_state=self.random_state).select(
                self.columns, self.ignore_columns, keep_label=True
            )
            df = cast_categorical_to_object_dtype(dataset.data[[*dataset.features, dataset.label_name]].copy())
            group = df.groupby(dataset.features, dropna=False, sort=False).ngroup()
            pairs = pd.DataFrame({"group": group.to_numpy(), "label": df[dataset.label_name].to_numpy()})
            labels_per_group = pairs.drop_duplicates()["group"].value_counts()
            mask = group.isin(labels_per_group.index[labels_per_group > 1]).to_numpy()
            if not mask.any():  # deepchecks refuses an empty Dataset; nothing conflicts
                return CheckResult(value={"percent_of_conflicting_samples": 0.0, "samples_indices": []})
            subset = dataset.copy(dataset.data[mask])
            result = super().run_logic(_OnlyDataset(context, subset), dataset_kind)
            if dataset.n_samples:
                result.value["percent_of_conflicting_samples"] = (
                    result.value["percent_of_conflicting_samples"] * subset.n_samples / dataset.n_samples
                )
            return result

    return FastConflictingLabels


class _OnlyTrainTest:
    """A deepchecks context with given train and test datasets; everything else delegated."""

    def __init__(self, context, train, test):
        self._context, self.train, self.test = context, train, test

    def __getattr__(self, name):
        return getattr(self._context, name)


def _canonical(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value) + 0.0)  # -0.0 and 0.0 are one value
    return str(value)


def _row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One hash per row over canonical strings: 1 (int), 1.0 (float) and a 1 in an object column are one
    value, and NaN and None one missing value, as deepchecks' grouping sees them."""
    canon = {}
    for col in df.columns:
        series = df[col]
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            # numpy writes float64 as repr() does (shortest round trip): the same text as _canonical.
            text = pd.Series((series.to_numpy(dtype="float64") + 0.0).astype(str), index=series.index, dtype=object)
        else:
            text = series.astype(object).map(_canonical)
        canon[col] = text.where(series.notna().to_numpy(), "\x00missing")
    return pd.util.hash_pandas_object(pd.DataFrame(canon), index=False).to_numpy()


def _samples_mix_check():
    """deepchecks' tabular TrainTestSamplesMix, same result, fed only rows that may appear on both sides.

    deepchecks builds a text entry per distinct row of each side in Python (8 s for 100,000 vs
    100,000 rows). Rows are hashed with pandas first; only rows whose hash occurs on both sides
    (a superset of the true duplicates) go through deepchecks' logic, and the ratio is rescaled
    to the whole test side."""
    from deepchecks.core import CheckResult
    from deepchecks.tabular.checks import TrainTestSamplesMix
    from deepchecks.utils.strings import format_percent

    class FastTrainTestSamplesMix(TrainTestSamplesMix):
        def run_logic(self, context):
            test = context.test.sample(self.n_samples, random_state=self.random_state)
            train = context.train.sample(self.n_samples, random_state=self.random_state)
            columns = test.features + ([test.label_name] if test.has_label() else [])
            h_train, h_test = _row_hashes(train.data[columns]), _row_hashes(test.data[columns])
            common = np.intersect1d(h_train, h_test)
            keep_train, keep_test = np.isin(h_train, common), np.isin(h_test, common)
            if not keep_test.any():
                value = {"ratio": 0.0, "data": pd.DataFrame(columns=columns)}
                return CheckResult(value, header="Train Test Samples Mix")
            sub_train, sub_test = train.copy(train.data[keep_train]), test.copy(test.data[keep_test])
            result = super().run_logic(_OnlyTrainTest(context, sub_train, sub_test))
            count = round(result.value["ratio"] * sub_test.n_samples)
            ratio = count / test.n_samples
            result.value["ratio"] = ratio
            if result.display:
                result.display[0] = (
                    f"{format_percent(ratio)} ({count} / {test.n_samples}) of test data samples appear in train data"
                )
            return result

    return FastTrainTestSamplesMix


TABULAR: list[CheckSpec] = [
    CheckSpec(
        "is_single_value",
        "integrity",
        lambda c: _tab("IsSingleValue")()().add_condition_not_single_value(),
        lambda v: {"single_value_columns": sorted(str(k) for k, n in (v or {}).items() if n == 1)},
    ),
    CheckSpec(
        "mixed_nulls",
        "integrity",
        lambda c: _tab("MixedNulls")()().add_condition_different_nulls_less_equal_to(c["max_null_types"]),
        lambda v: {"null_types_per_column": {str(k): len(x) for k, x in (v or {}).items() if len(x) > 1}},
    ),
    CheckSpec(
        "mixed_data_types",
        "integrity",
        _mixed_types,
        lambda v: {
            "rare_type_ratio": {str(k): round(min(m["strings"], m["numbers"]), 4) for k, m in (v or {}).items() if m}
        },
    ),
    CheckSpec(
        "percent_of_nulls",
        "integrity",
        lambda c: _tab("PercentOfNulls")()().add_condition_percent_of_nulls_not_greater_than(c["max_null_ratio"]),
        lambda v: {"max_null_ratio": _num(v.iloc[:, 0].max()) if isinstance(v, pd.DataFrame) and len(v) else 0.0},
    ),
    CheckSpec(
        "data_duplicates",
        "integrity",
        lambda c: _tab("DataDuplicates")()().add_condition_ratio_less_or_equal(c["max_ratio"]),
        lambda v: {"duplicate_ratio": _num(v)},
    ),
    CheckSpec(
        "conflicting_labels",
        "integrity",
        lambda c: _conflicting_labels_check()().add_condition_ratio_of_conflicting_labels_less_or_equal(c["max_ratio"]),
        lambda v: {"conflicting_ratio": _num((v or {}).get("percent_of_conflicting_samples"))},
    ),
    CheckSpec(
        "special_characters",
        "integrity",
        lambda c: _tab("SpecialCharacters")()().add_condition_ratio_of_special_characters_less_or_equal(c["max_ratio"]),
        lambda v: {"max_ratio": _num(max((v or {}).values(), default=0.0))},
    ),
    CheckSpec("string_mismatch", "integrity", lambda c: _tab("StringMismatch")()(), lambda v: None),
    CheckSpec("class_imbalance", "integrity", lambda c: _tab("ClassImbalance")()(), lambda v: None),
    CheckSpec("datasets_size_comparison", "drift", lambda c: _tab("DatasetsSizeComparison")()(), lambda v: v),
    CheckSpec(
        "new_label",
        "drift",
        lambda c: _tab("NewLabelTrainTest")()().add_condition_new_labels_number_less_or_equal(c["max_new_labels"]),
        lambda v: {"new_labels": sorted(map(str, (v or {}).get("new_labels", [])))},
    ),
    CheckSpec(
        "new_category",
        "drift",
        lambda c: _tab("NewCategoryTrainTest")()().add_condition_new_category_ratio_less_or_equal(
            c["max_new_category_ratio"]
        ),
        lambda v: {
            "new_categories": {
                str(col): list(map(str, row.get("New categories", [])))[:20]
                for col, row in (v.to_dict("index") if isinstance(v, pd.DataFrame) else {}).items()
                if row.get("# New Categories", 0)
            }
        },
    ),
    CheckSpec(
        "label_drift",
        "drift",
        lambda c: _tab("LabelDrift")()(n_samples=c["n_samples"]).add_condition_drift_score_less_than(c["max_drift"]),
        lambda v: {"drift_score": _num((v or {}).get("Drift score"))},
    ),
    CheckSpec(
        "multivariate_drift",
        "drift",
        lambda c: _tab("MultivariateDrift")()(n_samples=c["n_samples"]).add_condition_overall_drift_value_less_than(
            c["max_drift"]
        ),
        lambda v: {"drift_score": _num((v or {}).get("domain_classifier_drift_score"))},
    ),
    CheckSpec(
        "train_test_samples_mix",
        "drift",
        lambda c: _samples_mix_check()().add_condition_duplicates_ratio_less_or_equal(c["max_ratio"]),
        lambda v: {"ratio": _num((v or {}).get("ratio"))},
    ),
]


# deepchecks' stopword removal calls nltk.download() for every text (a network
# round trip each, and no network here): texts are compared case-, punctuation-
# and unicode-normalised, with stopwords kept.
_NO_NLTK = {"remove_stopwords": False}


def _outlier_measure(value: dict) -> dict:
    ratios = {}
    for prop, info in (value or {}).items():
        if isinstance(info, dict) and "indices" in info:
            ratios[str(prop)] = len(info["indices"])
    return {"outliers_per_property": ratios}


def _embedding_drift_check():
    """deepchecks' TextEmbeddingsDrift with the scatter plot reduced by PCA instead of UMAP.

    Even with ``dimension_reduction_method="pca"`` deepchecks draws its 2-D
    scatter with UMAP, whose numba functions compile on first use in every
    process (about 25 s on two cores, for a few hundred points). The score is
    deepchecks' own (PCA to 10 dimensions, a gradient-boosting domain
    classifier, drift = 2 * AUC - 1); only the picture is drawn with PCA.
    """
    from deepchecks.core import CheckResult
    from deepchecks.core.check_utils.multivariate_drift_utils import build_drift_plot
    from deepchecks.nlp.checks import TextEmbeddingsDrift
    from deepchecks.nlp.utils.multivariate_embeddings_drift_utils import run_multivariable_drift_for_embeddings
    from deepchecks.nlp.utils.nlp_plot import two_datasets_scatter_plot
    from sklearn.decomposition import PCA

    class EmbeddingsDrift(TextEmbeddingsDrift):
        def run_logic(self, context) -> CheckResult:
            train, test = context.train, context.test
            sample_size = min(self.sample_size, train.n_samples, test.n_samples)
            value, _ = run_multivariable_drift_for_embeddings(
                train_dataset=train,
                test_dataset=test,
                sample_size=sample_size,
                random_state=self.random_state,
                test_size=self.test_size,
                num_samples_in_display=self.num_samples_in_display,
                dimension_reduction_method="pca",
                with_display=False,
                model_classes=context.model_classes,
            )
            display = None
            if context.with_display:
                half = max(1, self.num_samples_in_display // 2)
                shown_train = train.sample(min(half, train.n_samples), random_state=self.random_state)
                shown_test = test.sample(min(half, test.n_samples), random_state=self.random_state)
                points = np.concatenate([shown_train.embeddings, shown_test.embeddings])
                xy = PCA(n_components=2, random_state=self.random_state).fit_transform(points)
                data = pd.DataFrame({"Embedding PCA (0)": xy[:, 0], "Embedding PCA (1)": xy[:, 1]})
                display = [
                    build_drift_plot(value["domain_classifier_drift_score"]),
                    two_datasets_scatter_plot(
                        plot_title="Scatter plot of the embeddings (PCA to 2 dimensions)",
                        plot_data=data,
                        train_dataset=shown_train,
                        test_dataset=shown_test,
                        model_classes=context.model_classes,
                    ),
                ]
            return CheckResult(value=value, display=display, header="Embeddings Drift")

    return EmbeddingsDrift


TEXT: list[CheckSpec] = [
    CheckSpec(
        "text_duplicates",
        "integrity",
        lambda c: _nlp("TextDuplicates")()(**_NO_NLTK).add_condition_ratio_less_or_equal(c["max_ratio"]),
        lambda v: {"duplicate_ratio": _num((v or {}).get("percent_of_duplicates"))},
    ),
    CheckSpec(
        "conflicting_labels",
        "integrity",
        lambda c: _nlp("ConflictingLabels")()(**_NO_NLTK).add_condition_ratio_of_conflicting_labels_less_or_equal(
            c["max_ratio"]
        ),
        lambda v: {"conflicting_ratio": _num((v or {}).get("percent_of_conflicting_samples"))},
    ),
    CheckSpec(
        "special_characters",
        "integrity",
        lambda c: _nlp("SpecialCharacters")()(
            n_samples=20000
        ).add_condition_samples_ratio_w_special_characters_less_or_equal(c["max_ratio"]),
        lambda v: None,
    ),
    CheckSpec(
        "property_outliers",
        "integrity",
        # Lexical density of short texts is mostly 1.0: its quartiles collapse and
        # ordinary texts look like outliers, so the condition leaves it out.
        lambda c: _nlp("TextPropertyOutliers")()().add_condition_outlier_ratio_less_or_equal(
            c["max_ratio"], properties_to_ignore=["Lexical Density"]
        ),
        _outlier_measure,
    ),
    CheckSpec(
        "embedding_drift",
        "drift",
        # PCA, not UMAP: UMAP dominated the run time and only changes the picture.
        lambda c: _embedding_drift_check()(
            sample_size=c["sample_size"], dimension_reduction_method="pca", num_samples_in_display=300
        ).add_condition_overall_drift_value_less_than(c["max_drift"]),
        lambda v: {"drift_score": _num((v or {}).get("domain_classifier_drift_score"))},
    ),
    CheckSpec(
        "label_drift",
        "drift",
        lambda c: _nlp("LabelDrift")()(n_samples=c["n_samples"]).add_condition_drift_score_less_than(c["max_drift"]),
        lambda v: {"drift_score": _num((v or {}).get("Drift score"))},
    ),
    CheckSpec(
        "property_drift",
        "drift",
        lambda c: _nlp("PropertyDrift")()(
            n_samples=c["n_samples"], n_top_properties=11
        ).add_condition_drift_score_less_than(
            max_allowed_categorical_score=c["max_drift"], max_allowed_numeric_score=c["max_drift"]
        ),
        _max_score,
    ),
    CheckSpec(
        "train_test_samples_mix",
        "drift",
        lambda c: _nlp("TrainTestSamplesMix")()(**_NO_NLTK).add_condition_duplicates_ratio_less_or_equal(
            c["max_ratio"]
        ),
        lambda v: {"ratio": _num((v or {}).get("ratio"))},
    ),
]

CATALOG = {"tabular": TABULAR, "text_classification": TEXT}


def jsonable(value: Any, depth: int = 0) -> Any:
    """A small JSON-safe rendering of a measured value."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(value)
    if depth > 3:
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v, depth + 1) for v in list(value)[:50]]
    return None
