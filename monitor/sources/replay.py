"""Replay a finished log as if live: each line with the time it was written.

ADAPTER ring: reads the log and its `--times` file; no textual.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import overload

from monitor.core.events import Iteration
from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import Margin, strip
from monitor.core.lines import decode, segments
from monitor.core.run import MAX_STEP_TIME_S, MAX_TRAIN_TIME_S
from monitor.sources.logfile import LogError, check_regular, iter_lines

#: Epoch seconds a line can have been written at: 1970 to the year 2286 (10**10 s). A value
#: outside is no such time, and a replay would wait for it for ever.
MAX_EPOCH_S = 1e10


def read_times(path: str, n_lines: int) -> array[float]:
    """One epoch-seconds float per line of the log (the `run.times` format), 8 bytes each.
    LogError (one line) for a value that is not a number of epoch seconds, or too few of them."""
    times = array("d")
    seen = 0
    for i, raw in enumerate(iter_lines(path, stdin_hint=False)):
        text = raw.strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise LogError(f"{path}:{i + 1}: not a time in epoch seconds: {decode(text[:40])!r}") from None
        if not 0 <= value < MAX_EPOCH_S:  # NaN too
            raise LogError(f"{path}:{i + 1}: {value:g} is not a time in epoch seconds (1970 to 2286)")
        seen += 1
        if seen <= n_lines:  # a times file longer than its log: the rest is checked, not kept
            times.append(value)
    if seen < n_lines:
        raise LogError(f"{path}: {seen} times for {n_lines} log lines")
    return times


class TimedLines:
    """(t, line) for every line of a log, in order, with recorded (`times_path`) or paced times,
    streamed: a replay of any length holds one block of the log (and, with recorded times,
    8 bytes a line), never the log. Iterating again reads the log again. LogError (one line)
    at construction for a log or times file that cannot be read, or too few times."""

    def __init__(self, log_path: str, times_path: str | None, start_t: float, fmt: str = "auto") -> None:
        self.log_path, self.start_t, self.fmt = log_path, start_t, fmt
        check_regular(log_path)
        self.times = None if times_path is None else read_times(times_path, _count_lines(log_path))
        #: the first and last recorded times, when known before playing (None when paced)
        self.span: tuple[float, float] | None = (self.times[0], self.times[-1]) if self.times else None

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        lines = iter_lines(self.log_path)
        if self.times is not None:
            return zip(self.times, lines)
        return paced(lines, self.start_t, self.fmt)


def timed_lines(log_path: str, times_path: str | None, start_t: float, fmt: str = "auto") -> TimedLines:
    """(t, line) for every line of the log, in order, with recorded or paced times (TimedLines)."""
    return TimedLines(log_path, times_path, start_t, fmt)


class PackedLines(Sequence[tuple[float, bytes]]):
    """(t, line) items packed for a Player, which looks back and ahead by index: the lines in
    one buffer, the times and line ends in arrays, about the log's size in all (a list of
    tuples of bytes takes ~5 times that: 250 MB for a 1M-line, 52 MB log)."""

    def __init__(self, items: Iterable[tuple[float, bytes]]) -> None:
        self._times, self._ends, self._data = array("d"), array("q"), bytearray()
        for t, line in items:
            self._times.append(t)
            self._data += line
            self._ends.append(len(self._data))

    def __len__(self) -> int:
        return len(self._times)

    @overload
    def __getitem__(self, index: int) -> tuple[float, bytes]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[float, bytes]]: ...

    def __getitem__(self, index: int | slice) -> tuple[float, bytes] | list[tuple[float, bytes]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = self._ends[index - 1] if index else 0
        return self._times[index], bytes(self._data[start:self._ends[index]])


def _count_lines(path: str) -> int:
    return sum(1 for _ in iter_lines(path))


def paced_times(lines: Iterable[bytes], start_t: float, fmt: str = "auto") -> list[float]:
    """The paced time of every line (see paced)."""
    return [t for t, _ in paced(lines, start_t, fmt)]


def _measured(x: float | None, top: float) -> float | None:
    return x if x is not None and 0.0 <= x <= top else None


def paced(lines: Iterable[bytes], start_t: float, fmt: str = "auto") -> Iterator[tuple[float, bytes]]:
    """(t, line) on a virtual clock that advances by each printed step time, times the steps
    it covers (or by the growth of a cumulative training clock), for logs without recorded
    times. A line's time is known when it is read: the lines stream through."""
    parser = AutoParser(fmt)
    t = start_t
    last_iter: int | None = None
    last_train: float | None = None
    recent: deque[float] = deque(maxlen=16)
    margin = Margin()
    for raw in lines:
        for segment in segments(decode(raw)):
            segment = margin.cut(segment)
            prefixed = strip(segment)  # a timestamp or rank tag before the line
            for _, event in parser.feed(None, segment if prefixed is None else prefixed.text):
                if not isinstance(event, Iteration):
                    continue
                # a process's first step, or the first after the counter went back
                first = last_iter is None or event.iter <= last_iter
                steps = 1 if last_iter is None or first else event.iter - last_iter
                # a time the run would not keep (negative, 10^300 ms) does not move the clock either
                dt = _measured(event.step_time_s, MAX_STEP_TIME_S)
                train = _measured(event.train_time_s, MAX_TRAIN_TIME_S)
                one_step = dt if dt is not None and math.isfinite(dt) and dt > 0 else 0.0
                if first and train is not None and math.isfinite(train) and train > one_step:
                    # A process's cumulative training clock covers every step up to its
                    # first printed one, which a single step's time does not (but a clock
                    # that leaves out its first steps, as nanochat's does, can say less).
                    t += train
                elif dt is not None and math.isfinite(dt) and dt > 0:
                    # The printed time is one step's (an eval step's included); the
                    # unprinted steps in between ran at the typical pace, which the
                    # first step (compilation, the step-0 eval) says nothing about.
                    if not first:
                        recent.append(dt)
                    typical = statistics.median(recent) if recent else dt
                    t += dt + (steps - 1) * typical
                elif train is not None and last_train is not None and train > last_train:
                    t += train - last_train
                last_iter, last_train = event.iter, train
        yield t, raw


#: `nanowatch demo` plays the bundled run in about this many seconds (unless --speed).
DEMO_SECONDS = 90.0


@dataclass(frozen=True, slots=True)
class Demo:
    """The bundled recording `nanowatch demo` replays: its files, the speed and the name shown."""

    log: str
    times: str
    gpu_log: str
    speed: float
    name: str


def bundled_demo(speed: float | None = None) -> Demo:
    """The demo run shipped in the package (a real nanoGPT run on an H100: log, line arrival
    times, GPU trace), played at `speed`, by default fast enough to last about DEMO_SECONDS.
    Raises LogError when the package lacks its files."""
    folder = resources.files("monitor") / "demo"
    log, times, gpu_log = (str(folder / name) for name in ("run.log", "run.times", "gpu.smi.csv"))
    for path in (log, times, gpu_log):
        if not os.path.isfile(path):
            raise LogError(f"the demo run is missing from the package: {path}")
    span = timed_lines(log, times, 0.0).span
    if span is None:
        raise LogError(f"the demo run's times are missing from the package: {times}")
    if speed is None:
        speed = round(max(1.0, (span[1] - span[0]) / DEMO_SECONDS), 1)
    meta = folder / "meta.json"
    gpu = json.loads(meta.read_text()).get("gpu", "GPU") if meta.is_file() else "GPU"
    gpu_model = gpu.split(" (")[0].removeprefix("NVIDIA ").split(" ")[0]
    day = time.strftime("%Y-%m-%d", time.localtime(span[0]))
    # Its clock is the recording's: the times shown are when the run happened, not now.
    pace = "full speed" if speed == 0 else f"{speed:g}×"
    name = f"demo: replay at {pace}, {gpu_model} run recorded {day}"
    return Demo(log, times, gpu_log, speed, name)

