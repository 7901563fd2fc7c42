"""Seeded text perturbations for the robustness test.

Each operation takes one text and a `random.Random` and returns the perturbed
text; `perturb` applies them to a list of texts, seeded per text, so the same
seed always gives the same perturbed test set regardless of order or size.
Written here rather than taken from a library (nlpaug, textattack) because
those pull in models from a hub or large dependency trees for what is a few
lines of string handling.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable

from ...errors import ServiceError

_KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_NEIGHBOURS: dict[str, str] = {}
for _row in _KEYBOARD_ROWS:
    for _i, _c in enumerate(_row):
        _NEIGHBOURS[_c] = _row[max(0, _i - 1) : _i] + _row[_i + 1 : _i + 2]


def typos(text: str, rng: random.Random, rate: float) -> str:
    """Swap, drop, double or mistype letters inside words (about `rate` of the words)."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) < 3 or rng.random() >= rate:
            continue
        j = rng.randrange(len(word) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        elif kind == 1:
            word = word[:j] + word[j + 1 :]
        elif kind == 2:
            word = word[: j + 1] + word[j] + word[j + 1 :]
        else:
            near = _NEIGHBOURS.get(word[j].lower())
            if near:
                word = word[:j] + rng.choice(near) + word[j + 1 :]
        words[i] = word
    return " ".join(words)


def casing(text: str, rng: random.Random, rate: float) -> str:
    """Whole text upper or lower case, or random words flipped in case."""
    choice = rng.random()
    if choice < 0.3:
        return text.lower()
    if choice < 0.5:
        return text.upper()
    return " ".join(w.swapcase() if rng.random() < rate else w for w in text.split(" "))


def punctuation(text: str, rng: random.Random, rate: float) -> str:
    """Remove punctuation, or sprinkle extra marks after words."""
    if rng.random() < 0.5:
        return text.translate(str.maketrans("", "", string.punctuation))
    out = []
    for w in text.split(" "):
        out.append(w + rng.choice(",;!?.") if rng.random() < rate else w)
    return " ".join(out)


def word_drop(text: str, rng: random.Random, rate: float) -> str:
    """Drop about `rate` of the words (never all of them)."""
    words = text.split(" ")
    kept = [w for w in words if rng.random() >= rate]
    return " ".join(kept or words[:1])


OPERATIONS: dict[str, Callable[[str, random.Random, float], str]] = {
    "typos": typos,
    "casing": casing,
    "punctuation": punctuation,
    "word_drop": word_drop,
}


def check_operations(ops: Iterable[str]) -> list[str]:
    ops = list(ops)
    unknown = [o for o in ops if o not in OPERATIONS]
    if unknown or not ops:
        raise ServiceError(
            f"unknown perturbation(s) {unknown}; choose from {sorted(OPERATIONS)}"
            if unknown
            else f"give at least one perturbation from {sorted(OPERATIONS)}",
            code="invalid_params",
        )
    return ops


def perturb(texts: Iterable[str], *, ops: Iterable[str], rate: float = 0.15, seed: int = 0) -> list[str]:
    """Apply every operation in `ops` (in order) to each text.

    Seeded per text position: text i always gets the same perturbation for a given seed."""
    ops = check_operations(ops)
    if not 0.0 <= rate <= 1.0:
        raise ServiceError(f"perturbation rate must be between 0 and 1, got {rate}", code="invalid_params")
    out = []
    for i, text in enumerate(texts):
        rng = random.Random(f"{seed}-{i}")
        t = str(text)
        for op in ops:
            t = OPERATIONS[op](t, rng, rate)
        out.append(t)
    return out
