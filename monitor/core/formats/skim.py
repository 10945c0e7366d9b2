"""Skimming a log no family has recognised yet: one pass of compiled byte patterns over a
buffer marks the lines that may matter (a family's signature, a Python error or warning,
torchrun's launcher, the first printed time); the rest need no line-by-line reading.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from monitor.core.events import Event
from monitor.core.formats.prefix import strip
from monitor.core.lines import bound, decode, segments

# What the line path's cleaning (lines.segments) removes before any parser looks: ANSI
# escapes (their OSC may not run past a line's end here, as it cannot inside one line),
# then C0/C1 controls. Removing them from the buffer first means a signature that escapes
# were spliced into is still found. `\r` is kept: it only splits a line into pieces.
_ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?")
_C0 = bytes(b for b in range(0x20) if b not in b"\t\n\r") + b"\x7f"
_C1 = re.compile(rb"\xc2[\x80-\x9f]")  # U+0080..U+009F in UTF-8

#: A loose superset of every line that detection, the Python error reader or the launcher
#: check can act on (formats/*.sniff, common.PythonErrors, prefix._LAUNCHER), as literals
#: looked for in the lowercased buffer (bytes.find: no regex tries every position): a line
#: that holds none of these gives nothing but its count and its text for a later replay.
#: With the non-ASCII letters Python's re folds to `i` and `s` (İ, ı, ſ: nanoGPT's step
#: lines are matched ignoring case).
SIGNALS = (
    b"iter", b"step", b"overriding", b"compiling the model", b"fused adamw", b"initializing", b"resuming training",
    b"autodetected device", b"compute_dtype", b"peak flops", b"trl:", b"tel:", b"eval:", b"| parameter",
    b"micro-batch", b"muon: grouping", b"model tag", b"building model with config", b"scaling the lr",
    b"flops per token",
    b"multi-gpu support", b"_loss", b"| loss ", b"pretokdataset", b" train ", b" val ", b" hella ",
    b"desired batch size", b"gradient accumulation", b"validation loss", b"hellaswag",
    b"num_parameters", b"mib for", b"grad_accum_steps", b"batch_size b=", b"running py", b"train_shards",
    b"val_tokens", b"model_params", b"warmup_", b"hyperparameters:", b"source code:",
    b"traceback", b"interrupt", b"warning", b"error", b"exception", b"exit", b"failure", b"killed",
    b"segmentation fault", b"aborted", b"terminate", b"assertion", b"distributed", b"watchdog caught",
    "İ".encode(), "ı".encode(), "ſ".encode(),
)
#: A time a prefix may print (prefix._PREFIX): a time of day (its `:MM:SS`), Unix time with a fraction.
_CLOCK = re.compile(rb":\d\d:\d\d")
_EPOCH = re.compile(rb"1\d{9}\.\d")


def marked_lines(data: bytes, n_lines: int, stamps: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (ascending) of the lines of `data` (split on `\\n`, `n_lines` of them) that
    may matter to an undetected log, and (with `stamps`, else none) of those that may print
    a time (which matter only until the first time is read)."""
    text = _ANSI.sub(b"", data) if b"\x1b" in data else data
    text = text.translate(None, _C0)
    if b"\xc2" in text:
        text = _C1.sub(b"", text)
    low = text.lower()
    hits: list[int] = []
    for signal in SIGNALS:
        at = low.find(signal)
        while at >= 0:
            hits.append(at)
            at = low.find(b"\n", at)  # one hit a line is enough: on from the next line
            at = -1 if at < 0 else low.find(signal, at)
    times: list[int] = []
    if stamps:
        times.extend(m.start() for m in _CLOCK.finditer(text) if text[m.start() - 2 : m.start()].isdigit())
        times.extend(m.start() for m in _EPOCH.finditer(text))
    newlines = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 0x0A) if hits or times else None
    return _lines(newlines, hits, n_lines), _lines(newlines, times, n_lines)


def _lines(newlines: np.ndarray | None, hits: list[int], n_lines: int) -> np.ndarray:
    """The (unique, ascending) indices of the lines that hold the byte offsets `hits`."""
    if newlines is None or not hits:
        return np.zeros(0, dtype=np.int64)
    lines = np.unique(np.searchsorted(newlines, np.asarray(hits), side="left"))
    return lines[lines < n_lines]


class Backlog:
    """The lines read while the family is unknown, replayed through its parser once it is
    detected: the last `max_lines` of them, within about `max_bytes` (a log of huge lines
    keeps fewer). A line the reader read is kept as its text; lines it skimmed are kept as
    the buffer they are in with their bounds (sliced, cleaned and stripped only if replayed:
    most never are)."""

    def __init__(self, max_lines: int, max_bytes: int) -> None:
        self.max_lines, self.max_bytes = max_lines, max_bytes
        #: (time, text, the events it gave) or (time, buffer, line starts, line ends, margin cut)
        self._items: deque[tuple] = deque()
        self._lines = 0
        self._bytes = 0

    def add(self, t: float | None, text: str, given: list[Event]) -> None:
        """A line the reader read, with the events it gave."""
        self._items.append((t, text, given))
        self._lines += 1
        self._bytes += len(text)
        self._trim()

    def add_skimmed(self, t: float | None, data: bytes, starts: np.ndarray, ends: np.ndarray,
                    cut: Callable[[str], str] = lambda line: line) -> None:
        """Lines data[starts[i]:ends[i]], seen at `t`; `cut` takes a piece's margin off (prefix.Margin)."""
        if len(starts):
            self._items.append((t, data, starts, ends, cut))
            self._lines += len(starts)
            self._bytes += int(ends[-1] - starts[0])
            self._trim()

    def _trim(self) -> None:
        while self._items and (self._lines > self.max_lines or self._bytes > self.max_bytes):
            item = self._items[0]
            if len(item) == 3:
                self._items.popleft()
                self._lines -= 1
                self._bytes -= len(item[1])
                continue
            t, data, starts, ends, cut = item
            by_lines = self._lines - self.max_lines
            by_bytes = int(np.searchsorted(ends - starts[0], self._bytes - self.max_bytes)) + 1
            drop = min(len(starts), max(by_lines, by_bytes if self._bytes > self.max_bytes else 0))
            self._items.popleft()
            if drop < len(starts):
                self._items.appendleft((t, data, starts[drop:], ends[drop:], cut))
            self._lines -= drop
            self._bytes -= int(ends[drop - 1] - starts[0]) if drop else 0

    def clear(self) -> None:
        self._items.clear()
        self._lines = self._bytes = 0

    def __iter__(self) -> Iterator[tuple[float | None, str, list[Event]]]:
        """(time, text, events given) of every piece a parser was or would have been handed, in order."""
        for item in self._items:
            if len(item) == 3:
                yield item  # type: ignore[misc]
                continue
            t, data, starts, ends, cut = item
            for a, b in zip(starts.tolist(), ends.tolist()):
                for segment in segments(decode(bound(data[a:b]))):
                    segment = cut(segment)
                    stripped = strip(segment)
                    yield t, segment if stripped is None else stripped.text, []
