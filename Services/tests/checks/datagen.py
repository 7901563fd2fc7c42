"""Seeded synthetic batches for the checks tests and benchmark: a reference and
a new batch from one distribution, and helpers that plant one problem each."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west"]
CHANNELS = ["web", "store", "phone"]
LABELS = ["low", "medium", "high"]


def tabular_batch(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n).round(2),
            "income": rng.lognormal(10, 0.4, n).round(2),
            "score": rng.uniform(0, 1, n).round(4),
            "region": rng.choice(REGIONS, n),
            "channel": rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.2]),
            "risk": rng.choice(LABELS, n, p=[0.5, 0.3, 0.2]),
        }
    )


TOPICS = {
    "environment": [
        "The {company} plant cut its {gas} emissions by {n} percent {when}.",
        "{company} installed {n} new solar panels at its {site} site {when}.",
        "Water use at the {site} facility of {company} fell sharply {when}.",
        "{company} committed to net zero {gas} emissions across its {site} operations.",
        "A new recycling scheme at {company} diverted {n} tonnes of waste from landfill {when}.",
    ],
    "social": [
        "{company} raised wages for {n} workers at its {site} warehouse {when}.",
        "Employee satisfaction at {company} improved after the {site} training programme {when}.",
        "{company} opened a community health clinic near its {site} site {when}.",
        "The {site} team of {company} reported {n} safety incidents {when}.",
        "{company} expanded parental leave for staff in the {site} office {when}.",
    ],
    "governance": [
        "The board of {company} appointed {n} independent directors {when}.",
        "{company} published its anti-corruption policy for the {site} division {when}.",
        "Shareholders of {company} voted on executive pay at the {site} meeting {when}.",
        "An external audit of {company} reviewed controls in the {site} unit {when}.",
        "{company} separated the chair and chief executive roles {when}.",
    ],
}
OFF_TOPIC = [
    "The home team scored {n} goals in the {site} derby {when}.",
    "{company} chefs add {n} grams of butter to the {site} sauce {when}.",
    "The striker from {company} FC signed a {n} month contract {when}.",
    "Bake the {site} sourdough of {company} for {n} minutes {when}.",
    "{n} thousand fans celebrated the cup final in the {site} stadium {when}.",
]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell"]
GASES = ["carbon", "methane", "CO2", "greenhouse gas"]
SITES = ["Lyon", "Austin", "Osaka", "Leeds", "Porto", "Dallas", "Turin", "Bergen", "Quito", "Perth"]
WHENS = ["last year", "in 2023", "this quarter", "since March", "over five years", "in the first half"]


def _sentence(rng: np.random.Generator, template: str) -> str:
    return template.format(
        company=rng.choice(COMPANIES),
        gas=rng.choice(GASES),
        site=rng.choice(SITES),
        n=int(rng.integers(2, 90)),
        when=rng.choice(WHENS),
    )


def text_batch(n: int, seed: int, *, off_topic: bool = False, label_p=(0.45, 0.35, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = rng.choice(list(TOPICS), n, p=list(label_p))
    texts = []
    for label in labels:
        # Off-topic texts still differ by label, so they shift meaning without conflicting labels.
        pool = [t + f" ({label})" for t in OFF_TOPIC] if off_topic else TOPICS[label]
        k = int(rng.integers(1, 3))
        texts.append(" ".join(_sentence(rng, pool[int(rng.integers(len(pool)))]) for _ in range(k)))
    return pd.DataFrame({"text": texts, "label": labels, "source": rng.choice(["web", "pdf"], n)})
