import pytest

from services_app.capabilities.pipelines.features import TfidfFeaturizer, make_featurizer
from services_app.capabilities.pipelines.robustness import OPERATIONS, perturb
from services_app.errors import ServiceError

TEXTS = [
    "Scope 1 emissions fell by 12% across all plants in 2023.",
    "Board independence was strengthened by the annual general meeting.",
    "The gender pay gap improved by 4% among warehouse staff.",
] * 10


def test_perturb_is_seeded_and_changes_texts():
    a = perturb(TEXTS, ops=list(OPERATIONS), rate=0.3, seed=1)
    b = perturb(TEXTS, ops=list(OPERATIONS), rate=0.3, seed=1)
    c = perturb(TEXTS, ops=list(OPERATIONS), rate=0.3, seed=2)
    assert a == b
    assert a != c
    assert sum(x != y for x, y in zip(a, TEXTS, strict=True)) > len(TEXTS) * 0.8
    assert all(t.strip() for t in a)


@pytest.mark.parametrize("op", sorted(OPERATIONS))
def test_each_operation_keeps_some_text(op):
    out = perturb(TEXTS, ops=[op], rate=0.5, seed=3)
    assert len(out) == len(TEXTS)
    assert any(o != t for o, t in zip(out, TEXTS, strict=True))
    assert all(o for o in out)


def test_perturbation_of_a_text_does_not_depend_on_the_others():
    full = perturb(TEXTS, ops=["typos"], rate=0.5, seed=5)
    assert perturb(TEXTS[:3], ops=["typos"], rate=0.5, seed=5) == full[:3]


def test_bad_perturbation_params_are_refused():
    with pytest.raises(ServiceError, match="unknown perturbation"):
        perturb(TEXTS, ops=["shout"])
    with pytest.raises(ServiceError, match="between 0 and 1"):
        perturb(TEXTS, ops=["typos"], rate=2)


def test_tfidf_featurizer_fits_and_transforms():
    f = make_featurizer({"method": "tfidf", "tfidf": {"min_df": 1}})
    assert isinstance(f, TfidfFeaturizer)
    x = f.fit_transform(TEXTS)
    assert x.shape[0] == len(TEXTS) and x.shape[1] == f.dimensions
    assert f.transform(["unseen words only"]).shape[1] == f.dimensions
    with pytest.raises(ServiceError, match="tfidf"):
        make_featurizer({"method": "bag"})
