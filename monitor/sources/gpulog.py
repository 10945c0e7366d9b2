"""GPU samples from an nvidia-smi CSV file (--gpu-log), handed out as a (virtual) clock passes
them, read as a stream in bounded memory.

ADAPTER ring: reads the CSV file; never imports textual.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import replace

from monitor.core.lines import LineSplitter
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
    log of hundreds of MB). Rows are taken in file order, the time order nvidia-smi writes.
    With `follow` (a live log), the file is read on as it grows (`nvidia-smi -l 1 > gpu.csv`
    beside the run): rows written after the end it reached are read at the next poll, a row
    written in part once it ends, under the last header read."""

    def __init__(self, path: str, gpus: Sequence[int] | None = None, follow: bool = False) -> None:
        self.path, self.gpus, self.follow = path, gpus, follow
        self.samples = []  # never held: see stream()
        self.offset_s = 0.0
        self._pos = 0  # the bytes read so far (a pass goes on from there)
        self._splitter = LineSplitter()  # its encoding (UTF-16, a mark) and a row written in part kept across passes
        self._header: str | None = None  # the last header line read: the next pass's columns
        self._rows = self._read()
        self._held: set[int] = set()  # the GPUs of the rows passed over, until one is taken
        self._ahead = next(self._rows, None)
        empty = follow and self._pos == 0  # nvidia-smi has not written yet
        self.status = None if self._ahead is not None or empty else nothing_read(gpus, self._held)

    def _read(self) -> Generator[GpuSample, None, None]:
        lines = itertools.chain([self._header] if self._header else [], self._lines())
        for s in iter_gpu_csv(lines):
            if s is not None and (not self.gpus or s.index in self.gpus):
                yield s
            elif s is not None and len(self._held) < MAX_LISTED + 1:
                self._held.add(s.index)

    def _lines(self) -> Iterator[str]:
        """The file's lines from where the last pass ended, as text (monitor.core.lines: UTF-8
        or UTF-16, a runaway line bounded); a last line without its newline waits, when
        following, for the rest. A file that shrank (nvidia-smi started again with `>`) is read
        from its start."""
        try:
            with open(self.path, "rb") as f:
                if os.fstat(f.fileno()).st_size < self._pos:
                    self._pos, self._header = 0, None
                    self._splitter.reset()
                f.seek(self._pos)
                while block := f.read(READ_BYTES):
                    self._pos += len(block)
                    yield from self._text(self._splitter.feed(block))
        except OSError:
            return  # read while it lasted; the samples so far stand
        if not self.follow:
            yield from self._text(self._splitter.flush())

    def _text(self, lines: list[bytes]) -> Iterator[str]:
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if line.lstrip().startswith("timestamp"):
                self._header = line
            yield line

    def stream(self, now: float) -> Iterator[GpuSample]:
        if self._ahead is None and self.follow:  # the end of the file was reached: read on
            self._rows.close()
            self._rows = self._read()
            self._ahead = next(self._rows, None)
            if self._ahead is not None:
                self.status = None
        while self._ahead is not None and self._ahead.t - self.offset_s <= now:
            s = self._ahead
            self._ahead = next(self._rows, None)
            yield replace(s, t=s.t - self.offset_s) if self.offset_s else s

    def poll(self, now: float) -> list[GpuSample]:
        return list(self.stream(now))

    def align(self, t0: float, t1: float) -> float:
        first = last = None
        for s in CsvFileSource(self.path, self.gpus)._read():  # one more pass for the span: only replays with --times align
            first = s.t if first is None else min(first, s.t)
            last = s.t if last is None else max(last, s.t)
        self.offset_s = 0.0 if first is None or last is None else clock_offset_span(first, last, t0, t1)
        return self.offset_s

    def close(self) -> None:
        self._rows.close()


def nothing_read(gpus: Sequence[int] | None, held: set[int]) -> str:
    """Why a GPU log gives no sample: none could be read, or none of the --gpus asked for."""
    if not gpus or not held:
        # what is read, for a user who passed another file, or a CSV no nvidia-smi writes
        # (a header of a million columns, rows longer than any GPU's: smicsv.MAX_ROW_CHARS)
        return (f"the GPU log has no readable sample: it is read as nvidia-smi --query-gpu=timestamp,index,… "
                f"--format=csv writes it (a header, then a row a GPU and sample, each under {MAX_ROW_CHARS // 1024} KiB)")
    def names(indices: Iterable[int]) -> str:
        return ",".join(map(str, sorted(indices)[:MAX_LISTED])) + ("…" if len(set(indices)) > MAX_LISTED else "")
    return f"the GPU log has no sample of GPU {names(gpus)} (--gpus); it holds GPU {names(held)}"


#: Bytes read from the CSV at a time.
READ_BYTES = 1 << 20
#: GPU indices listed in a reason at most.
MAX_LISTED = 16


def open_gpu_log(path: str, gpus: Sequence[int] | None = None,
                 span: tuple[float, float] | None = None, follow: bool = False) -> GpuSource:
    """A CsvFileSource for an nvidia-smi CSV file, or an Unavailable one saying why not. With
    `span` (the log's first and last line times), samples a whole time zone off are aligned
    (nvidia-smi prints local time, without a zone)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return Unavailable(f"cannot read GPU log {path}: {e.strerror or e}")
    source = CsvFileSource(path, gpus, follow=follow)
    if span is not None:
        source.align(*span)
    return source
