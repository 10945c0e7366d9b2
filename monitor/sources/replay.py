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

import numpy as np

from monitor.core.batch import SCAN_MIN_LINES, scan_lines
from monitor.core.events import Iteration
from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import Margin, strip, strip_block
from monitor.core.formats.scan import IterationColumns
from monitor.core.lines import bound, decode, line_bounds, segments
from monitor.core.run import MAX_STEP_TIME_S, MAX_TRAIN_TIME_S
from monitor.core.textfmt import counted
from monitor.sources.logfile import LogError, check_regular, iter_lines, read_blocks

#: Epoch seconds a line can have been written at: 1970 to the year 2286 (10**10 s). A value
#: outside is no such time, and a replay would wait for it for ever.
MAX_EPOCH_S = 1e10
#: `replay --once` reads the log this much at a time: the bulk reader's working memory grows
#: with its block (4 MiB blocks took the peak RSS of a 1M-line replay from 61 MiB to 96 MiB;
#: 256 KiB keeps it at 58 MiB, at the same CPU time: benchmarks/replay_speed.py).
REPLAY_BLOCK_BYTES = 1 << 18


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
        raise LogError(f"{path}: {counted(seen, 'time')} for {counted(n_lines, 'log line')}")
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

    def blocks(self, block_bytes: int | None = None) -> Iterator[tuple[bytes, np.ndarray]]:
        """The log in blocks of whole lines (logfile.read_blocks; `block_bytes`, by default
        REPLAY_BLOCK_BYTES), each with its lines' times (float64, one a line): the same times
        as iterating, read in bulk where a family's bulk reader reads the step lines."""
        block_bytes = REPLAY_BLOCK_BYTES if block_bytes is None else block_bytes
        if self.times is None:
            pacer = Pacer(self.start_t, self.fmt)
            for block in read_blocks(self.log_path, block_bytes):
                yield block, pacer.block(block)
            return
        recorded = np.frombuffer(self.times, dtype=np.float64)
        at = 0
        for block in read_blocks(self.log_path, block_bytes):
            n = len(line_bounds(block)[0])
            yield block, recorded[at : at + n]
            at += n


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
    times (see Pacer). A line's time is known when it is read: the lines stream through."""
    pacer = Pacer(start_t, fmt)
    for raw in lines:
        yield pacer.line(raw), raw


class Pacer:
    """The virtual clock of `paced`: fed the log's lines in order, it says each line's time."""

    def __init__(self, start_t: float, fmt: str = "auto") -> None:
        self.t = start_t
        self._parser = AutoParser(fmt)
        self._margin = Margin()
        self._last_iter: int | None = None
        self._last_train: float | None = None
        self._recent: deque[float] = deque(maxlen=16)

    def line(self, raw: bytes) -> float:
        """The time of the next line, `raw` (without its newline)."""
        for segment in segments(decode(raw)):
            segment = self._margin.cut(segment)
            prefixed = strip(segment)  # a timestamp or rank tag before the line
            for _, event in self._parser.feed(None, segment if prefixed is None else prefixed.text):
                if isinstance(event, Iteration):
                    self._step(event.iter, event.step_time_s, event.train_time_s)
        return self.t

    def block(self, data: bytes) -> np.ndarray:
        """The times of the lines of `data` (split on `\\n`, as Session.feed_timed splits it):
        line() for each; once the family's bulk reader is known, its plain step lines are read
        together (the same events as line by line: see reading.LogReading._feed_scanned)."""
        starts, ends = line_bounds(data)
        times = np.empty(len(starts))
        for i in range(len(starts)):
            scan = self._parser.scan_iterations
            if scan is not None and len(starts) - i >= SCAN_MIN_LINES:
                cols = scan_lines(scan, data, strip_block(data), starts, ends, i)
                self._scanned(data, starts[i:], ends[i:], cols, times[i:])
                break
            times[i] = self.line(bound(data[starts[i] : ends[i]]))
        return times

    def _scanned(self, data: bytes, starts: np.ndarray, ends: np.ndarray, cols: IterationColumns,
                 times: np.ndarray) -> None:
        edges = (np.flatnonzero(cols.ok[1:] != cols.ok[:-1]) + 1).tolist()
        for a, b in zip([0, *edges], [*edges, len(starts)]):
            if not cols.ok[a]:
                for i in range(a, b):
                    times[i] = self.line(bound(data[starts[i] : ends[i]]))
                continue
            if not self._parser.plain():  # inside a config dump, say: parse() ends it
                times[a] = self.line(data[starts[a] : ends[a]])
                a += 1
            self._parser.absorb(cols, a, b)
            train = cols.train_time_s
            for i, it, dt in zip(range(a, b), cols.iter[a:b].tolist(), cols.step_time_s[a:b].tolist()):
                self._step(it, None if math.isnan(dt) else dt,
                           None if train is None or math.isnan(train[i]) else float(train[i]))
                times[i] = self.t

    def _step(self, it: int, step_time_s: float | None, train_time_s: float | None) -> None:
        """A step line: the clock moves on by its step time (or its training clock's growth)."""
        last_iter = self._last_iter
        # a process's first step, or the first after the counter went back
        first = last_iter is None or it <= last_iter
        steps = 1 if last_iter is None or first else it - last_iter
        # a time the run would not keep (negative, 10^300 ms) does not move the clock either
        dt = _measured(step_time_s, MAX_STEP_TIME_S)
        train = _measured(train_time_s, MAX_TRAIN_TIME_S)
        one_step = dt if dt is not None and math.isfinite(dt) and dt > 0 else 0.0
        if first and train is not None and math.isfinite(train) and train > one_step:
            # A process's cumulative training clock covers every step up to its
            # first printed one, which a single step's time does not (but a clock
            # that leaves out its first steps, as nanochat's does, can say less).
            self.t += train
        elif dt is not None and math.isfinite(dt) and dt > 0:
            # The printed time is one step's (an eval step's included); the
            # unprinted steps in between ran at the typical pace, which the
            # first step (compilation, the step-0 eval) says nothing about.
            if not first:
                self._recent.append(dt)
            if steps == 1:
                self.t += dt  # no unprinted step: no median to take
            else:
                typical = statistics.median(self._recent) if self._recent else dt
                self.t += dt + (steps - 1) * typical
        elif train is not None and self._last_train is not None and train > self._last_train:
            self.t += train - self._last_train
        self._last_iter, self._last_train = it, train


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


def bundled_demo(speed: float | None = None, paced: bool = True) -> Demo:
    """The demo run shipped in the package (a real nanoGPT run on an H100: log, line arrival
    times, GPU trace), played at `speed`, by default fast enough to last about DEMO_SECONDS.
    `paced`: it is played at that speed (not read whole, as `--once` reads it), and its name says so.
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
    name = f"demo: replay at {pace}, {gpu_model} run recorded {day}" if paced else f"demo: {gpu_model} run recorded {day}"
    return Demo(log, times, gpu_log, speed, name)

