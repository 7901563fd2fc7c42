"""The request models of a training run: what the client declares when it creates a run, and the
options of the processing job. The router, the job and the tests use these same models."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ...params import RequestModel

TASK_TYPES = ("text_classification", "text_multi_label")
SPLIT_RE = re.compile(r"^(training|validation|test|inference(_[a-z0-9][a-z0-9_]{0,39})?)$")
FILE_RE = re.compile(
    r"^(manifest\.json|(?P<split>[a-z0-9_]+)\.(inputs\.arrow|e(?P<epoch>\d{1,4})\.(probs|embeddings)\.npy))$"
)
MAX_FILE_BYTES = 64 * 1024**3


class SignalOptions(RequestModel):
    """Thresholds of the signals; the defaults are documented in docs/training_runs.md."""

    easy_below: float = Field(0.25, gt=0, lt=1, description="Data error potential below this: easy")
    hard_from: float = Field(0.5, gt=0, lt=1, description="Data error potential from this up: hard")
    boundary_margin: float = Field(0.1, gt=0, lt=1, description="Top-two probability gap below this: on the boundary")
    aum_below: float = Field(
        0.0, ge=-1, le=1, description="Likely mislabelled needs an area under the margin below this"
    )
    k: int = Field(10, ge=1, le=100, description="Coverage: the k-th nearest training neighbour")
    coverage_percentile: float = Field(
        95.0, gt=50, lt=100, description="Coverage: beyond this percentile of the training split's own distances"
    )
    coverage_reference_sample: int = Field(
        5000, ge=100, le=100_000, description="Training samples used to estimate that percentile"
    )
    drift_share: float = Field(
        0.15, gt=0, lt=1, description="A split is drifted when more than this share is out of coverage"
    )
    clusters: int | None = Field(None, ge=2, le=200, description="Number of clusters (default: from the size)")
    top_words: int = Field(8, ge=1, le=50)
    max_slice_values: int = Field(50, ge=2, le=1000, description="Metadata columns with more values are not sliced")
    seed: int = 0

    @model_validator(mode="after")
    def _bands(self) -> SignalOptions:
        if self.easy_below >= self.hard_from:
            raise ValueError("easy_below must be below hard_from")
        return self


class RunFile(RequestModel):
    name: str = Field(description="manifest.json, <split>.inputs.arrow or <split>.e<epoch>.(probs|embeddings).npy")
    size: int = Field(ge=0, le=MAX_FILE_BYTES, description="Bytes")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        m = FILE_RE.match(value)
        if not m or (m.group("split") and not SPLIT_RE.match(m.group("split"))):
            raise ValueError(
                "file names are manifest.json, <split>.inputs.arrow or <split>.e<epoch>.probs.npy / "
                ".embeddings.npy with split training, validation, test or inference[_<name>]"
            )
        return value


class RunCreate(RequestModel):
    """``POST /api/runs``: create a run, then upload its files in parts."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "project": "esg",
                    "run_name": "distilbert-v3",
                    "task_type": "text_classification",
                    "labels": ["environment", "social", "governance"],
                    "files": [
                        {"name": "manifest.json", "size": 812, "sha256": "0" * 64},
                        {"name": "training.inputs.arrow", "size": 1048576, "sha256": "1" * 64},
                        {"name": "training.e0.probs.npy", "size": 120128, "sha256": "2" * 64},
                    ],
                }
            ]
        },
    )

    project: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    run_name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    task_type: Literal["text_classification", "text_multi_label"] = "text_classification"
    labels: list[str] = Field(min_length=2, max_length=1000)
    files: list[RunFile] = Field(min_length=2, max_length=10_000)
    options: SignalOptions = Field(default_factory=SignalOptions)

    @model_validator(mode="after")
    def _consistent(self) -> RunCreate:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError("file names must be unique")
        if "manifest.json" not in names:
            raise ValueError("the files must include manifest.json")
        return self


class ProcessRequest(RequestModel):
    """The parameters of the ``training_runs.process`` job."""

    run_id: str
    bundle: str = Field(description="Folder of the uploaded files under the data root")
    output: str = Field(description="Results folder under the data root")
    run_name: str = ""
    options: SignalOptions = Field(default_factory=SignalOptions)
