"""A small, well separated text classification task with planted label flips, trained on the CPU.

Texts are built from a vocabulary per topic; their embeddings are Gaussian clusters around one random unit
direction per topic (384 dimensions, like all-MiniLM-L6-v2), so the task is well separated and the test is
deterministic and fast. A model (scikit-learn's SGDClassifier, logistic loss, ``partial_fit`` per batch of 64)
trains for a few epochs on the noisy labels, and the training loop logs through the client exactly as a
notebook would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOPICS = {
    "finance": "bank loan interest credit market stock bond investor dividend equity portfolio".split(),
    "sports": "match goal team player coach league season referee stadium tournament score".split(),
    "weather": "rain storm wind forecast cloud temperature snow humidity sunny thunder frost".split(),
    "health": "doctor patient hospital vaccine symptom therapy nurse clinic diagnosis medicine".split(),
}
NEW_TOPIC = "recipe oven flour butter sugar bake dough pastry whisk kitchen dessert".split()
DIM = 384


@dataclass
class Task:
    labels: list[str]
    ids: np.ndarray
    texts: list[str]
    true: np.ndarray  # true label index
    given: np.ndarray  # label after the planted flips
    flipped: np.ndarray  # bool
    x: np.ndarray  # [n, DIM] float32 embeddings
    source: list[str]  # a metadata column


def _texts(rng, words: list[str], n: int) -> list[str]:
    return [" ".join(rng.choice(words, size=8)) for _ in range(n)]


def directions(seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.normal(size=(len(TOPICS) + 1, DIM))
    return (d / np.linalg.norm(d, axis=1, keepdims=True)).astype(np.float32)


def make_task(
    n_per_class: int = 250, flip: float = 0.1, *, seed: int = 0, id_start: int = 0, noise: float = 0.045
) -> Task:
    rng = np.random.default_rng(seed)
    dirs = directions()
    labels = list(TOPICS)
    true = np.repeat(np.arange(len(labels)), n_per_class)
    rng.shuffle(true)
    n = len(true)
    x = (dirs[true] + rng.normal(scale=noise, size=(n, DIM))).astype(np.float32)
    texts = []
    for t in true:
        texts.extend(_texts(rng, TOPICS[labels[t]], 1))
    given = true.copy()
    flipped = np.zeros(n, dtype=bool)
    chosen = rng.choice(n, size=int(round(flip * n)), replace=False)
    for i in chosen:
        given[i] = rng.choice([c for c in range(len(labels)) if c != true[i]])
        flipped[i] = True
    source = list(rng.choice(["web", "report"], size=n))
    return Task(labels, np.arange(id_start, id_start + n), texts, true, given, flipped, x, source)


def make_new_topic(n: int = 200, *, seed: int = 1, id_start: int = 100_000, noise: float = 0.045) -> Task:
    rng = np.random.default_rng(seed)
    dirs = directions()
    x = (dirs[-1] + rng.normal(scale=noise, size=(n, DIM))).astype(np.float32)
    true = np.full(n, -1)
    return Task(
        list(TOPICS),
        np.arange(id_start, id_start + n),
        _texts(rng, NEW_TOPIC, n),
        true,
        true,
        np.zeros(n, bool),
        x,
        ["web"] * n,
    )


def frame(task: Task, *, with_labels: bool = True):
    import pandas as pd

    data = {"id": task.ids, "text": task.texts, "source": task.source}
    if with_labels:
        data["label"] = [task.labels[i] for i in task.given]
    return pd.DataFrame(data)


def train_and_log(run, train: Task, *, epochs: int = 5, batch: int = 64, seed: int = 0, others=()):
    """SGDClassifier.partial_fit on the noisy labels; log every batch of every epoch, then the other splits
    ``[(split, task, inference_name)]`` once per epoch with the model of that epoch. Returns the model."""
    from sklearn.linear_model import SGDClassifier

    rng = np.random.default_rng(seed)
    model = SGDClassifier(loss="log_loss", alpha=1e-3, learning_rate="constant", eta0=0.05, random_state=seed)
    classes = np.arange(len(train.labels))
    for epoch in range(epochs):
        order = rng.permutation(len(train.ids))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            # the forward pass (what the model thinks before this step), then the update
            fitted = hasattr(model, "coef_")
            probs = model.predict_proba(train.x[idx]) if fitted else np.full((len(idx), len(classes)), 1 / len(classes))
            run.log_model_outputs(
                ids=train.ids[idx], embeddings=train.x[idx], probs=probs, split="training", epoch=epoch
            )
            model.partial_fit(train.x[idx], train.given[idx], classes=classes)
        for split, task, name in others:
            for start in range(0, len(task.ids), batch):
                sl = slice(start, start + batch)
                run.log_model_outputs(
                    ids=task.ids[sl],
                    embeddings=task.x[sl],
                    probs=model.predict_proba(task.x[sl]),
                    split=split,
                    epoch=epoch,
                    inference_name=name,
                )
    return model
