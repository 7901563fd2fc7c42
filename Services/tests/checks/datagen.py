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


# --- a task a model can learn: parcels with a four-class delivery label -----------------------------

SERVICES = ["economy", "standard", "express"]
DELIVERY = ["same_day", "next_day", "two_days", "week"]


def parcel_batch(n: int, seed: int, *, start: str = "2024-01-01", days: int = 180) -> pd.DataFrame:
    """Parcels whose delivery class follows from distance and service (about 90% learnable), with a
    shipping date (ISO text), a skewed price and a weight."""
    rng = np.random.default_rng(seed)
    distance = rng.gamma(2.0, 150.0, n).round(1)
    service = rng.choice(SERVICES, n, p=[0.3, 0.5, 0.2])
    speed = np.select([service == "express", service == "standard"], [3.0, 1.0], 0.4)
    # Express over a short distance arrives the same day; economy over a long one within the week.
    score = np.log1p(distance) - np.log(speed) + rng.normal(0, 0.25, n)
    delivery = np.select([score < 4.3, score < 5.6, score < 6.6], DELIVERY[:3], DELIVERY[3])
    weight = rng.lognormal(1.0, 0.6, n).round(2)
    shipped = pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, n), unit="D")
    return pd.DataFrame(
        {
            "distance_km": distance,
            "service": service,
            "weight_kg": weight,
            "price_eur": (4 + 0.02 * distance * rng.lognormal(0, 0.5, n)).round(2),
            "shipped": shipped.strftime("%Y-%m-%d"),
            "delivery": delivery,
        }
    )


def flip_labels(df: pd.DataFrame, label: str, share: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A copy with ``share`` of the labels changed to another class at random; and the changed positions."""
    rng = np.random.default_rng(seed)
    out = df.copy()
    classes = sorted(out[label].astype(str).unique())
    picked = rng.choice(len(out), int(round(share * len(out))), replace=False)
    for i in picked:
        current = out[label].iat[i]
        out.iloc[i, out.columns.get_loc(label)] = rng.choice([c for c in classes if c != current])
    return out, np.sort(picked)


GERMAN = [
    "Das Unternehmen {company} hat seine Emissionen im Werk {site} um {n} Prozent gesenkt.",
    "Die Mitarbeiter von {company} in {site} erhalten ab sofort {n} Tage mehr Urlaub.",
    "Der Vorstand von {company} hat {n} neue unabhängige Mitglieder berufen.",
    "In {site} hat {company} eine neue Anlage zur Wiederverwertung von Abfall eröffnet.",
    "Die Aktionäre von {company} stimmten in {site} über die Vergütung der Geschäftsführung ab.",
]


GERMAN_BY_TOPIC = {"environment": [0, 3], "social": [1], "governance": [2, 4]}


def german_texts(n: int, seed: int, labels: list[str] | None = None) -> list[str]:
    """German sentences; with ``labels``, each of its topic (so a label stays consistent with its text)."""
    rng = np.random.default_rng(seed)
    picks = [
        GERMAN[int(rng.choice(GERMAN_BY_TOPIC[label]))]
        if labels is not None
        else GERMAN[int(rng.integers(len(GERMAN)))]
        for label in (labels if labels is not None else [None] * n)
    ]
    return [_sentence(rng, template) for template in picks]


OFF_TOPIC_BY_LABEL = {"environment": [0, 1], "social": [2, 3], "governance": [4]}


def off_topic_texts(n: int, seed: int, labels: list[str] | None = None) -> list[str]:
    """Off-topic sentences; with ``labels``, each label gets its own templates (near copies share a label)."""
    rng = np.random.default_rng(seed)
    if labels is None:
        return [_sentence(rng, OFF_TOPIC[int(rng.integers(len(OFF_TOPIC)))]) for _ in range(n)]
    return [_sentence(rng, OFF_TOPIC[int(rng.choice(OFF_TOPIC_BY_LABEL[label]))]) for label in labels]
