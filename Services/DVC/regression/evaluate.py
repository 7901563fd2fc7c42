"""Stage `evaluate`: R², RMSE and MAE of every model on the test set, compared side by side."""

from __future__ import annotations

import csv

import joblib
import numpy as np
import pandas as pd
from _common import DATA, METRICS, MODELS, params, write_json
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


def main() -> None:
    test = pd.read_csv(DATA / "test.csv")
    x, y = test.drop(columns="target"), test["target"].to_numpy()
    metrics: dict = {}
    predictions = {}
    for name in params("models"):
        model = joblib.load(MODELS / f"{name}.joblib")
        pred = model.predict(x)
        predictions[name] = pred
        metrics[name] = {
            "r2": round(float(r2_score(y, pred)), 4),
            "rmse": round(float(np.sqrt(mean_squared_error(y, pred))), 4),
            "mae": round(float(mean_absolute_error(y, pred)), 4),
            "nonzero_coefficients": int(np.count_nonzero(np.abs(model.coef_) > 1e-9)),
        }
    best = max(metrics, key=lambda n: metrics[n]["r2"])
    names = sorted(metrics)
    write_json(
        METRICS / "regression.json",
        {**metrics, "best_model": best, "r2_gap": round(abs(metrics[names[0]]["r2"] - metrics[names[-1]]["r2"]), 4)},
    )
    with open(METRICS / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["actual", *[f"{n}" for n in names]])
        for i in range(len(y)):
            w.writerow([round(float(y[i]), 4), *[round(float(predictions[n][i]), 4) for n in names]])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    for n in names:
        ax.scatter(y, predictions[n], s=8, alpha=0.5, label=f"{n} (R² {metrics[n]['r2']})")
    lo, hi = float(y.min()), float(y.max())
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
    ax.set_xlabel("actual")
    ax.set_ylabel("predicted")
    ax.legend()
    ax.set_title("Predicted vs actual (test)")
    fig.tight_layout()
    fig.savefig(METRICS / "predicted_vs_actual.png", metadata={"Software": None})
    plt.close(fig)
    print({n: metrics[n]["r2"] for n in names}, "best:", best)


if __name__ == "__main__":
    main()
