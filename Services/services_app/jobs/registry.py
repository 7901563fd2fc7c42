"""Every job kind the platform runs, in one table.

A kind names a plain function by dotted path (imported only by the worker
that runs it, so heavy libraries stay off the web server), the queue it
prefers, and its time limit. Each capability's function has the signature
``fn(ctx: JobContext, params: dict) -> dict`` and lives under
``services_app/capabilities/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ServiceError

HOUR = 3600


@dataclass(frozen=True)
class JobKind:
    name: str
    func: str  # "package.module:function"
    queue: str = "default"  # "gpu" for work that benefits from a GPU
    time_limit: int = 6 * HOUR
    description: str = ""

    def load(self) -> Callable:
        module, _, attr = self.func.partition(":")
        return getattr(importlib.import_module(module), attr)


_C = "services_app.capabilities"

KINDS: dict[str, JobKind] = {
    k.name: k
    for k in [
        JobKind("demo.sleep", f"{_C}.demo:sleep", time_limit=600, description="Sleeps in steps, reporting progress."),
        JobKind("demo.fail", f"{_C}.demo:fail", time_limit=60, description="Fails with a structured error."),
        JobKind("conversion.parquet", f"{_C}.conversion.jobs:convert", description="Files or folders to Parquet."),
        JobKind(
            "conversion.batch", f"{_C}.conversion.jobs:convert_batch", description="One batch of a folder conversion."
        ),
        JobKind(
            "knowledgebase.build", f"{_C}.knowledgebase.jobs:build", description="Folder tree to a knowledge base."
        ),
        JobKind(
            "knowledgebase.extract_batch",
            f"{_C}.knowledgebase.build:extract_batch",
            description="One batch of a knowledge-base build's reading step.",
        ),
        JobKind("checks.incoming", f"{_C}.checks.jobs:run_checks", queue="gpu", description="Incoming data checks."),
        JobKind("transforms.dataset", f"{_C}.transforms.jobs:transform", description="Raw file to a training dataset."),
        JobKind("language_models.train", f"{_C}.language_models.jobs:train", description="Train a language model."),
        JobKind("models.download", f"{_C}.model_sync.jobs:download", description="Model from the bucket to disk."),
        JobKind("models.upload", f"{_C}.model_sync.jobs:upload", description="Model from disk to the bucket."),
        JobKind("models.sync", f"{_C}.model_sync.jobs:sync", description="Models between bucket and disk."),
        JobKind("datasets.download", f"{_C}.downloads.jobs:download", description="External data to the data root."),
        JobKind(
            "training_runs.process",
            f"{_C}.training_runs.jobs:process",
            description="Per-sample signals of a logged training run.",
        ),
        JobKind("pipelines.run", f"{_C}.pipelines.jobs:run_pipeline", description="Run a DVC pipeline."),
        JobKind(
            "pipelines.run_gpu", f"{_C}.pipelines.jobs:run_pipeline", queue="gpu", description="Run a DVC pipeline."
        ),
    ]
}


# Kinds that exist only to test the job machinery itself. They are never
# registered in production: a worker knows them only when the setting
# JOB_TEST_KINDS_ENABLED (environment variable of the same name) is true,
# which the test suite sets for the worker processes it starts.
TEST_KINDS: dict[str, JobKind] = {
    k.name: k
    for k in [
        JobKind("demo.crash", f"{_C}.demo:crash", time_limit=60, description="Kills its own worker process."),
        JobKind(
            "demo.sleep_gpu",
            f"{_C}.demo:sleep",
            queue="gpu",
            time_limit=600,
            description="demo.sleep on the gpu queue.",
        ),
    ]
}


def known_kinds() -> dict[str, JobKind]:
    """The kinds this process runs: the platform's, plus the test kinds when enabled."""
    from django.conf import settings

    if getattr(settings, "JOB_TEST_KINDS_ENABLED", False):
        return {**KINDS, **TEST_KINDS}
    return KINDS


def get_kind(name: str) -> JobKind:
    kinds = known_kinds()
    try:
        return kinds[name]
    except KeyError:
        raise ServiceError(
            f"unknown job kind {name!r}", code="unknown_kind", details={"known": sorted(kinds)}
        ) from None
