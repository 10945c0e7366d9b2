"""How a Session reads log lines into its run state: one line at a time through the parser, or a
block in bulk (the family's reader takes the plain step lines together, the rest go line by line),
with printed timestamps, rank tags and quoting margins taken off first.

Glue, beside session.py (Session is a LogReading): imports the PURE core, never textual.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from monitor.core.batch import SCAN_MIN_LINES, Batch, StepRows, row_iteration, scan_lines
from monitor.core.events import Crash, Event, Iteration, RunStarted, TrainingEnded
from monitor.core.formats import AutoParser
from monitor.core.formats.prefix import Margin, Partials, PrintedClock, Stripped, strip, strip_block
from monitor.core.formats.scan import IterationColumns
from monitor.core.formats.skim import marked_lines
from monitor.core.lines import bound, decode, line_bounds, segments
from monitor.core.run import MAX_STEP, RunState

#: Fewer lines than this are fed one by one: the bulk path's numpy setup would cost more.
BULK_MIN_LINES = 16
#: A larger buffer is fed in pieces of about this size (whole lines).
BULK_BLOCK_BYTES = 1 << 22


class LogReading:
    """Log lines into `state` through `parser` (the reading half of a Session; `feed`,
    `feed_many` and `feed_block` are its ways in)."""

    parser: AutoParser
    state: RunState
    #: puts the times printed before the lines (timestamps) onto this clock
    printed_clock: PrintedClock
    #: the indentation or quote markers a quoted log carries before every line
    margin: Margin
    partials: Partials
    #: a bulk read's lines not yet folded into `state` (see _feed_scanned)
    _batch: Batch | None
    #: the rank the line before was tagged with (None: untagged): a trainer's print() after
    #: its logger's tagged line is that rank's (Intel's module: `[RANK 2] Total Samples …`,
    #: then `Training completed!`)
    _line_rank: int | None = None

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
                events = self._carried_rank(events)
                self._line_rank = None
                if self.printed_clock.undecided and any(isinstance(e, Iteration) for _, e in events):
                    self.printed_clock.decide(None)  # times were printed, but not on the step lines
            else:
                joined = self.partials.join(prefixed)
                if joined is None:  # a piece of a longer line: read once its last piece comes
                    continue
                t, events = self._prefixed_events(joined, t)
                self._line_rank = joined.rank
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
        if prefixed.rank is not None:  # which rank printed it
            events = [(et, replace(e, rank=prefixed.rank) if isinstance(e, (Crash, TrainingEnded)) else e)
                      for et, e in events]
            if steps or any(isinstance(e, Iteration) for _, e in events):
                self.state.steps_from_rank(prefixed.rank)
        return line_t, events

    def _tags_stripped(self, data: bytes) -> bytes | None:
        """strip_block(data); the rank its tag names prints step lines (as the line path notes
        them: the bulk reader reads that rank's step lines without their tags)."""
        stripped = strip_block(data)
        if stripped is not None:
            end = data.find(b"\n")
            first = strip(decode(data[: end if end >= 0 else len(data)]))
            if first is not None and first.rank is not None:
                self.state.steps_from_rank(first.rank)
        return stripped

    def _carried_rank(self, events: list[tuple[float | None, Event]]) -> list[tuple[float | None, Event]]:
        """An untagged end line right after a tagged line is that rank's, where the step lines
        are tagged (their rank is followed): other ranks' ends then do not end the run."""
        rank = self._line_rank
        if rank is None or self.state.step_rank is None or not events:
            return events
        return [(et, replace(e, rank=rank) if isinstance(e, TrainingEnded) else e) for et, e in events]

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
                cols = scan_lines(scan, data, self._tags_stripped(data), starts, ends, i)
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

    def feed_timed(self, data: bytes, times: np.ndarray) -> bool:
        """The lines of `data` (split as feed_block splits them), line i seen at times[i] (a
        float64 array, one time a line: a replay's recorded or paced times). The same as
        feed() on each line at its time; once the family's bulk reader is known, its plain
        step lines are read together and folded in by the stretch, each row at its own time."""
        starts, ends = line_bounds(data)
        changed = False
        for i in range(len(starts)):
            scan = self.parser.scan_iterations
            if scan is not None and len(starts) - i >= SCAN_MIN_LINES:
                cols = scan_lines(scan, data, self._tags_stripped(data), starts, ends, i)
                return self._feed_scanned_timed(data, starts[i:], ends[i:], cols, times[i:]) or changed
            changed = self.feed(bound(data[starts[i] : ends[i]]), float(times[i])) or changed
        return changed

    def _feed_scanned_timed(self, data: bytes, starts: np.ndarray, ends: np.ndarray, cols: IterationColumns,
                            times: np.ndarray) -> bool:
        """feed_timed's lines data[starts[i]:ends[i]], of which the bulk reader read `cols`: as
        _feed_scanned, but each stretch of step rows is folded in when it ends (the rows'
        times differ, so no line waits in a Batch)."""
        changed = False
        edges = (np.flatnonzero(cols.ok[1:] != cols.ok[:-1]) + 1).tolist()
        for a, b in zip([0, *edges], [*edges, len(starts)]):
            if not cols.ok[a]:
                for i in range(a, b):
                    changed = self.feed(bound(data[starts[i] : ends[i]]), float(times[i])) or changed
                continue
            first = a
            if not self.parser.plain():  # as in _feed_scanned: this line goes through parse()
                changed = self.feed(data[starts[a] : ends[a]], float(times[a])) or changed
                first += 1
            if self.printed_clock.undecided:  # these step lines print no time (see _events)
                self.printed_clock.decide(None)
            self.parser.absorb(cols, first, b)
            changed = self._fold_timed_rows(cols, first, b, times) or changed
        return changed

    def _fold_timed_rows(self, cols: IterationColumns, a: int, b: int, times: np.ndarray) -> bool:
        """Rows a..b-1 of `cols`, one step line each, row i seen at times[i]: line_seen() and
        apply() for each, in one step when they all go to the current run in order."""
        if a >= b:
            return False
        rows = StepRows(cols.iter[a:b], cols.loss[a:b], cols.step_time_s[a:b], cols.mfu[a:b],
                        None if cols.train_time_s is None else cols.train_time_s[a:b],
                        None if cols.max_iters is None else cols.max_iters[a:b])
        last = self.state.current.last_iter
        rising = ((last is None or rows.iters[0] > last) and bool((np.diff(rows.iters) > 0).all())
                  and int(np.abs(rows.iters).max()) <= MAX_STEP)
        if rising:
            self.state.lines_seen_at(times[a:b])
            self.state.append_iterations(rows.iters, rows.loss, rows.step_time_s, rows.mfu, times[a:b],
                                         rows.train_time_s, rows.max_iters)
            return True
        changed = False
        for i in range(b - a):  # a step back (a new run) or a repeated line among them: one by one
            t = float(times[a + i])
            self.state.line_seen(t)
            changed = self.state.apply(row_iteration(rows, i), t) or changed
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

    def release_held(self) -> bool:
        """Fold in what the parser holds for a line that has not come (a modded fork's train
        line without a clock waits for its val line): at the end of the log, or after a quiet
        time. True when the run changed."""
        self._settle()
        if not self.parser.holds():
            return False
        return self._apply(self.parser.release(self.state.current.last_line_t))

    def _settle(self) -> None:
        """Fold in the lines a bulk read holds back, before the run state is read or moved."""
        if self._batch is not None:
            self._batch.fold(self.state)
