"""Benchmark: job transforms and co-occurrence language models.

1. Transform of N rows (default 1,000,000) of a classification csv (two text
   columns joined, label, metadata; empty labels, duplicates): ours
   (`transforms.jobs.transform`) against the same transform written plainly
   with pandas and scikit-learn's `train_test_split` (stratified), both
   writing Parquet and JSONL splits, a label map and label counts.
2. Co-occurrence model (window 5) on T tokens (default 10,000,000) with a
   50,000-word vocabulary: wall time and peak RSS.

Each contender runs in its own child process; peak RSS is that child's
ru_maxrss. Two times per contender: in-process (inside the child around the
work) and whole process (the child from start to exit, imports included).

    .venv/bin/python benches/bench_transforms.py            # full size (make bench)
    .venv/bin/python benches/bench_transforms.py --quick    # smoke run: 5,000 rows, 100,000 tokens
    BENCH_SCALE=0.1 .venv/bin/python benches/bench_transforms.py
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Services"))

QUICK = "--quick" in sys.argv[1:]
SCALE = 0.005 if QUICK else float(os.environ.get("BENCH_SCALE", "1"))
ROWS = int(1_000_000 * SCALE)
TOKENS = int(10_000_000 * SCALE)
VOCAB = 50_000
LABELS = ["environment", "social", "governance", "none", "other"]


def make_classification(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    words = np.array([f"word{i}" for i in range(5000)])
    body_words = words[rng.integers(0, len(words), size=(rows, 12))]
    body = [" ".join(r) for r in body_words]
    ids = np.arange(rows)
    dup = rng.random(rows) < 0.05  # 5% duplicates of an earlier row
    src = (ids * rng.random(rows)).astype(np.int64)
    title = np.char.add("Report ", ids.astype(str)).astype(object)
    title[dup] = np.char.add("Report ", src[dup].astype(str))
    body = np.array(body, dtype=object)
    body[dup] = body[src[dup]]
    label = np.array(LABELS, dtype=object)[rng.choice(5, size=rows, p=[0.4, 0.3, 0.2, 0.07, 0.03])]
    label[rng.random(rows) < 0.01] = None
    table = pa.table(
        {
            "doc_id": ids,
            "title": title.tolist(),
            "body": body.tolist(),
            "label": label.tolist(),
            "company": np.char.add("company", (ids % 997).astype(str)).tolist(),
        }
    )
    pacsv.write_csv(table, path)


def make_corpus(path: Path, tokens: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    words = np.array([f"w{i}x" for i in range(60_000)], dtype=object)  # more than the vocabulary cap
    p = 1.0 / np.arange(1, len(words) + 1) ** 1.05
    p /= p.sum()
    ids = rng.choice(len(words), size=tokens, p=p)
    doc_len = 50
    docs = [" ".join(words[ids[i : i + doc_len]]) for i in range(0, tokens, doc_len)]
    pq.write_table(pa.table({"text": docs}), path)


def run_ours(src: Path, work: Path) -> dict:
    from services_app.capabilities.transforms.jobs import transform
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    storage = Storage(data_root=work)
    shutil.copy(src, work / "source.csv")
    result = transform(
        JobContext(storage=storage),
        {
            "job_type": "classification",
            "source": "source.csv",
            "text_columns": ["title", "body"],
            "label_columns": ["label"],
            "stratify": True,
            "seed": 42,
            "deduplicate": True,
            "name": "ours",
        },
    )
    return {"rows": result["rows"]}


def run_pandas(src: Path, work: Path) -> dict:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(src)
    df["text"] = (
        df["title"].fillna("").astype(str).str.strip() + "\n" + df["body"].fillna("").astype(str).str.strip()
    ).str.strip()
    df["label"] = df["label"].fillna("").astype(str).str.strip()
    df = df[(df["text"] != "") & (df["label"] != "")]
    norm = df["text"].str.lower().str.replace(r"\s+", " ", regex=True).str.strip()
    df = df[~norm.duplicated()]
    labels = sorted(df["label"].unique())
    df["label_id"] = df["label"].map({lab: i for i, lab in enumerate(labels)})
    df = df.drop(columns=["title", "body"])
    train, rest = train_test_split(df, test_size=0.2, stratify=df["label"], random_state=42)
    val, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=42)
    out = work / "pandas"
    out.mkdir()
    rows = {}
    for name, part in (("train", train), ("validation", val), ("test", test)):
        part.to_parquet(out / f"{name}.parquet", index=False)
        part.to_json(out / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
        rows[name] = len(part)
        part["label"].value_counts().to_dict()
    (out / "label_map.json").write_text(json.dumps({"labels": labels}))
    return {"rows": rows}


def run_cooccurrence(src: Path, work: Path) -> dict:
    from services_app.capabilities.language_models.jobs import train
    from services_app.jobs.context import JobContext
    from services_app.storage import Storage

    storage = Storage(data_root=work)
    shutil.copy(src, work / "corpus.parquet")
    result = train(
        JobContext(storage=storage),
        {
            "source": "corpus.parquet",
            "kind": "cooccurrence",
            "window": 5,
            "min_count": 1,
            "max_vocab": VOCAB,
            "validation_fraction": 0.0,
            "name": "cooc",
        },
    )
    return {
        "vocab": result["vocab_size"],
        "tokens": result["train_tokens"],
        "pairs": result["details"]["nonzero_pairs"],
    }


CONTENDERS = {"ours": run_ours, "pandas+sklearn": run_pandas, "cooccurrence": run_cooccurrence}


def child(name: str, src: str) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"work-{name}-", dir=Path(src).parent))
    try:
        start = time.perf_counter()
        info = CONTENDERS[name](Path(src), work)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"name": name, "seconds": seconds, "peak_rss_mb": peak_mb, **info}))


def measure(name: str, src: Path) -> dict:
    m = benchlib.measure([sys.executable, __file__, "--child", name, str(src)])
    match = re.search(r"^RESULT (.*)$", m["output"], re.M)
    if m["rc"] != 0 or not match:
        raise SystemExit(f"{name} failed:\n{m['output'][-3000:]}")
    return {**json.loads(match.group(1)), "whole_s": m["wall_s"]}


def main() -> None:
    benchlib.parse_args(__doc__)
    with benchlib.workspace("transforms") as tmp:
        csv = tmp / "classification.csv"
        t = time.perf_counter()
        make_classification(csv, ROWS)
        print(f"generated {ROWS} rows ({csv.stat().st_size / 1e6:.0f} MB csv) in {time.perf_counter() - t:.1f}s")
        ours, plain = measure("ours", csv), measure("pandas+sklearn", csv)
        print(f"\nTransform of {ROWS:,} rows (classification, stratified, dedup, parquet + jsonl)")
        print(f"{'contender':<16}{'in-process s':>13}{'whole s':>9}{'peak RSS MB':>14}  rows per split")
        for r in (ours, plain):
            print(f"{r['name']:<16}{r['seconds']:>13.2f}{r['whole_s']:>9.2f}{r['peak_rss_mb']:>14.0f}  {r['rows']}")
        print(
            f"speed-up: {plain['seconds'] / ours['seconds']:.2f}x in-process (target >= 3x), "
            f"{plain['whole_s'] / ours['whole_s']:.2f}x whole process"
        )

        corpus = tmp / "corpus.parquet"
        t = time.perf_counter()
        make_corpus(corpus, TOKENS)
        print(f"\ngenerated {TOKENS:,} tokens in {time.perf_counter() - t:.1f}s")
        cooc = measure("cooccurrence", corpus)
        print(
            f"Co-occurrence (window 5, vocabulary cap {VOCAB:,}) on {cooc['tokens']:,} tokens: "
            f"{cooc['seconds']:.1f}s in-process ({cooc['whole_s']:.1f}s whole process), peak RSS {cooc['peak_rss_mb']:.0f} MB (target < 2048 MB), "
            f"vocabulary {cooc['vocab']:,}, non-zero pairs {cooc['pairs']:,}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
