"""GPU samples from an nvidia-smi CSV file (--gpu-log), handed out as a (virtual) clock passes
them, read as a stream in bounded memory.

ADAPTER ring: reads the CSV file; never imports textual.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import TextIO

from monitor.core.lines import SNIFF_BYTES, sniff_encoding
from monitor.core.telemetry import GpuSample
from monitor.sources.gpusource import GpuSource, Unavailable
from monitor.sources.smicsv import MAX_ROW_CHARS, clock_offset_s, clock_offset_span, iter_gpu_csv


class CsvSource:
    """Samples read from an nvidia-smi CSV, handed out in time order as a (virtual) clock
    passes them: a replay sees the GPUs as they were when each line was written."""

    origin = "gpu-log"

    def __init__(self, samples: Sequence[GpuSample], gpus: Sequence[int] | None = None) -> None:
        keep = [s for s in samples if not gpus or s.index in gpus]
        self.samples = sorted(keep, key=lambda s: s.t)
        self.status: str | None = None if self.samples else nothing_read(gpus, {s.index for s in samples})
        self._next = 0

    def poll(self, now: float) -> list[GpuSample]:
        start = self._next
        while self._next < len(self.samples) and self.samples[self._next].t <= now:
            self._next += 1
        return self.samples[start : self._next]

    def stream(self, now: float) -> Iterator[GpuSample]:
        """poll() one sample at a time (CsvFileSource never holds its file whole)."""
        return iter(self.poll(now))

    def align(self, t0: float, t1: float) -> float:
        """Move the samples onto the log's clock when their local times miss the log's span
        [t0, t1] by a whole time zone; returns the offset taken off (0 when none)."""
        offset_s = clock_offset_s(self.samples, t0, t1)
        if offset_s:
            self.samples = [replace(s, t=s.t - offset_s) for s in self.samples]
        return offset_s

    def close(self) -> None:
        pass


class CsvFileSource(CsvSource):
    """A CsvSource that reads its file as the clock passes its samples, in bounded memory (a GPU
    log of hundreds of MB). Rows are taken in file order, the time order nvidia-smi writes."""

    def __init__(self, path: str, gpus: Sequence[int] | None = None) -> None:
        self.path, self.gpus = path, gpus
        self.samples = []  # never held: see stream()
        self.offset_s = 0.0
        self._rows = self._read()
        self._held: set[int] = set()  # the GPUs of the rows passed over, until one is taken
        self._ahead = next(self._rows, None)
        self.status = None if self._ahead is not None else nothing_read(gpus, self._held)

    def _read(self) -> Generator[GpuSample, None, None]:
        try:
            with open(self.path, newline="", encoding=text_encoding(self.path), errors="replace") as f:
                for s in iter_gpu_csv(bounded_lines(f)):
                    if s is not None and (not self.gpus or s.index in self.gpus):
                        yield s
                    elif s is not None and len(self._held) < MAX_LISTED + 1:
                        self._held.add(s.index)
        except OSError:
            return  # read while it lasted; the samples so far stand

    def stream(self, now: float) -> Iterator[GpuSample]:
        while self._ahead is not None and self._ahead.t - self.offset_s <= now:
            s = self._ahead
            self._ahead = next(self._rows, None)
            yield replace(s, t=s.t - self.offset_s) if self.offset_s else s

    def poll(self, now: float) -> list[GpuSample]:
        return list(self.stream(now))

    def align(self, t0: float, t1: float) -> float:
        first = last = None
        for s in self._read():  # one more pass for the span: only replays with --times align
            first = s.t if first is None else min(first, s.t)
            last = s.t if last is None else max(last, s.t)
        self.offset_s = 0.0 if first is None or last is None else clock_offset_span(first, last, t0, t1)
        return self.offset_s

    def close(self) -> None:
        self._rows.close()


def text_encoding(path: str) -> str:
    """The codec that reads `path` as its text: nvidia-smi's CSV redirected by Windows
    PowerShell (`>`, `Tee-Object`) is UTF-16 with a byte-order mark, Notepad may add UTF-8's;
    the mark is told from the first bytes (monitor.core.lines.sniff_encoding) and dropped."""
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    name, mark = sniff_encoding(head) or ("utf-8", 0)
    if name == "utf-8":
        return "utf-8-sig"  # the mark, when there is one, is no part of the header's first name
    return "utf-16" if mark else name


def nothing_read(gpus: Sequence[int] | None, held: set[int]) -> str:
    """Why a GPU log gives no sample: none could be read, or none of the --gpus asked for."""
    if not gpus or not held:
        return "the GPU log has no readable sample"
    def names(indices: Iterable[int]) -> str:
        return ",".join(map(str, sorted(indices)[:MAX_LISTED])) + ("…" if len(set(indices)) > MAX_LISTED else "")
    return f"the GPU log has no sample of GPU {names(gpus)} (--gpus); it holds GPU {names(held)}"


#: GPU indices listed in a reason at most.
MAX_LISTED = 16


def bounded_lines(f: TextIO, max_chars: int = MAX_ROW_CHARS) -> Iterator[str]:
    """The lines of a text file, each read at most `max_chars` + 1 characters at a time: a
    longer one (no newline for megabytes: a file that is no CSV) comes out cut to that, so
    iter_gpu_csv skips it, and the rest of it is read past, never held."""
    while True:
        line = f.readline(max_chars + 1)
        if not line:
            return
        if len(line) > max_chars and not line.endswith("\n"):
            rest = line
            while rest and not rest.endswith("\n"):
                rest = f.readline(1 << 16)
        yield line


def open_gpu_log(path: str, gpus: Sequence[int] | None = None,
                 span: tuple[float, float] | None = None) -> GpuSource:
    """A CsvFileSource for an nvidia-smi CSV file, or an Unavailable one saying why not. With
    `span` (the log's first and last line times), samples a whole time zone off are aligned
    (nvidia-smi prints local time, without a zone)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return Unavailable(f"cannot read GPU log {path}: {e.strerror or e}")
    source = CsvFileSource(path, gpus)
    if span is not None:
        source.align(*span)
    return source
