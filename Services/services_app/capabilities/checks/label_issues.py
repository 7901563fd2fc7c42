"""Likely label errors: confident learning on out-of-sample probabilities, confirmed by the neighbours.

Method (sources: Northcutt et al., "Confident Learning", JAIR 2021, through cleanlab 2.9;
k-nearest-neighbour label agreement as in cleanlab's Datalab ``label`` issue type and in
"Deep k-NN for noisy labels", Bahri et al. 2020):

1. Reference and new rows are pooled (features: standardised columns or text embeddings, PCA
   to 64 dimensions) and each row gets out-of-sample class probabilities from K-fold
   cross-validated models: a logistic regression, and for tables also extremely randomised
   trees; plus the labels of its k nearest neighbours (itself left out). The
   probabilities are averaged.
2. cleanlab's ``find_label_issues`` (``prune_by_noise_rate``) flags rows whose given label
   the averaged probabilities contradict, with per-class thresholds (the confident joint).
3. A flagged row is kept only when the signals agree: at most ``max_neighbour_agreement`` of its
   k nearest neighbours carry its label, every model's most likely class differs from it, and
   the averaged probability of the given label is at most ``max_label_quality``. On
   overlapping classes confident learning alone flags several times the planted errors
   (ambiguous rows of the task itself); the agreement removes most of those (docs/checks.md
   gives the measured precision and recall).

Per row: ``label_quality`` (the averaged probability of the given label, 0..1, low = suspect),
``suggested_label`` (the most likely other class) and its probability.

The check compares the flagged share of the new batch with the reference's own (the same
procedure flags ambiguous rows of a hard task on both sides), so a clean batch of a hard
task passes and a batch with extra flipped labels fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelIssues:
    classes: list[str]
    quality: np.ndarray  # per new row: averaged out-of-sample probability of its given label
    suggested: np.ndarray  # per new row: the most likely other class (str)
    suggested_probability: np.ndarray
    flagged: np.ndarray  # per new row: bool
    reference_flagged: np.ndarray  # per reference row: bool
    models: list[str] = field(default_factory=list)
    folds: int = 0
    skipped: str | None = None  # why nothing could be computed
    left_out: list[str] = field(default_factory=list)  # classes with one row: no out-of-sample estimate possible


def knn_probabilities(
    neighbours: np.ndarray, codes: np.ndarray, n_classes: int, prior: np.ndarray, alpha: float = 1.0
) -> np.ndarray:
    """Class shares among each row's neighbours (indices into ``codes``), smoothed towards ``prior``."""
    counts = np.zeros((len(neighbours), n_classes))
    rows = np.repeat(np.arange(len(neighbours)), neighbours.shape[1])
    np.add.at(counts, (rows, codes[neighbours.ravel()]), 1.0)
    return (counts + alpha * prior) / (neighbours.shape[1] + alpha)


def _cv_probabilities(model_factory, X: np.ndarray, codes: np.ndarray, n_classes: int, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((len(X), n_classes))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(X, codes):
        model = model_factory().fit(X[train], codes[train])
        probs = model.predict_proba(X[test])
        out[np.ix_(test, model.classes_)] = probs
    return out


def find_label_issues(
    X_ref: np.ndarray | None,
    y_ref: np.ndarray | None,
    X_new: np.ndarray,
    y_new: np.ndarray,
    *,
    tabular: bool,
    k: int = 10,
    folds: int = 5,
    max_label_quality: float = 0.15,
    max_neighbour_agreement: float = 0.1,
    seed: int = 0,
    neighbours: np.ndarray | None = None,
) -> LabelIssues:
    """Label issues of the new rows (and, for the comparison, of the reference rows).

    ``X_*`` are float matrices (rows x features), ``y_*`` labels as strings. ``neighbours``: optional
    precomputed indices (pooled rows x k) of each pooled row's nearest other rows, reference rows first."""
    from cleanlab.filter import find_label_issues as cl_find

    n_ref = 0 if X_ref is None else len(X_ref)
    X = X_new if X_ref is None else np.vstack([X_ref, X_new])
    y = np.asarray(y_new, dtype=object) if y_ref is None else np.concatenate([y_ref, y_new]).astype(object)
    classes, codes = np.unique(y.astype(str), return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    empty = LabelIssues(
        classes=[str(c) for c in classes],
        quality=np.full(len(X_new), np.nan),
        suggested=np.full(len(X_new), None, dtype=object),
        suggested_probability=np.full(len(X_new), np.nan),
        flagged=np.zeros(len(X_new), dtype=bool),
        reference_flagged=np.zeros(n_ref, dtype=bool),
    )
    single = counts[codes] < 2
    if single.any() and len(classes) - int((counts < 2).sum()) >= 2:
        # A class seen once cannot be cross-validated; its rows are left out (and named), the rest is checked.
        keep = ~single
        part = find_label_issues(
            None if X_ref is None else X_ref[keep[:n_ref]],
            None if y_ref is None else np.asarray(y_ref, dtype=object)[keep[:n_ref]],
            X_new[keep[n_ref:]],
            np.asarray(y_new, dtype=object)[keep[n_ref:]],
            tabular=tabular,
            k=k,
            folds=folds,
            max_label_quality=max_label_quality,
            max_neighbour_agreement=max_neighbour_agreement,
            seed=seed,
        )
        kept_new = keep[n_ref:]
        empty.quality[kept_new] = part.quality
        empty.suggested[kept_new] = part.suggested
        empty.suggested_probability[kept_new] = part.suggested_probability
        empty.flagged[kept_new] = part.flagged
        empty.reference_flagged[keep[:n_ref]] = part.reference_flagged
        empty.models, empty.folds, empty.skipped = part.models, part.folds, part.skipped
        empty.left_out = sorted(str(c) for c in classes[counts < 2])
        return empty
    folds = int(min(folds, counts.min()))
    if len(classes) < 2 or folds < 2:
        empty.skipped = "every class needs at least two rows for cross-validation"
        return empty
    prior = counts / counts.sum()

    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models = {"logistic_regression": lambda: make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=300))}
    if tabular:
        from sklearn.ensemble import ExtraTreesClassifier

        # Trees see interactions and thresholds the linear model cannot; one thread (OpenMP-based
        # boosting spun for minutes on a shared two-core machine).
        models["extra_trees"] = lambda: ExtraTreesClassifier(
            n_estimators=50, min_samples_leaf=3, max_features="sqrt", n_jobs=1, random_state=seed
        )
    probs = [_cv_probabilities(f, X, codes, len(classes), folds, seed) for f in models.values()]
    if neighbours is None:
        from .outliers import nearest_neighbours

        _, neighbours = nearest_neighbours(X, X, k=k, exclude_self=True)
    p_knn = knn_probabilities(neighbours, codes, len(classes), prior)
    probs.append(p_knn)
    p = np.mean(probs, axis=0)
    p = p / p.sum(axis=1, keepdims=True)

    confident = cl_find(labels=codes, pred_probs=p, filter_by="prune_by_noise_rate", n_jobs=1)
    given = p[np.arange(len(p)), codes]
    other = p.copy()
    other[np.arange(len(p)), codes] = -1.0
    best_other = other.argmax(axis=1)
    best_other_p = other[np.arange(len(p)), best_other]
    agreement = (codes[neighbours] == codes[:, None]).mean(axis=1)
    model_disagrees = np.all([pr.argmax(axis=1) != codes for pr in probs[:-1]], axis=0)
    flagged = confident & model_disagrees & (agreement <= max_neighbour_agreement) & (given <= max_label_quality)

    new = slice(n_ref, None)
    return LabelIssues(
        classes=[str(c) for c in classes],
        quality=given[new].round(4),
        suggested=classes[best_other[new]].astype(object),
        suggested_probability=best_other_p[new].round(4),
        flagged=flagged[new],
        reference_flagged=flagged[:n_ref],
        models=[*models, "knn"],
        folds=folds,
    )


def compare_rates(
    flagged_new: np.ndarray,
    y_new: np.ndarray,
    flagged_ref: np.ndarray | None,
    y_ref: np.ndarray | None,
    *,
    max_excess: float,
    p_value: float,
) -> dict:
    """The flagged share of the new batch against the reference's, overall and per class.

    Fails when the new share exceeds the reference's by at least ``max_excess`` and a one-sided test
    says the new share is higher: Fisher's exact test of the two proportions (both are estimates), or
    without a reference a binomial test against zero errors; below ``p_value``, Bonferroni-corrected
    over the classes for the per-class tests."""
    from scipy.stats import binomtest, fisher_exact

    def one(flags_new, flags_ref, tests: int) -> dict:
        n, hits = len(flags_new), int(flags_new.sum())
        share = hits / n if n else 0.0
        if flags_ref is not None and len(flags_ref):
            m, ref_hits = len(flags_ref), int(flags_ref.sum())
            base = ref_hits / m
            p = fisher_exact([[hits, n - hits], [ref_hits, m - ref_hits]], alternative="greater").pvalue if n else 1.0
        else:
            base = None
            p = binomtest(hits, n, 1e-6, alternative="greater").pvalue if n else 1.0
        excess = share - (base or 0.0)
        return {
            "rows": n,
            "flagged": hits,
            "share": round(share, 4),
            "reference_share": None if base is None else round(base, 4),
            "excess": round(excess, 4),
            "p_value": float(f"{p:.3g}"),
            "failing": bool(excess >= max_excess and p < p_value / tests),
        }

    y_new = np.asarray(y_new).astype(str)
    y_ref = None if y_ref is None else np.asarray(y_ref).astype(str)
    overall = one(flagged_new, flagged_ref, 1)
    per_class = {}
    classes = sorted(set(y_new))
    for c in classes:
        mask_new = y_new == c
        ref_flags = None if y_ref is None or flagged_ref is None else flagged_ref[y_ref == c]
        per_class[c] = one(flagged_new[mask_new], ref_flags, len(classes))
    return {"overall": overall, "per_class": per_class}
