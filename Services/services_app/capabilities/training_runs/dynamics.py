"""Training dynamics: margins across epochs, the area under the margin, data error potential.

Margin of a sample at an epoch (Pleiss et al. 2020, "Identifying Mislabeled Data using the Area Under the
Margin Ranking", NeurIPS): the probability of its given label minus the largest probability of any other
label, in [-1, 1]. Negative: the model prefers another label. For multi-label, each label is a yes/no
question: the margin of label j is p_j - (1 - p_j) when the sample has it and (1 - p_j) - p_j when not; the
sample's margin is that of its worst label.

- ``aum``: the mean margin over the logged epochs (the area under the margin curve, per epoch);
- ``margin``: the final epoch's margin;
- ``dep`` (data error potential, in [0, 1]): ``(1 - (aum + margin) / 2) / 2``: 0 for a sample learnt at once
  and confidently, 0.5 where the model is torn, 1 where it always preferred another label. It mixes how the
  sample was learnt (AUM) with where the model ended (final margin), as the DEP of Galileo's dataquality
  does; the exact weights here are ours;
- ``band``: easy below ``easy_below``, hard from ``hard_from``, ambiguous between;
- ``forgotten``: how often a sample went from predicted right to wrong between consecutive epochs
  (forgetting events, Toneva et al. 2019, "An Empirical Study of Example Forgetting");
- ``on_boundary``: the top two probabilities of the final epoch are closer than ``boundary_margin`` (for
  multi-label: a label's probability is within ``boundary_margin / 2`` of 0.5).

Epochs are read one at a time from memory-mapped arrays: memory is a few arrays of ``rows x labels``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import ServiceError
from .bundle import SplitData

BLOCK = 65536


@dataclass
class Dynamics:
    aum: np.ndarray  # [n] float32
    margin: np.ndarray  # [n]
    dep: np.ndarray  # [n]
    band: np.ndarray  # [n] object: easy | ambiguous | hard
    forgotten: np.ndarray  # [n] int16
    mean_probs: np.ndarray  # [n, C] float32, averaged over epochs
    final_probs: np.ndarray  # [n, C] float32
    predicted: np.ndarray  # [n] int (single-label) or [n, C] bool (multi-label)
    correct: np.ndarray  # [n] bool
    on_boundary: np.ndarray  # [n] bool


def _read(probs: np.ndarray) -> np.ndarray:
    """A memory-mapped [n, C] array into memory, checked: finite and within [0, 1]."""
    out = np.empty(probs.shape, dtype=np.float32)
    for start in range(0, probs.shape[0], BLOCK):
        out[start : start + BLOCK] = probs[start : start + BLOCK]
    if not np.isfinite(out).all():
        raise ServiceError("probabilities contain NaN or infinity", code="invalid_run_bundle")
    if out.min(initial=0) < -1e-4 or out.max(initial=0) > 1 + 1e-4:
        raise ServiceError("probabilities lie outside [0, 1]", code="invalid_run_bundle")
    return out


def single_margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p(given label) - max p(other label), per row."""
    rows = np.arange(len(labels))
    given = probs[rows, labels]
    others = probs.copy()
    others[rows, labels] = -np.inf
    return (given - others.max(axis=1)).astype(np.float32)


def multi_margins(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """[n, C] per-label margins of a multi-label problem (labels: [n, C] bool)."""
    return np.where(labels, 2 * probs - 1, 1 - 2 * probs).astype(np.float32)


def _predicted(probs: np.ndarray, multi: bool) -> np.ndarray:
    return probs >= 0.5 if multi else probs.argmax(axis=1)


def _correct(pred: np.ndarray, labels: np.ndarray, multi: bool) -> np.ndarray:
    return (pred == labels).all(axis=1) if multi else pred == labels


def boundary(probs: np.ndarray, multi: bool, gap: float) -> np.ndarray:
    if multi:
        return (np.abs(probs - 0.5) < gap / 2).any(axis=1)
    top2 = np.partition(probs, -2, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) < gap


def compute(
    split: SplitData,
    labels: np.ndarray | None,
    *,
    multi: bool,
    easy_below: float,
    hard_from: float,
    boundary_margin: float,
    progress: Callable[[float], None] | None = None,
) -> Dynamics:
    """Signals of one split. ``labels``: [n] int or [n, C] bool; None for unlabelled inference data
    (then only predictions, probabilities and the boundary are filled; margins are NaN)."""
    n = split.rows
    aum_sum = np.zeros(n, dtype=np.float64)
    prob_sum = None
    forgotten = np.zeros(n, dtype=np.int16)
    previous_correct = None
    probs = None
    margin = np.full(n, np.nan, dtype=np.float32)
    for i, epoch in enumerate(split.epochs):
        probs = _read(split.probs(epoch))
        prob_sum = probs.astype(np.float64) if prob_sum is None else prob_sum + probs
        if labels is not None:
            margin = multi_margins(probs, labels).min(axis=1) if multi else single_margin(probs, labels)
            aum_sum += margin
            correct = _correct(_predicted(probs, multi), labels, multi)
            if previous_correct is not None:
                forgotten += (previous_correct & ~correct).astype(np.int16)
            previous_correct = correct
        if progress:
            progress((i + 1) / len(split.epochs))
    epochs = len(split.epochs)
    mean_probs = (prob_sum / epochs).astype(np.float32)
    predicted = _predicted(probs, multi)
    if labels is None:
        nan = np.full(n, np.nan, dtype=np.float32)
        return Dynamics(
            aum=nan,
            margin=nan,
            dep=nan,
            band=np.full(n, None, dtype=object),
            forgotten=forgotten,
            mean_probs=mean_probs,
            final_probs=probs,
            predicted=predicted,
            correct=np.zeros(n, dtype=bool),
            on_boundary=boundary(probs, multi, boundary_margin),
        )
    aum = (aum_sum / epochs).astype(np.float32)
    dep = np.clip((1 - (aum + margin) / 2) / 2, 0, 1).astype(np.float32)
    band = np.where(dep < easy_below, "easy", np.where(dep >= hard_from, "hard", "ambiguous")).astype(object)
    return Dynamics(
        aum=aum,
        margin=margin,
        dep=dep,
        band=band,
        forgotten=forgotten,
        mean_probs=mean_probs,
        final_probs=probs,
        predicted=predicted,
        correct=previous_correct,
        on_boundary=boundary(probs, multi, boundary_margin),
    )
