"""The language models' one request model: router body, stored Job params, job input, command options."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...params import RequestModel

KIND = "language_models.train"


class LanguageModelRequest(RequestModel):
    """Train a co-occurrence (PPMI) or n-gram language model on a dataset."""

    source: str = Field(
        min_length=1,
        max_length=4096,
        description="A transformed dataset folder (train.parquet + validation.parquet) or a "
        "csv/parquet/jsonl file (split by hash, validation_fraction for validation), under the data root "
        "or in an allowed bucket (gs://bucket/prefix)",
        examples=["jobs/language_modeling/target/corpus-v1"],
    )
    text_column: str = Field("text", min_length=1, max_length=256)
    kind: Literal["cooccurrence", "ngram"] = "ngram"
    window: int = Field(5, ge=1, le=50, description="Co-occurrence: words on each side that count as context")
    weighting: Literal["harmonic", "uniform"] = Field(
        "harmonic", description="Co-occurrence: a pair at distance d counts 1/d (harmonic) or 1"
    )
    n: int = Field(3, ge=1, le=6, description="N-gram order")
    smoothing: Literal["kneser-ney", "add-k"] = "kneser-ney"
    add_k: float = Field(1.0, gt=0, description="The k of add-k smoothing")
    min_count: int = Field(2, ge=1, description="Words seen fewer times become <unk> (n-gram) or are skipped")
    max_vocab: int = Field(50_000, ge=10, le=2_000_000)
    validation_fraction: float = Field(0.1, ge=0, lt=1, description="Only for a single-file source")
    seed: int = 42
    name: str | None = Field(
        None, max_length=100, description="Folder name under jobs/language_modeling/models/ (default: job id)"
    )
    output: str | None = Field(
        None,
        max_length=4096,
        description="Model folder under the data root or in an allowed bucket (overrides name)",
        examples=["gs://my-bucket/models/corpus-ngram"],
    )
    force: bool = Field(False, description="Run again even if an identical job already succeeded")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "source": "jobs/language_modeling/target/corpus-v1",
                    "kind": "ngram",
                    "n": 3,
                    "smoothing": "kneser-ney",
                },
                {
                    "source": "jobs/language_modeling/target/corpus-v1",
                    "kind": "cooccurrence",
                    "window": 5,
                    "min_count": 5,
                },
            ]
        }
    }
