"""Stage `train`: a scikit-learn classifier on the training features."""

from __future__ import annotations

import joblib
from _common import FEATURES, MODELS, params
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC


def main() -> None:
    p = params("train")
    data = joblib.load(FEATURES / "train.joblib")
    model_name = p.get("model", "logistic_regression")
    if model_name == "logistic_regression":
        model = LogisticRegression(
            C=float(p.get("C", 1.0)),
            max_iter=int(p.get("max_iter", 1000)),
            class_weight=p.get("class_weight"),
            random_state=int(p.get("seed", 0)),
        )
    elif model_name == "linear_svc":
        model = LinearSVC(
            C=float(p.get("C", 1.0)), class_weight=p.get("class_weight"), random_state=int(p.get("seed", 0))
        )
    else:
        raise SystemExit(f"train.model must be logistic_regression or linear_svc, got {model_name!r}")
    model.fit(data["x"], data["y"])
    MODELS.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODELS / "model.joblib")
    print(f"trained {model_name} on {len(data['y'])} rows")


if __name__ == "__main__":
    main()
