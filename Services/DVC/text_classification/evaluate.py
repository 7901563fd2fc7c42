"""Stage `evaluate`: accuracy, macro F1, a per-class report and a confusion matrix (CSV for `dvc plots`, PNG for the report)."""

from __future__ import annotations

import csv

import joblib
from _common import FEATURES, METRICS, MODELS, write_json
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


def scores(model, split: str) -> tuple[dict, list[str], list[str]]:
    data = joblib.load(FEATURES / f"{split}.joblib")
    predicted = [str(p) for p in model.predict(data["x"])]
    actual = data["y"]
    return (
        {
            "accuracy": round(float(accuracy_score(actual, predicted)), 4),
            "macro_f1": round(float(f1_score(actual, predicted, average="macro")), 4),
            "weighted_f1": round(float(f1_score(actual, predicted, average="weighted")), 4),
            "rows": len(actual),
        },
        actual,
        predicted,
    )


def plot_confusion(labels: list[str], matrix, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    peak = matrix.max() or 1
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j, i, int(matrix[i, j]), ha="center", va="center", color="white" if matrix[i, j] > peak / 2 else "black"
            )
    ax.set_title("Confusion matrix (test)")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: same model, same bytes
    plt.close(fig)


def main() -> None:
    model = joblib.load(MODELS / "model.joblib")
    test, actual, predicted = scores(model, "test")
    validation, _, _ = scores(model, "validation")
    labels = sorted(set(actual) | set(predicted))
    report = classification_report(actual, predicted, labels=labels, output_dict=True, zero_division=0)
    per_class = {
        label: {k: round(float(report[label][k]), 4) for k in ("precision", "recall", "f1-score")}
        | {"support": int(report[label]["support"])}
        for label in labels
    }
    write_json(METRICS / "evaluate.json", {**test, "validation": validation, "per_class": per_class})
    with open(METRICS / "confusion.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", "predicted"])
        w.writerows(zip(actual, predicted, strict=True))
    plot_confusion(labels, confusion_matrix(actual, predicted, labels=labels), METRICS / "confusion_matrix.png")
    print(f"test accuracy {test['accuracy']}, macro F1 {test['macro_f1']}")


if __name__ == "__main__":
    main()
