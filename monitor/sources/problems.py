"""What a source reports through its `on_error` callback, as typed values, and the guard that
every source's thread loop runs under (an unexpected exception is reported, never silent).

ADAPTER ring: plain values and a helper; no textual, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Characters of an outside system's own words (an endpoint's error, a parser's complaint quoting
#: its page, a redirect's target, the NVML driver's error string) kept in the one-line reason
#: shown for it.
REASON_CHARS = 160


@dataclass(frozen=True, slots=True)
class LoopFailed:
    """A source's thread hit an exception nobody expected (a bug, or a library surprise).
    `where` names the loop ("GPU sampler", "follower of run.log"); `error` is the exception's
    one-line form. The loop reports it once per new error and carries on (or stops cleanly)."""

    where: str
    error: str

    def __str__(self) -> str:
        return f"{self.where} failed: {self.error}"


@dataclass(frozen=True, slots=True)
class GpuUnavailable:
    """No GPU sample will come from this source, and why ("no NVIDIA driver", ...)."""

    reason: str

    def __str__(self) -> str:
        return f"GPU telemetry unavailable: {self.reason}"


@dataclass(frozen=True, slots=True)
class GpuLost:
    """One GPU (`where` = "GPU 0") or one endpoint (`where` = its URL) stopped answering;
    the others are still sampled."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class WriterOnMovedFile:
    """The log was moved away (`mv log log.1; touch log`, logrotate's `create`) and the new file
    under its name stays empty while the moved one grows: its writer never reopens its file.
    The moved file is followed; this lasts until the new file gets lines."""

    path: str

    def __str__(self) -> str:
        return (f"{self.path} was moved away but the writer still writes to the moved file: "
                "following that file until the new one gets lines")


#: What a GPU source's `on_error` receives.
GpuProblem = GpuUnavailable | GpuLost | LoopFailed
#: What a line source's `on_error` receives: a one-line notice about the file (deleted,
#: truncated, unreadable), a lasting condition of it, or its thread's failure.
LineProblem = str | WriterOnMovedFile | LoopFailed


class Guard:
    """Runs one pass of a thread loop and turns an unexpected exception into a LoopFailed
    for `on_error`, said once per distinct error (a loop failing at every pass would
    otherwise repeat itself every second)."""

    def __init__(self, where: str, on_error: Callable[[LoopFailed], None]) -> None:
        self.where = where
        self.on_error = on_error
        self._last: LoopFailed | None = None

    def run(self, step: Callable[[], object]) -> bool:
        """Call `step()`; False when it raised (the failure has been reported)."""
        try:
            step()
        except Exception as e:  # noqa: BLE001 - the guard's job: any bug reaches the screen
            problem = LoopFailed(self.where, f"{type(e).__name__}: {e}".splitlines()[0])
            if problem != self._last:
                self._last = problem
                self.on_error(problem)
            return False
        self._last = None
        return True
