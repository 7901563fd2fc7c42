"""Stage `generate`: a seeded regression dataset with a few informative features among many.

Sparse true coefficients plus noise features, so Lasso (which can zero out
coefficients) and plain least squares have something to disagree about.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from _common import DATA, params
from sklearn.model_selection import train_test_split


def main() -> None:
    p = params("data")
    rng = np.random.default_rng(int(p["seed"]))
    n, k, informative = int(p["rows"]), int(p["features"]), int(p["informative"])
    x = rng.normal(size=(n, k))
    coef = np.zeros(k)
    coef[:informative] = rng.uniform(1.0, 5.0, size=informative) * rng.choice([-1, 1], size=informative)
    y = x @ coef + rng.normal(scale=float(p["noise"]), size=n)
    frame = pd.DataFrame(x, columns=[f"x{i:02d}" for i in range(k)])
    frame["target"] = y
    train, test = train_test_split(frame, test_size=float(p["test_size"]), random_state=int(p["seed"]))
    DATA.mkdir(parents=True, exist_ok=True)
    train.to_csv(DATA / "train.csv", index=False)
    test.to_csv(DATA / "test.csv", index=False)
    print(f"{len(train)} train and {len(test)} test rows, {k} features ({informative} informative)")


if __name__ == "__main__":
    main()
