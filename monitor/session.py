"""Session: one log source and its GPU telemetry, folded into Snapshots on demand. Every
source's events come in through `Session.ingest` (see monitor.inbox); nothing else sets its state.

Glue between the rings: imports the PURE core, never textual. The clock is injected.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

import numpy as np

from monitor.core.batch import Batch, scan_lines
from monitor.core.events import Crash, Event, Iteration, RunStarted
from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import Margin, PrintedClock, Stripped, strip, strip_block
from monitor.core.formats.scan import IterationColumns
from monitor.core.formats.skim import marked_lines
from monitor.core.history import chart_key
from monitor.core.lines import bound, decode, line_bounds, segments
from monitor.core.provisional import Before, save
from monitor.core.report import Options, WriterExit, build
from monitor.core.run import Run, RunState
from monitor.core.snapshot import Snapshot
from monitor.core.telemetry import Telemetry
from monitor.inbox import (
    BlockRead,
    FileTouched,
    GpuFailed,
    GpuSampled,
    GpuWatched,
    LinesRead,
    PartialRead,
    SourceChanged,
    SourceEvent,
    SourceFailed,
    SourceReset,
    WriterExited,
    WriterFound,
)
from monitor.sources.problems import GpuProblem, GpuUnavailable, LoopFailed

#: Fewer lines than this are fed one by one: the bulk path's numpy setup would cost more.
BULK_MIN_LINES = 16
#: A larger buffer is fed in pieces of about this size (whole lines).
BULK_BLOCK_BYTES = 1 << 22
#: A buffer of fewer lines is fed one by one: reading it in bulk costs ~0.4 ms however
#: short it is, ~60 lines' worth (a live log's few new lines, every poll).
SCAN_MIN_LINES = 256


class Session:
    """One log source and its GPU telemetry. Sources' events come in through `ingest` (the one
    way in); front ends read `snapshot()` and the read-only properties, and set nothing."""

    def __init__(
        self,
        options: Options,
        clock: Callable[[], float],
        dataset_lookup: Callable[[str], int | None] | None = None,
        *,
        on_snapshot: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self._options_given = options
        self._clock = clock
        #: finds the token count of a dataset the log names (see logfile.dataset_tokens)
        self._dataset_lookup = dataset_lookup
        self._dataset_sizes: dict[str, int | None] = {}
        self.parser = AutoParser(options.fmt)
        self.state = RunState()
        #: puts the times printed before the lines (timestamps) onto this clock
        self.printed_clock = PrintedClock()
        #: the indentation or quote markers a quoted log carries before every line
        self.margin = Margin()
        #: a bulk read's lines not yet folded into `state` (see _feed_scanned)
        self._batch: Batch | None = None
        #: the reading as it stood before the provisional last line (PartialRead) now in it
        self._before_partial: Before | None = None
        self._file_mtime: float | None = None
        self._source_state: str | None = None
        self._waiting = False
        #: a lasting problem with the log file (deleted, unreadable), shown as a warning
        self._source_notice: str | None = None
        #: the line source's thread failing, until lines come again
        self._reader_notice: str | None = None
        #: a lasting problem with the GPU sampler (its thread failing), until samples come again
        self._gpu_notice: str | None = None
        #: the run's GPU samples; None when GPU telemetry is off (--no-gpu)
        self._telemetry: Telemetry | None = None
        #: the log's writer process exited (None while it runs, or was never seen)
        self._writer_exit: WriterExit | None = None
        #: told every snapshot of the newest run (a MetricsServer's board.publish, --notify)
        self._watchers: list[Callable[[Snapshot], None]] = [] if on_snapshot is None else [on_snapshot]

    # --- read-only views for the front ends ---

    @property
    def options(self) -> Options:
        return self._options_given

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock

    @property
    def telemetry(self) -> Telemetry | None:
        return self._telemetry

    @property
    def waiting(self) -> bool:
        """The log does not exist yet."""
        return self._waiting

    @property
    def source_notice(self) -> str | None:
        return self._source_notice

    @property
    def run_count(self) -> int:
        return len(self.state.runs)

    @property
    def has_watchers(self) -> bool:
        """Someone is told every snapshot of the newest run (see `watch`)."""
        return bool(self._watchers)

    def watch(self, on_snapshot: Callable[[Snapshot], None]) -> None:
        """Hand every snapshot of the newest run to `on_snapshot` too (after those before it)."""
        self._watchers.append(on_snapshot)

    def note(self, t: float | None, kind: str, text: str) -> None:
        """A front end's own event in the current run's events (e.g. that --notify ran)."""
        self.state.current.note(t, kind, text)

    # --- the one way in ---

    def ingest(self, events: Iterable[SourceEvent]) -> bool:
        """Fold the sources' events in, in order; True when what a record or the charts show
        changed (GPU samples alone do not count: they are shown at the next tick)."""
        changed = False
        for event in events:
            changed = self._ingest(event) or changed
        return changed

    def _ingest(self, event: SourceEvent) -> bool:
        match event:
            case LinesRead() | BlockRead() | PartialRead():
                flipped, self._waiting = self._waiting, False  # lines come before "following" is said
                self._reader_notice = None  # the reader got through again
                self._take_back_partial()
                if isinstance(event, PartialRead):
                    self._before_partial = save(self.state, self.parser, self.printed_clock)
                    return self.feed(event.line, event.t) or flipped
                if isinstance(event, BlockRead):
                    return self.feed_block(event.block, event.t) or flipped
                return self._feed_lines(event.lines) or flipped
            case SourceChanged(state):
                self._source_state = state
                was_waiting, self._waiting = self._waiting, state == "waiting"
                if state in ("following", "waiting", "ended"):
                    self._source_notice = None
                if state == "ended":
                    self.state.current.note(self._clock(), "warning", "the input ended (no more lines)")
                return was_waiting != self._waiting
            case SourceFailed(problem):
                if isinstance(problem, LoopFailed):
                    self._reader_notice = str(problem)  # lasts until lines come again
                elif self._source_state in ("deleted", "unreadable"):
                    self._source_notice = problem  # lasts until the file is back
                self.state.current.note(self._clock(), "warning", str(problem))
                return True
            case SourceReset():
                self._before_partial = None  # what was read stands: a new run follows
                self._reset()
                return True
            case FileTouched(mtime):
                self._file_mtime = mtime
                return False
            case GpuWatched(origin, unavailable):
                self._telemetry = Telemetry(origin)
                if unavailable is not None:
                    self._telemetry.unavailable(unavailable)
                return False
            case GpuSampled(samples):
                if self._telemetry is None:
                    self._telemetry = Telemetry()
                self._telemetry.add(samples)
                if samples:
                    self._gpu_notice = None  # the sampler got through again
                return False
            case GpuFailed(problem):
                return self._gpu_failed(problem)
            case WriterFound():
                self._writer_exit = None
                return False
            case WriterExited(pid, t):
                self._writer_exit = WriterExit(pid, t)
                return True
        raise TypeError(f"not a source event: {event!r}")

    def _gpu_failed(self, problem: GpuProblem) -> bool:
        if isinstance(problem, GpuUnavailable):
            if self._telemetry is None:
                self._telemetry = Telemetry()
            self._telemetry.unavailable(problem.reason)
            return True
        if isinstance(problem, LoopFailed):
            self._gpu_notice = str(problem)  # lasts until samples come again
        # one GPU (or endpoint) stopped answering; the others are still sampled
        self.state.current.note(self._clock(), "warning", str(problem))
        return True

    @property
    def format(self) -> str | None:
        return self.parser.name

    def feed(self, line: bytes | str, t: float | None = None) -> bool:
        """One log line (without its newline) seen at `t`; True when the run changed."""
        t, events = self._events(line, t)
        self.state.line_seen(t)
        return self._apply(events)

    def _events(self, line: bytes | str, t: float | None) -> tuple[float | None, list[tuple[float | None, Event]]]:
        """The line's time (its printed timestamp where it has one) and its events."""
        text = decode(line) if isinstance(line, bytes) else line
        out: list[tuple[float | None, Event]] = []
        for segment in segments(text):
            segment = self.margin.cut(segment)
            prefixed = strip(segment)
            if prefixed is None:
                events = self.parser.feed(t, segment)
                if self.printed_clock.undecided and any(isinstance(e, Iteration) for _, e in events):
                    self.printed_clock.decide(None)  # times were printed, but not on the step lines
            else:
                t, events = self._prefixed_events(prefixed, t)
            out.extend(events)
        return t, out

    def _prefixed_events(self, prefixed: Stripped, t: float | None) -> tuple[float | None, list[tuple[float | None, Event]]]:
        """The events of a line whose prefix was stripped, with its printed time and rank."""
        if prefixed.printed_s is not None:
            self._settle()  # what follows reads the run state, and may move its times
        clock = self.printed_clock
        line_t = self._printed_time(prefixed.printed_s, t)
        events = self.parser.feed(line_t, prefixed.text)
        if prefixed.launch:  # torchrun starting processes: a new run from this line on
            events = [(line_t, RunStarted(prefixed.text)), *events]
        # The first step line after a printed time decides, as an unprefixed one (a rank tag
        # says nothing of time: the bulk path reads tagged step lines without their tags).
        steps = clock.undecided and any(isinstance(e, Iteration) for _, e in events)
        if steps and clock.decide(prefixed.printed_s):  # the step lines are timed: so is every line
            if self.state.current.first_t is None:
                self.state.current.first_t = clock.first_printed_s
            line_t = self._printed_time(prefixed.printed_s, t)
            events = [(line_t, e) for _, e in events]
        if clock.in_use and prefixed.resolution_s is not None:  # the lines are timed to that digit
            run = self.state.current
            run.t_resolution_s = max(run.t_resolution_s, prefixed.resolution_s)
        if prefixed.rank is not None:  # which rank raised it
            events = [(et, Crash(e.message, e.interrupted, prefixed.rank) if isinstance(e, Crash) else e)
                      for et, e in events]
        return line_t, events

    def _printed_time(self, printed_s: float | None, t: float | None) -> float | None:
        if printed_s is None:
            return t
        line_t, shift = self.printed_clock.time(printed_s, t)
        if shift is not None:
            self.state.shift_times(shift)
        return line_t

    def _apply(self, events: list[tuple[float | None, Event]]) -> bool:
        changed = False
        for event_t, event in events:
            changed = self.state.apply(event, event_t) or changed
        return changed

    def _take_back_partial(self) -> None:
        """Put the reading back as it stood before the provisional last line: the line that
        comes now completes it (or is it, grown), and is read whole in its place."""
        before, self._before_partial = self._before_partial, None
        if before is not None:
            self.state, self.parser, self.printed_clock = before.state, before.parser, before.printed_clock

    def _reset(self) -> None:
        """The source started over (truncated, or replaced by another file): what follows
        is a new run, parsed afresh."""
        if self.state.current.lines:
            self.state.runs.append(Run(len(self.state.runs)))
        self.parser = AutoParser(self.options.fmt)
        self.printed_clock = PrintedClock()
        self.margin = Margin()

    def _feed_lines(self, lines: Sequence[tuple[float | None, bytes]]) -> bool:
        """Lines in runs of equal arrival time (a source's batch mostly has one time for all)."""
        if not lines:
            return False
        if lines[0][0] == lines[-1][0]:  # arrival times never go back: all lines share it
            return self.feed_many([line for _, line in lines], lines[0][0])
        changed = False
        for t, group in itertools.groupby(lines, key=lambda item: item[0]):
            changed = self.feed_many([line for _, line in group], t) or changed
        return changed

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
        marked: tuple[np.ndarray, np.ndarray] | None = None  # the lines a skim marks (see _skim)
        i = 0
        while i < len(starts):
            scan = self.parser.scan_iterations
            if scan is not None and len(starts) - i >= SCAN_MIN_LINES:
                # Launchers' rank tags: the bulk reader reads the step lines without them; every other
                # line goes through the line path as printed (a tag names the rank that raised an error).
                cols = scan_lines(scan, data, strip_block(data), starts, ends, i)
                return self._feed_scanned(data, starts[i:], ends[i:], cols, t) or changed
            if self.parser.skimming and self.margin.learnt and len(starts) - i >= SCAN_MIN_LINES:
                if marked is None:
                    marked = marked_lines(data, len(starts), stamps=self.printed_clock.first_printed_s is None)
                i = self._skim(data, starts, ends, i, marked, t)
                if i == len(starts):
                    break
            changed = self.feed(bound(data[starts[i] : ends[i]]), t) or changed
            i += 1
        return changed

    def _skim(self, data: bytes, starts: np.ndarray, ends: np.ndarray, i: int,
              marked: tuple[np.ndarray, np.ndarray], t: float | None) -> int:
        """Lines i.. of a log no family has recognised, up to the next one that may matter
        (`marked`: skim.marked_lines) or the end: counted and kept for the replay at
        detection, not read one by one (the line path does nothing else with them).
        Returns the index of that next line."""
        signals, stamps = marked
        k = int(np.searchsorted(signals, i))
        end = int(signals[k]) if k < len(signals) else len(starts)
        if self.printed_clock.first_printed_s is None:  # until a time is read, a line that may print one
            k = int(np.searchsorted(stamps, i))
            end = min(end, int(stamps[k])) if k < len(stamps) else end
        if end > i:
            self.state.line_seen(t, end - i)
            self.parser.skim(t, data, starts[i:end], ends[i:end], self.margin.cut)
        return end

    def _feed_scanned(self, data: bytes, starts: np.ndarray, ends: np.ndarray, cols: IterationColumns,
                      t: float | None) -> bool:
        """The lines data[starts[i]:ends[i]], of which the bulk reader read `cols`."""
        # The plain step lines and the lines among them wait in a batch, folded in at once at
        # the end, or before anything reads or moves the run state (a printed time, a line
        # that goes through the line path).
        batch = self._batch = Batch(cols, t)
        try:
            edges = (np.flatnonzero(cols.ok[1:] != cols.ok[:-1]) + 1).tolist()
            for a, b in zip([0, *edges], [*edges, len(starts)]):
                if not cols.ok[a]:
                    for i in range(a, b):
                        self._feed_unread(i, bound(data[starts[i] : ends[i]]), t, batch)
                    continue
                first = a
                if not self.parser.plain():
                    # Inside a config dump, say: parse() ends it, so this line goes through it.
                    batch.fold(self.state)
                    batch.changed = self.feed(data[starts[a] : ends[a]], t) or batch.changed
                    first += 1
                if self.printed_clock.undecided:  # these step lines print no time (see _events)
                    self.printed_clock.decide(None)
                self.parser.absorb(cols, first, b)
                batch.add_rows(first, b)
            batch.fold(self.state)
        finally:
            self._batch = None
        return batch.changed

    def _feed_unread(self, i: int, line: bytes, t: float | None, batch: Batch) -> None:
        """Line i of the batch's piece, which the bulk reader left to the parser."""
        line_t, events = self._events(line, t)
        if line_t == t:  # as the rows: its events wait with them
            batch.add_line(i, events)
            return
        batch.fold(self.state)  # a printed time: in order, after the lines before it
        self.state.line_seen(line_t)
        batch.changed = self._apply(events) or batch.changed

    def _settle(self) -> None:
        """Fold in the lines a bulk read holds back, before the run state is read or moved."""
        if self._batch is not None:
            self._batch.fold(self.state)

    def _options(self) -> Options:
        name = self.state.current.config.get("dataset")
        if self.options.dataset_tokens is not None or self._dataset_lookup is None or not isinstance(name, str):
            return self.options
        if name not in self._dataset_sizes:
            self._dataset_sizes[name] = self._dataset_lookup(name)
        return replace(self.options, dataset_tokens=self._dataset_sizes[name])

    def chart_key(self, run_index: int | None = None) -> tuple[object, ...]:
        """What the charts of the current run (or run `run_index`) draw changes only when this
        does (core.history.chart_key): a front end rebuilds them only then."""
        return chart_key(self.state.current if run_index is None else self.state.runs[run_index])

    def snapshot(self, now: float | None = None, charts: bool = False, run_index: int | None = None) -> Snapshot:
        """The current run (or run `run_index`) at `now`; an earlier run as it stood at its last line."""
        if now is None:
            now = self._clock()
        shift = self.printed_clock.anchor_to_mtime(self._file_mtime)
        if shift is not None:
            self.state.shift_times(shift)
        if run_index is not None and run_index < len(self.state.runs) - 1:
            ended = self.state.runs[run_index].last_line_t
            now = now if ended is None else ended
        snap = build(self.state, self.format, self._options(), now, file_mtime=self._file_mtime, waiting=self._waiting,
                     charts=charts, run_index=run_index, telemetry=self._telemetry, writer_exit=self._writer_exit)
        notices = tuple(n for n in (self._source_notice, self._reader_notice, self._gpu_notice) if n)
        if notices:
            snap = replace(snap, warnings=(*snap.warnings, *notices))
        if run_index is None:
            for watcher in self._watchers:
                watcher(snap)
        return snap
