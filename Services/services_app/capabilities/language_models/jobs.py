"""`train(ctx, params)`: train a co-occurrence or n-gram model on a dataset's train split,
evaluate it on the validation split, and save it under
``jobs/language_modeling/models/<name or job id>/`` (atomically, manifest last)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from ...jobs.context import JobContext
from ...storage import Storage, check_output, location_of, sha256_file, source_for_validation
from .cooccurrence import CooccurrenceModel
from .ngram import NgramModel
from .request import LanguageModelRequest
from .text import TextSource


def open_source(storage: Storage, p: LanguageModelRequest, path: Path | None = None) -> TextSource:
    """The train/validation texts of the source; a gs:// source is read from a verified, cached local copy."""
    return TextSource(
        path or storage.local_copy(p.source),
        text_column=p.text_column,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
    )


def preflight(storage: Storage, p: LanguageModelRequest) -> None:
    """Submit-time checks: the source exists, its text column exists (a large gs:// source: when the job starts),
    the output may be written."""
    path = source_for_validation(storage, p.source)
    if path is not None:
        open_source(storage, p, path)
    check_output(storage, p.output)


def default_output(p: LanguageModelRequest, job_id: str) -> str:
    name = p.name or (job_id if job_id != "local" else f"{Path(p.source.rstrip('/')).stem}-{p.kind}")
    return f"jobs/language_modeling/models/{name}"


def train(ctx: JobContext, params: dict) -> dict:
    started = time.monotonic()
    p = LanguageModelRequest.from_params(params)
    storage = ctx.storage
    check_output(storage, p.output)
    ctx.progress(0.01, f"fetching {p.source}", force=True)
    source = open_source(storage, p)
    ctx.progress(0.02, "counting words", force=True)

    def progress(fraction: float, message: str) -> None:
        ctx.progress(0.1 + 0.7 * fraction, message)

    if p.kind == "cooccurrence":
        model = CooccurrenceModel.fit(
            source,
            window=p.window,
            min_count=p.min_count,
            max_vocab=p.max_vocab,
            weighting=p.weighting,
            progress=progress,
        )
    else:
        model = NgramModel.fit(
            source,
            n=p.n,
            smoothing=p.smoothing,
            add_k=p.add_k,
            min_count=p.min_count,
            max_vocab=p.max_vocab,
            progress=progress,
        )
    ctx.progress(0.85, "evaluating on the validation split")
    evaluation = model.evaluate(source)
    location = p.output or default_output(p, ctx.job_id)
    with storage.output(location, folder=True) as tmp:
        names = model.save(tmp)
        files = [{"name": n, "bytes": (tmp / n).stat().st_size, "sha256": sha256_file(tmp / n)} for n in names]
        manifest = {
            "kind": "language_models.train",
            "model_kind": model.kind,
            "created_at": datetime.now(UTC).isoformat(),
            "job_id": ctx.job_id,
            "params": p.job_params(),
            "model": model.meta,
            "evaluation": evaluation,
            "files": files,
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    output = location_of(storage, location)
    ctx.add_output(output)
    ctx.progress(1.0, "done")
    return {
        "model": output,
        "model_kind": model.kind,
        **evaluation,
        "vocab_size": model.meta["vocab_size"],
        "train_tokens": model.meta["train_tokens"],
        "details": model.meta,
        "seconds": round(time.monotonic() - started, 3),
    }
