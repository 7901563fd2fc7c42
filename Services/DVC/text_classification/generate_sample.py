"""Generate the shipped sample dataset `sample/esg_sample.csv` (seeded, so reruns give the same file).

Short ESG-style sentences in four classes (environmental, social, governance,
none). Each class has its own vocabulary, every sentence also carries shared
corporate filler, some sentences borrow a phrase from another class, and a
few labels are flipped on purpose: the signal is learnable, not trivial.
A handful of exact duplicates are kept so the transform's de-duplication has
something to do.

Run: python generate_sample.py [--rows 2400] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

COMPANIES = [
    "Nordwind AG",
    "Helios Foods",
    "Baltic Freight",
    "Acme Textiles",
    "Greenfield Bank",
    "Orion Chemicals",
    "Lumen Retail",
    "Kestrel Mining",
    "Atlas Insurance",
    "Vireo Pharma",
    "Polar Steel",
    "Cobalt Energy",
]
YEARS = ["2021", "2022", "2023", "2024"]

TOPICS = {
    "environmental": {
        "subjects": [
            "Scope 1 emissions",
            "Scope 3 emissions",
            "water withdrawal",
            "the carbon footprint",
            "hazardous waste",
            "energy consumption",
            "deforestation exposure",
            "methane leakage",
            "the share of renewable electricity",
            "packaging waste",
            "biodiversity impact",
            "air pollutants",
        ],
        "verbs_pos": ["fell by", "was cut by", "decreased by", "dropped by", "was reduced by"],
        "verbs_neg": ["rose by", "increased by", "grew by", "jumped by"],
        "extras": [
            "across all plants",
            "at the main refinery",
            "in line with the net zero target",
            "verified by a third party",
            "under the science based targets initiative",
            "after switching to solar power",
            "at the recycling sites",
            "in the supply chain",
        ],
    },
    "social": {
        "subjects": [
            "employee turnover",
            "the gender pay gap",
            "workplace injuries",
            "training hours per employee",
            "the share of women in management",
            "supplier audits on child labour",
            "community investment",
            "lost time injury frequency",
            "employee engagement",
            "living wage coverage",
            "health and safety incidents",
            "union representation",
        ],
        "verbs_pos": ["improved by", "went up by", "increased by", "rose by"],
        "verbs_neg": ["fell by", "declined by", "worsened by", "dropped by"],
        "extras": [
            "among warehouse staff",
            "in the factories abroad",
            "after the diversity programme",
            "according to the staff survey",
            "for contract workers",
            "in local communities",
            "following the human rights review",
            "at the distribution centres",
        ],
    },
    "governance": {
        "subjects": [
            "board independence",
            "executive remuneration",
            "the audit committee",
            "anti-corruption training",
            "shareholder voting rights",
            "the whistleblower programme",
            "related party transactions",
            "the tax transparency report",
            "board diversity",
            "the code of conduct",
            "internal controls",
            "lobbying disclosures",
        ],
        "verbs_pos": ["was strengthened by", "was reviewed by", "was approved by", "was disclosed by"],
        "verbs_neg": ["was criticised by", "was questioned by", "was challenged by", "was flagged by"],
        "extras": [
            "the annual general meeting",
            "independent directors",
            "the external auditor",
            "the supervisory board",
            "proxy advisers",
            "the remuneration committee",
            "minority shareholders",
            "the compliance officer",
        ],
    },
    "none": {
        "subjects": [
            "quarterly revenue",
            "the share price",
            "the product launch",
            "the new flagship store",
            "the marketing campaign",
            "operating margin",
            "the dividend",
            "online sales",
            "the new chief marketing officer",
            "customer satisfaction",
            "the order backlog",
            "the mobile app",
        ],
        "verbs_pos": ["grew by", "rose by", "beat expectations by", "improved by"],
        "verbs_neg": ["fell by", "missed expectations by", "declined by", "slipped by"],
        "extras": [
            "in the holiday quarter",
            "according to analysts",
            "in the European market",
            "after the price increase",
            "compared with last year",
            "in the press release",
            "during the investor call",
            "in Asia",
        ],
    },
}

FILLERS = [
    "{company} reported that {subject} {verb} {pct}% in {year} {extra}.",
    "In {year}, {subject} at {company} {verb} {pct}% {extra}.",
    "{company}: {subject} {verb} {pct}% {extra}, the {year} report says.",
    "The {year} update shows {subject} {verb} {pct}% {extra}.",
    "{subject} {verb} {pct} percent {extra}, {company} said.",
]
BORROWED = " It also mentioned {subject}."


def make_row(rng: random.Random, label: str) -> str:
    topic = TOPICS[label]
    verb = rng.choice(topic["verbs_pos"] if rng.random() < 0.6 else topic["verbs_neg"])
    extra = rng.choice(topic["extras"])
    if label == "governance":
        text = f"{rng.choice(topic['subjects'])} {verb} {extra} of {rng.choice(COMPANIES)} in {rng.choice(YEARS)}."
        text = text[0].upper() + text[1:]
    else:
        text = rng.choice(FILLERS).format(
            company=rng.choice(COMPANIES),
            subject=rng.choice(topic["subjects"]),
            verb=verb,
            pct=rng.randint(2, 45),
            year=rng.choice(YEARS),
            extra=extra,
        )
        text = text[0].upper() + text[1:]
    if rng.random() < 0.25:  # a phrase from another class blurs the boundary
        other = rng.choice([c for c in TOPICS if c != label])
        text += BORROWED.format(subject=rng.choice(TOPICS[other]["subjects"]))
    return text


def generate(rows: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    labels = list(TOPICS)
    weights = [0.3, 0.27, 0.23, 0.2]  # mildly imbalanced, like real annotation batches
    out = []
    for i in range(rows):
        label = rng.choices(labels, weights)[0]
        text = make_row(rng, label)
        if rng.random() < 0.04:  # annotation noise
            label = rng.choice([c for c in labels if c != label])
        out.append(
            {
                "id": f"s{i:05d}",
                "text": text,
                "label": label,
                "source": rng.choice(["annual_report", "news", "sustainability_report"]),
            }
        )
    for j in range(rows // 100):  # exact duplicates
        out.append(dict(out[rng.randrange(rows)], id=f"d{j:05d}"))
    rng.shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", default=str(Path(__file__).parent / "sample" / "esg_sample.csv"))
    args = parser.parse_args()
    rows = generate(args.rows, args.seed)
    with open(args.output, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "text", "label", "source"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows to {args.output}")


if __name__ == "__main__":
    main()
