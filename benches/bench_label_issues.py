"""Label-issue detection on planted flips: precision and recall at 5% and 10% noise, on an easy and a
hard task, tabular and text, against cleanlab's default (``find_label_issues`` with
``prune_by_noise_rate`` over 5-fold logistic regression on the new batch alone).

Tasks (labels flipped at random in the new batch only; the reference is clean):
- tabular easy: parcels whose delivery class follows from distance and service (datagen.parcel_batch);
- tabular hard: the same with a third of the labels random on both sides (overlapping classes);
- text easy: template sentences of three topics (datagen.text_batch), local MiniLM embeddings;
- text hard: real sentences labelled by the package they document, from ``../shared/data/text_topics.csv``
  (or BENCH_TEXT_TOPICS) when present (skipped otherwise), local MiniLM embeddings.

    .venv/bin/python benches/bench_label_issues.py           (BENCH_EMBEDDINGS_CACHE: a warm cache folder)
    .venv/bin/python benches/bench_label_issues.py --quick   # smoke run: 200 rows a side

All figures are in-process (the detection alone, around the call); no whole-process figure is taken.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import benchlib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))
sys.path.insert(0, str(ROOT / "Services/tests/checks"))
TOPICS = Path(os.environ.get("BENCH_TEXT_TOPICS") or ROOT.parent / "shared" / "data" / "text_topics.csv")
QUICK = "--quick" in sys.argv[1:]
N = 200 if QUICK else int(1500 * float(os.environ.get("BENCH_SCALE", "1")))
CACHE: str | None = None  # the embeddings cache: BENCH_EMBEDDINGS_CACHE, else a folder of the bench's workspace


def baseline(X_new: np.ndarray, y_new: np.ndarray) -> np.ndarray:
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classes, codes = np.unique(y_new, return_inverse=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    probs = cross_val_predict(LogisticRegression(max_iter=1000), X_new, codes, cv=cv, method="predict_proba")
    return find_label_issues(codes, probs, filter_by="prune_by_noise_rate")


def score(flagged: np.ndarray, truth: np.ndarray) -> str:
    hits = int((flagged & truth).sum())
    return f"flagged {int(flagged.sum()):4d}  precision {hits / max(1, flagged.sum()):.2f}  recall {hits / truth.sum():.2f}"


def measure(name: str, X_ref, y_ref, X_new, y_new_clean, *, tabular: bool) -> None:
    from datagen import flip_labels

    from services_app.capabilities.checks.features import reduce
    from services_app.capabilities.checks.label_issues import compare_rates, find_label_issues

    Xr, Xn = reduce([X_ref, X_new])
    for share in (0.05, 0.10):
        noisy, flipped = flip_labels(pd.DataFrame({"y": y_new_clean}), "y", share, seed=1)
        y_new = noisy["y"].to_numpy()
        truth = np.zeros(len(y_new), dtype=bool)
        truth[flipped] = True
        t = time.monotonic()
        ours = find_label_issues(Xr, y_ref, Xn, y_new, tabular=tabular, seed=0)
        seconds = time.monotonic() - t
        verdict = compare_rates(ours.flagged, y_new, ours.reference_flagged, y_ref, max_excess=0.02, p_value=0.001)
        top = truth[np.argsort(ours.quality)[: len(flipped)]].mean()
        print(
            f"{name:13s} {share:4.0%}  ours: {score(ours.flagged, truth)}  top-{len(flipped)} {top:.2f}"
            f"  (reference flagged {ours.reference_flagged.mean():.1%}, check fails: "
            f"{verdict['overall']['failing']}, {seconds:.1f} s)"
        )
        print(f"{'':19s}cleanlab default: {score(baseline(X_new, y_new), truth)}")
    clean = find_label_issues(Xr, y_ref, Xn, y_new_clean, tabular=tabular, seed=0)
    verdict = compare_rates(clean.flagged, y_new_clean, clean.reference_flagged, y_ref, max_excess=0.02, p_value=0.001)
    print(
        f"{name:13s}   0%  flagged {int(clean.flagged.sum())} (reference {clean.reference_flagged.mean():.1%}), "
        f"check fails: {verdict['overall']['failing'] or any(r['failing'] for r in verdict['per_class'].values())}"
    )


def tabular(hard: bool):
    from datagen import parcel_batch

    from services_app.capabilities.checks.features import tabular_matrices

    ref, new = parcel_batch(N, seed=1), parcel_batch(N, seed=2)
    if hard:
        rng = np.random.default_rng(5)
        for df in (ref, new):
            mask = rng.random(len(df)) < 1 / 3
            df.loc[mask, "delivery"] = rng.choice(sorted(df["delivery"].unique()), mask.sum())
    X_ref, X_new = tabular_matrices(
        [ref, new], numeric=["distance_km", "weight_kg", "price_eur"], categorical=["service"]
    )
    return X_ref, ref["delivery"].to_numpy(), X_new, new["delivery"].to_numpy()


def embed(texts: list[str]) -> np.ndarray:
    from services_app.embeddings import get_embedder

    return get_embedder(provider="local", cache_dir=CACHE).embed(texts)


def text(hard: bool):
    if hard:
        df = pd.read_csv(TOPICS).sample(min(6000, 4 * N), random_state=0).head(2 * N).reset_index(drop=True)
        texts, labels = df["text"].tolist(), df["topic"].to_numpy()
    else:
        from datagen import text_batch

        df = pd.concat([text_batch(N, 11), text_batch(N, 12)], ignore_index=True)
        texts, labels = df["text"].tolist(), df["label"].to_numpy()
    vectors = embed(texts)
    return vectors[:N], labels[:N], vectors[N:], labels[N:]


def main() -> None:
    global CACHE
    benchlib.parse_args(__doc__)
    with benchlib.workspace("label_issues") as work:
        CACHE = os.environ.get("BENCH_EMBEDDINGS_CACHE") or str(work / "embeddings")
        run()


def run() -> None:
    only = os.environ.get("BENCH_ONLY", "")  # e.g. "text hard"
    print(f"{N:,} reference rows, {N:,} new rows; labels flipped in the new batch only")
    if only in ("", "tabular"):
        measure("tabular easy", *tabular(False), tabular=True)
        measure("tabular hard", *tabular(True), tabular=True)
    if only in ("", "text", "text easy"):
        measure("text easy", *text(False), tabular=False)
    if only in ("", "text", "text hard"):
        if TOPICS.exists():
            measure("text hard", *text(True), tabular=False)
        else:
            print(f"text hard: skipped ({TOPICS} not present)")


if __name__ == "__main__":
    main()
