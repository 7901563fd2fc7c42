"""Stage `featurize`: fit the featurizer on the training texts, transform every split.

TF-IDF by default; `featurize.method: embeddings` uses the local sentence
embedding model (on a GPU when there is one: the stage the GPU workflow runs).
"""

from __future__ import annotations

import time

import joblib
from _common import FEATURES, params, read_split, write_json

from services_app.capabilities.pipelines.features import make_featurizer


def main() -> None:
    p = params("featurize")
    featurizer = make_featurizer(p)
    FEATURES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stats = {}
    for split in ("train", "validation", "test"):
        texts, labels = read_split(split)
        x = featurizer.fit_transform(texts) if split == "train" else featurizer.transform(texts)
        joblib.dump({"x": x, "y": labels}, FEATURES / f"{split}.joblib")
        stats[split] = len(texts)
    joblib.dump(featurizer, FEATURES / "featurizer.joblib")
    device = featurizer.resolved_device() if hasattr(featurizer, "resolved_device") else "cpu"
    write_json(
        FEATURES / "stats.json",
        {
            "method": p.get("method", "tfidf"),
            "rows": stats,
            "dimensions": featurizer.dimensions,
            "device": device,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    print(f"featurized {stats} with {p.get('method', 'tfidf')} on {device}")


if __name__ == "__main__":
    main()
