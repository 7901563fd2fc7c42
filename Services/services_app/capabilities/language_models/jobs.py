"""`train(ctx, params)`: train a co-occurrence or n-gram model on a dataset's train split,
evaluate it on the validation split, and save it under
``jobs/language_modeling/models/<name or job id>/`` (atomically, manifest last)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...errors import ServiceError
from ...jobs.context import JobContext
from ...storage import Storage, sha256_file
from ..transforms.locations import check_output, location_of, output_folder, source_for_validation
from .cooccurrence import CooccurrenceModel
from .ngram import NgramModel
from .text import TextSource

KINDS = ("cooccurrence", "ngram")
SMOOTHING = ("kneser-ney", "add-k")


@dataclass
class TrainParams:
    source: str
    kind: str = "ngram"
    text_column: str = "text"
    window: int = 5
    weighting: str = "harmonic"
    n: int = 3
    smoothing: str = "kneser-ney"
    add_k: float = 1.0
    min_count: int = 2
    max_vocab: int = 50_000
    validation_fraction: float = 0.1
    seed: int = 42
    name: str | None = None
    output: str | None = None

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> TrainParams:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ServiceError(
                f"unknown parameter(s) {', '.join(unknown)}", code="invalid_params", details={"known": sorted(known)}
            )
        if not params.get("source"):
            raise ServiceError("source is required", code="invalid_params")
        try:
            p = cls(**{k: v for k, v in params.items() if v is not None})
            p.window, p.n, p.min_count, p.max_vocab, p.seed = (
                int(p.window),
                int(p.n),
                int(p.min_count),
                int(p.max_vocab),
                int(p.seed),
            )
            p.add_k, p.validation_fraction = float(p.add_k), float(p.validation_fraction)
        except (TypeError, ValueError) as exc:
            raise ServiceError(f"invalid parameter: {exc}", code="invalid_params") from None
        checks = [
            (p.kind in KINDS, f"kind must be one of {', '.join(KINDS)}"),
            (p.smoothing in SMOOTHING, f"smoothing must be one of {', '.join(SMOOTHING)}"),
            (p.weighting in ("harmonic", "uniform"), "weighting must be harmonic or uniform"),
            (1 <= p.window <= 50, "window must be between 1 and 50"),
            (1 <= p.n <= 6, "n must be between 1 and 6"),
            (p.add_k > 0, "add_k must be above 0"),
            (p.min_count >= 1, "min_count must be at least 1"),
            (10 <= p.max_vocab <= 2_000_000, "max_vocab must be between 10 and 2,000,000"),
            (0 <= p.validation_fraction < 1, "validation_fraction must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ServiceError(message, code="invalid_params")
        return p


def open_source(storage: Storage, p: TrainParams, path: Path | None = None) -> TextSource:
    """The train/validation texts of the source; a gs:// source is read from a verified, cached local copy."""
    return TextSource(
        path or storage.local_copy(p.source),
        text_column=p.text_column,
        validation_fraction=p.validation_fraction,
        seed=p.seed,
    )


def validate_request(storage: Storage, params: dict) -> TrainParams:
    """Submit-time checks: params, source exists, text column exists (a large gs:// source: when the job starts)."""
    p = TrainParams.from_dict(params)
    path = source_for_validation(storage, p.source)
    if path is not None:
        open_source(storage, p, path)
    check_output(storage, p.output)
    return p


def default_output(p: TrainParams, job_id: str) -> str:
    name = p.name or (job_id if job_id != "local" else f"{Path(p.source.rstrip('/')).stem}-{p.kind}")
    return f"jobs/language_modeling/models/{name}"


def train(ctx: JobContext, params: dict) -> dict:
    started = time.monotonic()
    p = TrainParams.from_dict(params)
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
    with output_folder(storage, location) as tmp:
        names = model.save(tmp)
        files = [{"name": n, "bytes": (tmp / n).stat().st_size, "sha256": sha256_file(tmp / n)} for n in names]
        manifest = {
            "kind": "language_models.train",
            "model_kind": model.kind,
            "created_at": datetime.now(UTC).isoformat(),
            "job_id": ctx.job_id,
            "params": asdict(p),
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
