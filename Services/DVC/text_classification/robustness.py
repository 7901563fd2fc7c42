"""Stage `robustness`: perturb the test texts (typos, casing, punctuation, word drops; seeded) and report the accuracy drop."""

from __future__ import annotations

import csv

import joblib
from _common import FEATURES, METRICS, MODELS, params, read_split, write_json
from sklearn.metrics import accuracy_score

from services_app.capabilities.pipelines.robustness import perturb


def main() -> None:
    p = params("robustness")
    ops = list(p.get("operations", ["typos", "casing", "punctuation", "word_drop"]))
    rate, seed = float(p.get("rate", 0.15)), int(p.get("seed", 0))
    featurizer = joblib.load(FEATURES / "featurizer.joblib")
    model = joblib.load(MODELS / "model.joblib")
    texts, labels = read_split("test")

    def accuracy(batch: list[str]) -> float:
        return round(float(accuracy_score(labels, [str(x) for x in model.predict(featurizer.transform(batch))])), 4)

    clean = accuracy(texts)
    per_op = {}
    for op in ops:
        acc = accuracy(perturb(texts, ops=[op], rate=rate, seed=seed))
        per_op[op] = {"accuracy": acc, "drop": round(clean - acc, 4)}
    combined_texts = perturb(texts, ops=ops, rate=rate, seed=seed)
    combined = accuracy(combined_texts)
    write_json(
        METRICS / "robustness.json",
        {
            "clean_accuracy": clean,
            "perturbed_accuracy": combined,
            "accuracy_drop": round(clean - combined, 4),
            "worst_single_drop": max((v["drop"] for v in per_op.values()), default=0.0),
            "operations": per_op,
        },
    )
    with open(METRICS / "robustness_examples.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["original", "perturbed"])
        w.writerows(list(zip(texts, combined_texts, strict=True))[:10])
    print(f"clean accuracy {clean}, perturbed {combined}, drop {clean - combined:.4f}")


if __name__ == "__main__":
    main()
