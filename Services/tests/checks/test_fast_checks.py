"""The faster tabular ConflictingLabels and TrainTestSamplesMix give deepchecks' own results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from .datagen import tabular_batch


@pytest.fixture(scope="module")
def frames():
    ref, new = tabular_batch(3000, seed=1), tabular_batch(3000, seed=2)
    new = new._append(ref.sample(150, random_state=1), ignore_index=True)  # leaked rows, some twice
    new = new._append(ref.head(30), ignore_index=True)
    new.loc[new.index[-1], "region"] = np.nan
    ref.loc[29, "region"] = None
    ref["age"] = ref["age"].astype(object).where(ref.index != 3, 40)  # an int among floats
    new.loc[new.index[-2], "score"] = -0.0
    ref.loc[28, "score"] = 0.0
    coarse = {"age": 0, "income": -4, "score": 1}  # coarse values: many rows share features, labels conflict
    return {"exact": (ref, new), "coarse": (ref.round(coarse), new.round(coarse))}


def _indices(frame) -> set:
    """{("Train", (1, 2)), ...} from deepchecks' "Train indices: 2, 1\nTest indices: 5" row labels."""
    out = set()
    for text in frame.index:
        out.add(
            tuple(
                (side.split(":")[0], tuple(sorted(int(i) for i in side.split(":")[1].split(","))))
                for side in text.split("\n")
            )
        )
    return out


@pytest.mark.parametrize("variant", ["exact", "coarse"])
def test_same_results_as_deepchecks(frames, variant):
    from deepchecks.tabular import Dataset
    from deepchecks.tabular.checks import ConflictingLabels, TrainTestSamplesMix

    from services_app.capabilities.checks.suites import _conflicting_labels_check, _samples_mix_check

    ref, new = frames[variant]
    kw = {"label": "risk", "cat_features": ["region", "channel"]}
    a, b = Dataset(ref, **kw), Dataset(new, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mix_ref, mix_fast = TrainTestSamplesMix().run(a, b), _samples_mix_check()().run(a, b)
        cl_ref, cl_fast = ConflictingLabels().run(b), _conflicting_labels_check()().run(b)
    assert mix_fast.value["ratio"] == pytest.approx(mix_ref.value["ratio"]) and mix_ref.value["ratio"] > 0
    # The same duplicated rows with the same train/test indices (listed in another order).
    assert _indices(mix_fast.value["data"]) == _indices(mix_ref.value["data"])
    assert cl_fast.value["percent_of_conflicting_samples"] == pytest.approx(
        cl_ref.value["percent_of_conflicting_samples"]
    )
    assert sorted(map(sorted, cl_fast.value["samples_indices"])) == sorted(map(sorted, cl_ref.value["samples_indices"]))
    if variant == "coarse":
        assert cl_ref.value["percent_of_conflicting_samples"] > 0


def test_nothing_in_common():
    from deepchecks.tabular import Dataset

    from services_app.capabilities.checks.suites import _conflicting_labels_check, _samples_mix_check

    kw = {"label": "risk", "cat_features": ["region", "channel"]}
    a, b = Dataset(tabular_batch(500, seed=1), **kw), Dataset(tabular_batch(500, seed=2), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _samples_mix_check()().run(a, b).value["ratio"] == 0
        assert _conflicting_labels_check()().run(b).value["percent_of_conflicting_samples"] == 0
