"""services_client: log training runs to Services, and call the rest of its API from a notebook.

Training runs (text classification, single- and multi-label; NER is not supported yet)::

    import services_client as sc
    sc.init(url, api_key, project="esg", run_name="v3", labels=["a", "b", "c"])
    sc.log_dataset(df, split="training")                       # id, text, label, metadata columns
    sc.log_model_outputs(ids=ids, embeddings=emb, logits=logits, split="training", epoch=epoch)
    job = sc.finish()                                          # validate, summary, upload, job
    job.wait(); job.samples(filter="likely_mislabelled")

Everything else::

    client = sc.Client(url, api_key)
    client.convert(file="sales.xlsx").preview()
"""

from __future__ import annotations

from .client import Client, JobResult
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    JobFailed,
    NotFound,
    RunValidationError,
    ServerError,
    ServicesError,
    TooLarge,
    Unauthorized,
)
from .run import Run, RunJob

__version__ = "0.1.0"

_current: Run | None = None


def init(
    url: str,
    api_key: str,
    project: str,
    run_name: str,
    task_type: str = "text_classification",
    labels: list[str] | None = None,
    **kw,
) -> Run:
    """Start logging a run. ``task_type``: text_classification or text_multi_label. Keyword arguments:
    ``dir`` (local folder for the Arrow files; a temporary one by default), ``max_queue`` (batches waiting
    for the disk before `log_model_outputs` blocks, 32), ``part_bytes`` (upload part size, 8 MiB),
    ``options`` (signal thresholds, see docs/training_runs.md)."""
    global _current
    if labels is None:
        raise ValueError("labels: give the label names, in the order of the model's outputs")
    _current = Run(
        url=url, api_key=api_key, project=project, run_name=run_name, task_type=task_type, labels=labels, **kw
    )
    return _current


def _run() -> Run:
    if _current is None:
        raise RunValidationError("call services_client.init(...) first")
    return _current


def log_dataset(data, split: str = "training", **kw) -> int:
    """See `Run.log_dataset`."""
    return _run().log_dataset(data, split=split, **kw)


def log_model_outputs(*, ids, embeddings, logits=None, probs=None, split: str = "training", epoch: int = 0, **kw):
    """See `Run.log_model_outputs`."""
    return _run().log_model_outputs(
        ids=ids, embeddings=embeddings, logits=logits, probs=probs, split=split, epoch=epoch, **kw
    )


def finish(**kw) -> RunJob:
    """See `Run.finish`."""
    return _run().finish(**kw)


__all__ = [
    "BadRequest",
    "Client",
    "Conflict",
    "Forbidden",
    "JobFailed",
    "JobResult",
    "NotFound",
    "Run",
    "RunJob",
    "RunValidationError",
    "ServerError",
    "ServicesError",
    "TooLarge",
    "Unauthorized",
    "finish",
    "init",
    "log_dataset",
    "log_model_outputs",
]
