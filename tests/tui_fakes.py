"""Test doubles for the TUI tests: a fake GPU source, a line source the test drives, and
sessions built from the recorded H100 runs at a fixed clock."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

from conftest import SAMPLES, FakeClock

from monitor.core.report import Options
from monitor.core.telemetry import GpuSample
from monitor.inbox import GpuSampled, GpuWatched, LineHooks
from monitor.session import Session

GIB = 2**30
RECORDED = SAMPLES / "recorded"
DATA = Path(__file__).resolve().parent / "data"


class FakeGpuSource:
    """A GpuSource (monitor.sources.gpu's Protocol) with one sample per GPU every `period_s`,
    values a smooth function of time: the same clock gives the same samples."""

    origin = "nvml"

    def __init__(self, gpus: int = 1, period_s: float = 1.0, status: str | None = None) -> None:
        self.gpus = gpus
        self.period_s = period_s
        self.status = status
        self._next_t: float | None = None

    def sample(self, t: float, index: int) -> GpuSample:
        power_w = 420.0 + 80.0 * math.sin(t / 7.0 + index)
        return GpuSample(
            t=t, index=index, name="NVIDIA H100 80GB HBM3", power_w=round(power_w, 1),
            energy_j=None, vram_used_bytes=int((31.5 + index) * GIB), vram_total_bytes=80 * GIB,
            util_pct=97.0, temp_c=61.0 + index, power_limit_w=700.0,
        )  # fmt: skip

    def poll(self, now: float) -> list[GpuSample]:
        """Samples from `start(now)` (or the last poll) up to `now`."""
        t = now - 30 * self.period_s if self._next_t is None else self._next_t
        out = []
        while t <= now:
            out.extend(self.sample(t, i) for i in range(self.gpus))
            t += self.period_s
        self._next_t = t
        return out

    def close(self) -> None:
        pass


class BrokenGpuSource(FakeGpuSource):
    """A GPU source whose poll() raises (a bug, or a library surprise) while `broken` is set,
    then works again."""

    def __init__(self, message: str = "driver said no") -> None:
        super().__init__()
        self.message = message
        self.broken = True
        self.polls = 0

    def poll(self, now: float) -> list[GpuSample]:
        self.polls += 1
        if self.broken:
            raise RuntimeError(self.message)
        return super().poll(now)


class ManualLines:
    """A line source the test drives: it keeps the app's hooks and sends what it is told."""

    instances: ClassVar[list[ManualLines]] = []

    def __init__(self, hooks: LineHooks) -> None:
        self.hooks = hooks
        self.mtime: float | None = None
        self.started = self.stopped = False
        ManualLines.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def recorded(name: str) -> list[tuple[float, bytes]]:
    """(arrival time, line) of a recorded run in sample_logs/recorded/<name>."""
    folder = RECORDED / name
    lines = (folder / "run.log").read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    times = [float(x) for x in (folder / "run.times").read_text().split()]
    return list(zip(times, lines))


def session_at(items: list[tuple[float, bytes]], clock: FakeClock, source: str = "run.log",
               gpus: int | None = 1) -> Session:
    """A session fed with `items`, the clock one second after the last of them, and (unless
    gpus is None) telemetry from the fake GPU source up to that time."""
    clock.t = items[-1][0] + 1.0
    session = Session(Options(source=source), clock)
    for t, line in items:
        session.feed(line, t)
    if gpus is not None:
        session.ingest([GpuWatched("nvml"), GpuSampled(FakeGpuSource(gpus).poll(clock.t))])
    return session


@contextmanager
def utc() -> Iterator[None]:
    """Clock times on screen in UTC, whatever the machine's zone."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
