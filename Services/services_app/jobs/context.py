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

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def add_output(self, location: str | Path) -> None:
        self.outputs.append(str(location))


def tqdm_context(storage: Storage, *, desc: str = "", disable: bool = False) -> JobContext:
    """A context for management commands: progress as a tqdm bar on stderr."""
    from tqdm import tqdm

    bar = tqdm(total=1000, desc=desc, unit="‰", disable=disable, bar_format="{l_bar}{bar}| {postfix}")

    def on_progress(fraction: float, message: str) -> None:
        bar.n = int(fraction * 1000)
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    ctx = JobContext(storage=storage, on_progress=on_progress)
    ctx._bar = bar  # type: ignore[attr-defined]
    return ctx
