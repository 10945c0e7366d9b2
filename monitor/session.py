"""Session: one log source and its GPU telemetry, folded into Snapshots on demand.

Glue between the rings: imports the PURE core, never textual. The clock is injected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from monitor.formats import AutoParser
from monitor.formats.scan import IterationColumns
from monitor.lines import bound, decode, line_bounds, segments
from monitor.report import Options, build
from monitor.run import Run, RunState
from monitor.snapshot import Snapshot
from monitor.telemetry import GpuSample, Telemetry

#: Fewer lines than this are fed one by one: the bulk path's numpy setup would cost more.
BULK_MIN_LINES = 16
#: A larger buffer is fed in pieces of about this size (whole lines).
BULK_BLOCK_BYTES = 1 << 22
#: A buffer of fewer lines is fed one by one: reading it in bulk costs ~0.4 ms however
#: short it is, ~60 lines' worth (a live log's few new lines, every poll).
SCAN_MIN_LINES = 256


class Session:
    def __init__(
        self,
        options: Options,
        clock: Callable[[], float],
        dataset_lookup: Callable[[str], int | None] | None = None,
    ) -> None:
        self.options = options
        self.clock = clock
        #: finds the token count of a dataset the log names (see logfile.dataset_tokens)
        self.dataset_lookup = dataset_lookup
        self._dataset_sizes: dict[str, int | None] = {}
        self.parser = AutoParser(options.fmt)
        self.state = RunState()
        self.file_mtime: float | None = None
        self.waiting = False
        #: a lasting problem with the log source (deleted, unreadable), shown as a warning
        self.source_notice: str | None = None
        #: the run's GPU samples; None when GPU telemetry is off (--no-gpu)
        self.telemetry: Telemetry | None = None
        # samples arrive on the GPU sampler's thread while snapshots are built on another
        self._telemetry_lock = threading.Lock()
        #: told every snapshot of the newest run (e.g. a MetricsServer's board.publish)
        self.on_snapshot: Callable[[Snapshot], None] | None = None

    @property
    def format(self) -> str | None:
        return self.parser.name

    def feed(self, line: bytes | str, t: float | None = None) -> bool:
        """One log line (without its newline) seen at `t`; True when the run changed."""
        text = decode(line) if isinstance(line, bytes) else line
        self.state.line_seen(t)
        changed = False
        for segment in segments(text):
            for event_t, event in self.parser.feed(t, segment):
                changed = self.state.apply(event, event_t) or changed
        return changed

    def add_gpu_samples(self, samples: Iterable[GpuSample]) -> None:
        """Fold GPU samples in (thread-safe: a GpuSampler's on_samples can be this method)."""
        if self.telemetry is None:
            self.telemetry = Telemetry()
        with self._telemetry_lock:
            self.telemetry.add(samples)

    def reset(self) -> None:
        """The source started over (truncated, or replaced by another file): what follows
        is a new run, parsed afresh."""
        if self.state.current.lines:
            self.state.runs.append(Run(len(self.state.runs)))
        self.parser = AutoParser(self.options.fmt)

    def feed_many(self, lines: Iterable[bytes | str], t: float | None = None) -> bool:
        lines = list(lines)
        if len(lines) >= BULK_MIN_LINES:
            try:
                block = b"\n".join(lines) + b"\n"  # type: ignore[arg-type]
            except TypeError:  # some lines are str: one at a time
                block = None
            if block is not None and block.count(b"\n") == len(lines):  # no line held a newline
                return self.feed_block(block, t)
        changed = False
        for line in lines:
            changed = self.feed(line, t) or changed
        return changed

    def feed_block(self, data: bytes, t: float | None = None) -> bool:
        """The lines of `data`, all seen at `t` (split on `\\n`; a last piece without one is a
        line too; runaway lines are bounded as LineSplitter bounds them).

        The same as feed() on each line; once the family is known and has a bulk reader,
        its plain iteration lines are read together (a cold open of a long log).
        """
        changed = False
        start = 0
        while start < len(data):
            # The bulk reader's working memory grows with its buffer: a few MB at a time.
            cut = data.find(b"\n", start + BULK_BLOCK_BYTES) + 1 or len(data)
            piece = data if (start, cut) == (0, len(data)) else data[start:cut]
            changed = self._feed_piece(piece, t) or changed
            start = cut
        return changed

    def _feed_piece(self, data: bytes, t: float | None) -> bool:
        starts, ends = line_bounds(data)
        changed = False
        for i in range(len(starts)):
            scan = self.parser.scan_iterations
            if scan is not None and len(starts) - i >= SCAN_MIN_LINES:
                return self._feed_scanned(data, starts[i:], ends[i:], scan, t) or changed
            changed = self.feed(bound(data[starts[i] : ends[i]]), t) or changed
        return changed

    def _feed_scanned(
        self,
        data: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        scan: Callable[[np.ndarray, np.ndarray, np.ndarray], IterationColumns],
        t: float | None,
    ) -> bool:
        buf = np.frombuffer(data, dtype=np.uint8)
        # A trailing \r (a CRLF log) hides nothing: segments() drops the empty piece after it.
        crlf = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 0x0D)
        cols = scan(buf, starts, ends - crlf)
        changed = False
        edges = (np.flatnonzero(cols.ok[1:] != cols.ok[:-1]) + 1).tolist()
        for a, b in zip([0, *edges], [*edges, len(starts)]):
            # The first line of a stretch goes through the parser (it may end a config dump);
            # the rest are plain iterations, and short stretches are not worth the setup.
            bulk_from = a + 1 if cols.ok[a] and b - a >= BULK_MIN_LINES else b
            for i in range(a, bulk_from):
                changed = self.feed(bound(data[starts[i] : ends[i]]), t) or changed
            if bulk_from < b:
                rows = slice(bulk_from, b)
                changed = self.state.extend_iterations(
                    cols.iter[rows], cols.loss[rows], cols.step_time_s[rows], cols.mfu[rows], t
                ) or changed
        return changed

    def _options(self) -> Options:
        name = self.state.current.config.get("dataset")
        if self.options.dataset_tokens is not None or self.dataset_lookup is None or not isinstance(name, str):
            return self.options
        if name not in self._dataset_sizes:
            self._dataset_sizes[name] = self.dataset_lookup(name)
        return replace(self.options, dataset_tokens=self._dataset_sizes[name])

    def snapshot(self, now: float | None = None, charts: bool = False, run_index: int | None = None) -> Snapshot:
        """The current run (or run `run_index`) at `now`; an earlier run as it stood at its last line."""
        if now is None:
            now = self.clock()
        if run_index is not None and run_index < len(self.state.runs) - 1:
            ended = self.state.runs[run_index].last_line_t
            now = now if ended is None else ended
        with self._telemetry_lock:
            snap = build(
                self.state,
                self.format,
                self._options(),
                now,
                file_mtime=self.file_mtime,
                waiting=self.waiting,
                charts=charts,
                run_index=run_index,
                telemetry=self.telemetry,
            )
        if self.source_notice:
            snap = replace(snap, warnings=(*snap.warnings, self.source_notice))
        if self.on_snapshot is not None and run_index is None:
            self.on_snapshot(snap)
        return snap
