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
        lambda c: _tab("ConflictingLabels")()().add_condition_ratio_of_conflicting_labels_less_or_equal(c["max_ratio"]),
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
        "feature_drift",
        "drift",
        lambda c: _tab("FeatureDrift")()(
            n_samples=c["n_samples"], aggregation_method=None
        ).add_condition_drift_score_less_than(
            max_allowed_categorical_score=c["max_categorical_drift"],
            max_allowed_numeric_score=c["max_numeric_drift"],
            allowed_num_features_exceeding_threshold=c["allowed_drifted_features"],
        ),
        _max_score,
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
        lambda c: _tab("TrainTestSamplesMix")()().add_condition_duplicates_ratio_less_or_equal(c["max_ratio"]),
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
