"""Session: one log source and its GPU telemetry, folded into Snapshots on demand. Every
source's events come in through `Session.ingest` (see monitor.inbox); nothing else sets its state.

Glue between the rings: imports the PURE core, never textual. The clock is injected.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

import numpy as np

from monitor.core.batch import Batch
from monitor.core.carryover import plausible_next
from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import Margin, Partials, PrintedClock
from monitor.core.history import chart_key
from monitor.core.provisional import Before, save
from monitor.core.report import Options, WriterExit, build
from monitor.core.run import Run, RunState
from monitor.core.snapshot import Snapshot
from monitor.core.telemetry import Telemetry
from monitor.core.trainrun import Continuation, Note, ResetCause
from monitor.inbox import (
    SMALL_READ_BYTES,
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
    TimedBlockRead,
    WriterExited,
    WriterFound,
)
from monitor.logcut import LINE_EVENTS, UNDECIDED_BYTES, UNDECIDED_LINES, Cut, byte_count, line_count, other_family
from monitor.reading import BULK_BLOCK_BYTES, LogReading
from monitor.sources.handover import PARTIAL_SETTLE_S
from monitor.sources.problems import GpuProblem, GpuUnavailable, LoopFailed, WriterOnMovedFile

#: A line the parser holds for the next (a modded fork's train line without a clock) is shown
#: once the log has been quiet this long (s): the time a partial last line takes to settle.
HELD_SETTLE_S = PARTIAL_SETTLE_S


#: Reads at most this long (bytes) are joined with their neighbours (Session.ingest): a live
#: log's appends, not the big reads of a cold start (each is read in bulk on its own).
JOIN_READ_BYTES = SMALL_READ_BYTES
#: At most this much is joined into one block (reading.BULK_BLOCK_BYTES, the bulk reader's piece).
JOIN_MAX_BYTES = BULK_BLOCK_BYTES


def _small_reads_end(events: list[SourceEvent], i: int) -> int:
    """The end of the run of small BlockReads from events[i] (i itself when there is none):
    each stamped with a time and ending with its last line's newline, JOIN_MAX_BYTES at most
    together (the bulk reader's working memory grows with its buffer, as in feed_block)."""
    end, joined = i, 0
    while end < len(events):
        event = events[end]
        if not (isinstance(event, BlockRead) and event.t is not None and len(event.block) <= JOIN_READ_BYTES
                and event.block.endswith(b"\n")) or joined + len(event.block) > JOIN_MAX_BYTES:
            break
        joined += len(event.block)
        end += 1
    return end


def _joined(reads: list[BlockRead]) -> TimedBlockRead:
    """BlockReads as one TimedBlockRead: each line at the time of the read it came in."""
    counts = [read.block.count(b"\n") for read in reads]
    times = np.repeat(np.array([read.t for read in reads], dtype=np.float64), counts)
    return TimedBlockRead(b"".join(read.block for read in reads), times)


class Session(LogReading):
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
        #: the pieces of a line a container runtime split (CRI `P` records), until its end
        self.partials = Partials()
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
        #: a log that started over whose new lines have not yet said whether its run goes on
        self._cut: Cut | None = None
        #: the note a source's problem just added (its "reading it from the start" before a reset):
        #: a cut the run goes on through replaces it with one note that says so
        self._failed_note: Note | None = None
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
        return self.state.shown_count

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
        for event in self._reads_joined(events):
            cut = self._cut
            if cut is not None and isinstance(event, (*LINE_EVENTS, SourceChanged, SourceFailed, SourceReset)):
                cut.events.append(event)
            changed = self._ingest(event) or changed
            if cut is not None and self._cut is cut and isinstance(event, LINE_EVENTS):
                changed = self._judge_cut(cut, event) or changed
        return changed

    def _reads_joined(self, events: Iterable[SourceEvent]) -> Iterator[SourceEvent]:
        """`events`, consecutive small reads of a log whose family has a bulk reader joined into
        one block, each line at its read's time (feed_timed: the same as feed() on each line at
        its time). A live log written a line at a time is read a few lines a read; one read at a
        time, each of those lines went through the line path (11-20x the CPU a line of reads
        joined: benchmarks/joined_reads.py, BENCHMARKS.md "Following a log written a line at a time").
        Decided as each event comes (the family may be found by the event before); not while a
        cut is judged (_judge_cut weighs the reads as they came)."""
        events = list(events)
        i = 0
        while i < len(events):
            joining = self.parser.scan_iterations is not None and self._cut is None
            end = _small_reads_end(events, i) if joining else i
            if end - i >= 2:
                yield _joined(events[i:end])  # type: ignore[arg-type]
                i = end
            else:
                yield events[i]
                i += 1

    def _ingest(self, event: SourceEvent) -> bool:
        failed, self._failed_note = self._failed_note, None  # only the event just before a reset
        match event:
            case LinesRead() | BlockRead() | TimedBlockRead() | PartialRead():
                flipped, self._waiting = self._waiting, False  # lines come before "following" is said
                self._reader_notice = None  # the reader got through again
                self._take_back_partial()
                if isinstance(event, PartialRead):
                    self._before_partial = save(self.state, self.parser, self.printed_clock)
                    return self.feed(event.line, event.t) or flipped
                if isinstance(event, BlockRead):
                    return self.feed_block(event.block, event.t) or flipped
                if isinstance(event, TimedBlockRead):
                    return self.feed_timed(event.block, event.times) or flipped
                return self._feed_lines(event.lines) or flipped
            case SourceChanged(state):
                self._source_state = state
                was_waiting, self._waiting = self._waiting, state == "waiting"
                if state in ("following", "waiting", "ended"):
                    self._source_notice = None
                if state == "ended":
                    self.release_held()  # no line comes for what the parser holds
                    self.state.current.note(self._clock(), "warning", "the input ended (no more lines)")
                return was_waiting != self._waiting
            case SourceFailed(problem):
                if isinstance(problem, LoopFailed):
                    self._reader_notice = str(problem)  # lasts until lines come again
                elif isinstance(problem, WriterOnMovedFile):
                    self._source_notice = str(problem)  # lasts until the new file gets lines (a reset)
                elif self._source_state in ("deleted", "unreadable"):
                    self._source_notice = problem  # lasts until the file is back
                run = self.state.current
                run.note(self._clock(), "warning", str(problem))
                self._failed_note = run.notes[-1]
                return True
            case SourceReset(cause):
                self._before_partial = None  # what was read stands
                self._source_notice = None  # a file is read again from its start
                if self._cut is None:
                    self._reset(cause, failed)
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

    def _take_back_partial(self) -> None:
        """Put the reading back as it stood before the provisional last line: the line that
        comes now completes it (or is it, grown), and is read whole in its place."""
        before, self._before_partial = self._before_partial, None
        if before is not None:
            self.state, self.parser, self.printed_clock = before.state, before.parser, before.printed_clock

    def _release_when_quiet(self, now: float) -> None:
        """What the parser holds for the next line is shown once the log has been quiet
        HELD_SETTLE_S (or its lines were in it at the start), provisionally, as a partial last
        line is: the next lines take it back and are read with it held (_take_back_partial)."""
        if not self.parser.holds():
            return
        last_t = self.state.current.last_line_t
        if last_t is not None and now - last_t < HELD_SETTLE_S:
            return
        if self._before_partial is None:
            self._before_partial = save(self.state, self.parser, self.printed_clock)
        self.release_held()

    def _reset(self, cause: ResetCause, said: Note | None = None) -> None:
        """The source started over (truncated, or replaced by another file). When the run had
        steps, or is in its start-up (a known family's lines, no crash, no end), its new lines are
        read as the run going on until they say (_judge_cut); else what follows is a new run,
        parsed afresh. `said`: the note the source's own word on the reset added (a cut the run
        goes on through replaces it: one cut, one event)."""
        run = self.state.current
        # a run with steps, or one in its start-up (a header read, no step yet: torch.compile
        # can take minutes) whose next lines may be its first steps
        starting = run.lines and self.parser.name is not None and run.crash is None and not run.ended
        if run.n_iters or starting:
            self._settle()
            self.state.started_over = True
            self._cut = Cut(cause, before=save(self.state, self.parser, self.printed_clock),
                            margin=copy.deepcopy(self.margin), partials=copy.deepcopy(self.partials),
                            runs=len(self.state.runs), rows=len(run.iters), family=self.parser.name,
                            over=run.crash is not None or run.ended, said=said)
            return
        self._new_reading()

    def _new_reading(self) -> None:
        """What follows is a new run, parsed afresh."""
        if self.state.current.lines:
            self.state.runs.append(Run(len(self.state.runs)))
        self.state.started_over = False  # a fresh reading: no run before it to start over from
        self.parser = AutoParser(self.options.fmt)
        self.printed_clock = PrintedClock()
        self.margin = Margin()
        self.partials = Partials()

    def _judge_cut(self, cut: Cut, event: SourceEvent) -> bool:
        """After lines that came since the log started over: the run goes on (noted), they
        begin a new run (read again as one), or it is not known yet. True when either was
        decided (what a record shows changed)."""
        if isinstance(event, PartialRead):
            return False  # a provisional line decides nothing: it is taken back
        cut.lines, cut.size = cut.lines + line_count(event), cut.size + byte_count(event)
        # the run that was cut: a batch may hold its next steps and, after them, a new run's header
        run = self.state.runs[cut.runs - 1]
        if len(run.iters) > cut.rows:
            at = max(cut.rows, run.iters.start)
            step, t_read = int(run.iters.since(at)[0]), float(run.t.since(at)[0])
            t = t_read if math.isfinite(t_read) else None
            goes_on: bool | None = not cut.over and plausible_next(cut.before.state.current, step, t)
            if goes_on:
                self._cut = None
                went_on = Continuation(cut.cause, cut.before.state.current.last_iter, step, t)
                run.continued.append(went_on)
                if not run.replace_note(cut.said, "resume", went_on.text()):
                    run.note(went_on.t, "resume", went_on.text())
                return True
        elif len(self.state.runs) > cut.runs:
            goes_on = False  # a start-up header, or the step counter started again
        elif other_family(event, cut.family) or cut.lines > UNDECIDED_LINES or cut.size > UNDECIDED_BYTES:
            goes_on = False
        else:
            goes_on = None
        if goes_on is None:
            return False
        self._read_again_as_new_run(cut)
        return True

    def _read_again_as_new_run(self, cut: Cut) -> None:
        """Put the reading back as it stood at the cut; read what came since as a new run."""
        self._cut = None
        self.state, self.parser, self.printed_clock = cut.before.state, cut.before.parser, cut.before.printed_clock
        self.margin, self.partials = cut.margin, cut.partials
        self._before_partial = None
        self._new_reading()
        for event in cut.events:  # as they came: a cut among them is judged as any cut
            self.ingest([event])

    def _options(self) -> Options:
        name = self.state.shown.config.get("dataset")
        if self.options.dataset_tokens is not None or self._dataset_lookup is None or not isinstance(name, str):
            return self.options
        if name not in self._dataset_sizes:
            self._dataset_sizes[name] = self._dataset_lookup(name)
        return replace(self.options, dataset_tokens=self._dataset_sizes[name])

    def chart_key(self, run_index: int | None = None) -> tuple[object, ...]:
        """What the charts of the current run (or run `run_index`) draw changes only when this
        does (core.history.chart_key): a front end rebuilds them only then."""
        return chart_key(self.state.shown if run_index is None else self.state.runs[run_index])

    def snapshot(self, now: float | None = None, charts: bool = False, run_index: int | None = None) -> Snapshot:
        """The current run (or run `run_index`) at `now`; an earlier run as it stood at its last line."""
        if now is None:
            now = self._clock()
        shift = self.printed_clock.anchor_to_mtime(self._file_mtime)
        if shift is not None:
            self.state.shift_times(shift)
        self._release_when_quiet(now)
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
