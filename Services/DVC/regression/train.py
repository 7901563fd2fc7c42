"""Stage `train@<model>`: fit one model (LinearRegression or Lasso) on the training data."""

from __future__ import annotations

import argparse

import joblib
import pandas as pd
from _common import DATA, MODELS, params
from sklearn.linear_model import Lasso, LinearRegression


def build(name: str, p: dict):
    if name == "linear":
        return LinearRegression(fit_intercept=bool(p.get("fit_intercept", True)))
    if name == "lasso":
        return Lasso(alpha=float(p["alpha"]), max_iter=int(p.get("max_iter", 10000)), random_state=0)
    raise SystemExit(f"unknown model {name!r}: models are linear and lasso")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    name = parser.parse_args().model
    train = pd.read_csv(DATA / "train.csv")
    model = build(name, params("models")[name])
    model.fit(train.drop(columns="target"), train["target"])
    MODELS.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODELS / f"{name}.joblib")
    print(f"trained {name}")


if __name__ == "__main__":
    main()
