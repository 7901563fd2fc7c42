"""Likely mislabelled samples: confident learning and training dynamics must agree.

1. Confident learning (Northcutt, Jiang and Chuang 2021, "Confident Learning: Estimating Uncertainty in
   Dataset Labels", JAIR; cleanlab 2.9.0 ``find_label_issues(filter_by="prune_by_noise_rate")``, and
   ``cleanlab.multilabel_classification`` for multi-label) on the probabilities averaged over the logged
   epochs. A network's last-epoch probabilities on its own training data are over-confident (it has
   memorised part of the noise); the average over epochs is an ensemble of checkpoints that still carries
   the early epochs, when flipped labels were not yet learnt. With one epoch it is the last epoch.
2. The training-dynamics signal: the area under the margin is below ``aum_below`` (0 by default: across the
   run, the model preferred another label on average; Pleiss et al. 2020).

A sample is likely mislabelled when both hold. Its suggested label is the most probable other label (the
labels whose average probability is at least 0.5, for multi-label). ``label_quality`` is cleanlab's
self-confidence score (the average probability of the given label; lower is worse).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Mislabel:
    flagged: np.ndarray  # [n] bool: likely mislabelled
    confident_learning: np.ndarray  # [n] bool: cleanlab's flag alone
    suggested: np.ndarray  # [n] int (-1: none) or object of list[int] for multi-label
    label_quality: np.ndarray  # [n] float32
    note: str | None = None  # why confident learning could not run, if it could not


def _label_lists(labels: np.ndarray) -> list[list[int]]:
    return [list(np.flatnonzero(row)) for row in labels]


def find(labels: np.ndarray, mean_probs: np.ndarray, aum: np.ndarray, *, multi: bool, aum_below: float) -> Mislabel:
    """``labels``: [n] int or [n, C] bool; ``mean_probs``: [n, C] epoch-averaged probabilities."""
    n = len(labels)
    note = None
    probs = np.clip(mean_probs.astype(np.float64), 1e-9, 1.0)
    cl = np.zeros(n, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if multi:
                from cleanlab.multilabel_classification.filter import find_label_issues
                from cleanlab.multilabel_classification.rank import get_label_quality_scores

                lists = _label_lists(labels)
                cl = find_label_issues(lists, probs, filter_by="prune_by_noise_rate", n_jobs=1)
                quality = get_label_quality_scores(lists, probs)
            else:
                from cleanlab.filter import find_label_issues
                from cleanlab.rank import get_label_quality_scores

                probs = probs / probs.sum(axis=1, keepdims=True)
                cl = find_label_issues(labels, probs, filter_by="prune_by_noise_rate", n_jobs=1)
                quality = get_label_quality_scores(labels, probs, method="self_confidence")
        except (ValueError, AssertionError, IndexError, TypeError) as exc:
            # e.g. a label with no samples, or too few samples per label to estimate noise rates
            note = f"confident learning could not run ({type(exc).__name__}: {exc}); training dynamics alone"
            cl = np.ones(n, dtype=bool)
            quality = (
                np.where(labels, mean_probs, 1 - mean_probs).min(axis=1) if multi else mean_probs[np.arange(n), labels]
            )
    flagged = np.asarray(cl, dtype=bool) & (aum < aum_below)
    if multi:
        suggested = np.empty(n, dtype=object)
        for i in np.flatnonzero(flagged):
            suggested[i] = [int(j) for j in np.flatnonzero(mean_probs[i] >= 0.5)]
    else:
        others = mean_probs.copy()
        others[np.arange(n), labels] = -np.inf
        suggested = np.where(flagged, others.argmax(axis=1), -1)
    return Mislabel(
        flagged=flagged,
        confident_learning=np.asarray(cl, dtype=bool) if note is None else np.zeros(n, dtype=bool),
        suggested=suggested,
        label_quality=np.asarray(quality, dtype=np.float32),
        note=note,
    )
