"""What a job function gets to talk to the platform, without Django.

The worker builds a `JobContext` whose callbacks write progress to the Job
row and read its cancel flag; a management command or a test builds one
with a progress bar or nothing at all. The job function never knows which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import JobCancelled
from ..storage import Storage


@dataclass
class JobContext:
    storage: Storage
    job_id: str = "local"
    on_progress: Callable[[float, str], None] | None = None
    is_cancelled: Callable[[], bool] | None = None
    warnings: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    # Set by the worker: runs batches as jobs of their own that any worker can take (see
    # `map_batches`). None (a command, a test, a DVC stage): batches run here, one by one.
    run_batches: Callable[[str, list[dict], Callable[[int, int], None]], list[dict]] | None = None
    _last: float = 0.0

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Report progress (0..1). Cheap to call often: reports are throttled.

        Raises `JobCancelled` when the job was asked to stop, so long loops
        that report progress are also cancellable."""
        self.check_cancelled()
        now = time.monotonic()
        if self.on_progress and (force or fraction >= 1.0 or now - self._last >= 0.5):
            self._last = now
            self.on_progress(max(0.0, min(1.0, float(fraction))), message[:500])

    def check_cancelled(self) -> None:
        if self.is_cancelled and self.is_cancelled():
            raise JobCancelled()

    def map_batches(
        self, kind: str, batches: list[dict], local: Callable[[JobContext, dict], dict], *, lo=0.0, hi=0.98
    ) -> list[dict]:
        """Run ``local(ctx, params)`` once per batch; one outcome per batch, in order:
        ``{"result": dict}`` (with the batch's ``warnings``) or ``{"error": {"code", "message", ...}}``.

        In a worker each batch is a job of kind ``kind`` (a child of this job) that any worker
        may take, this one included, with the claim, heartbeat, lost-worker requeue and attempt
        limit of every job; elsewhere the batches run here in turn. Progress goes from ``lo`` to
        ``hi`` as batches finish; cancelling this job cancels its batches."""

        def report(done: int, total: int) -> None:
            self.progress(lo + (hi - lo) * done / max(total, 1), f"{done} of {total} batches done", force=True)

        if self.run_batches is not None:
            return self.run_batches(kind, batches, report)
        from ..errors import ServiceError

        outcomes = []
        for i, params in enumerate(batches):
            report(i, len(batches))
            sub = JobContext(storage=self.storage, job_id=f"{self.job_id}-{i}", is_cancelled=self.is_cancelled)
            try:
                result = local(sub, params) or {}
            except ServiceError as exc:
                outcomes.append({"error": exc.as_dict()})
                continue
            if sub.warnings:  # as a worker records them on the batch job
                result.setdefault("warnings", []).extend(sub.warnings)
            outcomes.append({"result": result})
        report(len(batches), len(batches))
        return outcomes

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def add_output(self, location: str | Path) -> None:
        self.outputs.append(str(location))


def tqdm_context(storage: Storage, *, desc: str = "", disable: bool = False) -> JobContext:
    """A context for management commands: progress as a tqdm bar on stderr."""
    import threading

    from tqdm import tqdm

    if not hasattr(tqdm, "_lock"):
        # tqdm's default lock also guards bars written from other processes: it imports multiprocessing and
        # makes a semaphore (about 0.015 s of a command's start-up); a command's one bar needs a thread lock
        tqdm.set_lock(threading.RLock())
    bar = tqdm(total=1000, desc=desc, unit="‰", disable=disable, bar_format="{l_bar}{bar}| {postfix}")

    def on_progress(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    ctx = JobContext(storage=storage, on_progress=on_progress)
    ctx._bar = bar  # type: ignore[attr-defined]
    return ctx
