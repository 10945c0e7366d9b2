"""Lines read in bulk folded into a RunState at once: a piece's step rows and, between them,
the other lines' events, in one call (the cold open's per-eval cost is one Python step);
Batch holds a piece's lines until they are folded in; scan_lines reads its step rows.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from monitor.core.events import Checkpoint, Eval, Event, Iteration, PyWarning, ScheduleChanges
from monitor.core.formats.scan import IterationColumns
from monitor.core.lines import line_bounds
from monitor.core.run import MAX_STEP, RunState

#: Fewer rows than this are folded in one at a time: extend_iterations' numpy setup (~50 µs)
#: would cost more.
BULK_MIN_ROWS = 16
#: Events whose folding reads nothing of the run's rows but its last step (Eval: does it go
#: back?) and changes none of them: they may be folded in before the rows printed before them.
#: Not TrainingEnded: after a run's end its last step said again starts the next run.
#: A buffer of fewer lines is read line by line, by the session (monitor/reading.py) and by a
#: replay's pacer (monitor/sources/replay.py): reading it in bulk has a cost of its own (~0.5 ms),
#: ~25 lines' worth on the line path (a live log's few new lines, every poll). From 32 lines the
#: bulk path is cheaper (~16 against ~25 µs a line at 32 lines a read; 10 against 20 at 100, a log
#: growing 1,000 lines/s read every 0.1 s): BENCHMARKS.md.
SCAN_MIN_LINES = 32
_ROW_FREE = (Eval, Checkpoint, PyWarning, ScheduleChanges)

#: Events among the rows: (k, events, a_line): they came before row k, on a line of their own
#: (a_line; no events: a line the parser knows nothing of) or after row k - 1 on its line.
Mark = tuple[int, Sequence[tuple[float | None, Event]], bool]


@dataclass(frozen=True, slots=True)
class StepRows:
    """Step lines read in bulk: row i is Iteration(iters[i], loss[i], step_time_s[i], mfu[i],
    train_time_s=..., max_iters=...), NaN where the line does not print the field (None: a
    field no row prints). Never a printed nan or inf loss: the line path notes those."""

    iters: np.ndarray
    loss: np.ndarray
    step_time_s: np.ndarray
    mfu: np.ndarray
    train_time_s: np.ndarray | None = None
    max_iters: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.iters)


def fold_lines(state: RunState, rows: StepRows, t: float | None, marks: Sequence[Mark]) -> bool:
    """Fold in lines all seen at `t`: the step rows and the marks' lines among them (marks
    in order of k). The same as state.line_seen(t) and state.apply() for each line in order;
    True when the run changed.

    An eval, a checkpoint or a warning among the rows is folded in at once and its line
    counted with the rows around it, which go in together; the rows are folded in before a
    mark only where its events need them (a new run, a crash, a step no row could hold)."""
    n = len(rows)
    # lines counted with the rows: silent[k] of them before row k, silent[n] after the last
    silent = np.zeros(n + 1, dtype=np.int64)
    steps = np.diff(rows.iters)
    shape = _Shape((np.flatnonzero(steps < 0) + 1).tolist(), (np.flatnonzero(steps == 0) + 1).tolist())
    folded = 0  # rows before this one are in
    changed = False
    for k, events, a_line in marks:
        if _row_free(state, rows, folded, k, shape, events):
            silent[k] += a_line
            for event_t, event in events:
                changed = state.apply(event, event_t) or changed
            continue
        changed = _extend(state, rows, folded, k, silent, t, shape) or changed
        folded, silent[k] = k, 0
        if a_line:
            state.line_seen(t)
        for event_t, event in events:
            changed = state.apply(event, event_t) or changed
    return _extend(state, rows, folded, n, silent, t, shape) or changed


@dataclass(frozen=True, slots=True)
class _Shape:
    """Where the rows' steps go back (a new run) and repeat (a line again), in order: row
    i with iters[i] below or equal to iters[i - 1]."""

    back: list[int]
    repeat: list[int]

    def rising(self, rows: StepRows, a: int, b: int, last: int | None) -> bool:
        """True when rows a..b-1 each go above the one before, and row a above `last`."""
        return (last is None or rows.iters[a] > last) and not _within(self.back, a, b) and not _within(self.repeat, a, b)


def _within(rows: list[int], a: int, b: int) -> bool:
    """Whether sorted `rows` holds one of a+1..b-1."""
    i = bisect.bisect_right(rows, a)
    return i < len(rows) and rows[i] < b


def _row_free(state: RunState, rows: StepRows, folded: int, k: int, shape: _Shape,
              events: Sequence[tuple[float | None, Event]]) -> bool:
    """True when a line's events may be folded in before rows folded..k-1: those rows stay
    in the current run (no step goes back among them), and the events neither start a new
    run nor follow a crash (the rows would note that training went on after it)."""
    run = state.current
    if not events:
        return True
    if run.crash is not None or not all(isinstance(e, _ROW_FREE) for _, e in events):
        return False
    last = run.last_iter
    if k > folded:
        if (last is not None and rows.iters[folded] < last) or _within(shape.back, folded, k):
            return False
        last = int(rows.iters[k - 1])
    return last is None or all(e.iter >= last for _, e in events if isinstance(e, Eval))


def _extend(state: RunState, rows: StepRows, a: int, b: int, silent: np.ndarray, t: float | None,
            shape: _Shape) -> bool:
    """Rows a..b-1 and the lines counted with them (silent[a..b])."""
    if a < b and shape.rising(rows, a, b, state.current.last_iter):
        state.line_seen(t, b - a + int(silent[a : b + 1].sum()))
        state.append_iterations(rows.iters[a:b], rows.loss[a:b], rows.step_time_s[a:b], rows.mfu[a:b], t,
                                _part(rows.train_time_s, a, b), _part(rows.max_iters, a, b))
        return True
    if b - a >= BULK_MIN_ROWS:
        return state.extend_iterations(rows.iters[a:b], rows.loss[a:b], rows.step_time_s[a:b], rows.mfu[a:b], t,
                                       silent[a : b + 1], _part(rows.train_time_s, a, b), _part(rows.max_iters, a, b))
    changed = False
    for i in range(a, b):
        state.line_seen(t, int(silent[i]) + 1)
        changed = state.apply(row_iteration(rows, i), t) or changed
    state.line_seen(t, int(silent[b]))
    return changed


def _part(column: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
    return None if column is None else column[a:b]


def row_iteration(rows: StepRows, i: int) -> Iteration:
    """Row i as the parser's Iteration."""
    total = _value(rows.max_iters, i)
    return Iteration(int(rows.iters[i]), _value(rows.loss, i), _value(rows.step_time_s, i), _value(rows.mfu, i),
                     max_iters=None if total is None else int(total), train_time_s=_value(rows.train_time_s, i))


def _value(column: np.ndarray | None, i: int) -> float | None:
    """Row i of a column as Iteration holds it: None where not printed (NaN)."""
    if column is None:
        return None
    value = float(column[i])
    return None if math.isnan(value) else value


class Batch:
    """The lines of a piece read in bulk and not yet folded in (see fold_lines): its
    step rows, stretches of `cols`, and the other lines among them with their events."""

    def __init__(self, cols: IterationColumns, t: float | None) -> None:
        self.cols = cols
        self.t = t
        self.stretches: list[tuple[int, int]] = []  # (first row, end row) of cols
        self.rows = 0
        self.marks: list[Mark] = []
        #: what folding in changed so far
        self.changed = False

    def add_rows(self, first: int, end: int) -> None:
        if first >= end:
            return
        if self.stretches and self.stretches[-1][1] == first:
            self.stretches[-1] = (self.stretches[-1][0], end)
        else:
            self.stretches.append((first, end))
        self.rows += end - first

    def add_line(self, i: int, events: list[tuple[float | None, Event]]) -> None:
        """Line i of `cols`, read by the parser: a step line of the line path becomes row i,
        where the row is all its Iteration says (rows fold in faster than events)."""
        if events and self._take_row(i, *events[0]):
            self.add_rows(i, i + 1)
            if len(events) > 1:
                self.marks.append((self.rows, events[1:], False))
            return
        self.marks.append((self.rows, events, True))

    def _take_row(self, i: int, event_t: float | None, event: Event) -> bool:
        if not isinstance(event, Iteration) or event_t != self.t or event.share_total is not None:
            return False
        cols = self.cols
        if abs(event.iter) > MAX_STEP or (event.max_iters is not None and cols.max_iters is None):
            return False
        if event.train_time_s is not None and cols.train_time_s is None:
            return False
        fields = (event.loss, event.step_time_s, event.mfu, event.train_time_s)
        if any(x is not None and not math.isfinite(x) for x in fields):
            return False  # a printed nan: the run notes it, a row cannot say it
        cols.iter[i] = event.iter
        for column, x in zip((cols.loss, cols.step_time_s, cols.mfu, cols.train_time_s), fields):
            if column is not None:
                column[i] = math.nan if x is None else x
        if cols.max_iters is not None:
            cols.max_iters[i] = math.nan if event.max_iters is None else event.max_iters
        return True

    def fold(self, state: RunState) -> None:
        """Fold what is held into `state`; hold nothing after."""
        if not self.stretches and not self.marks:
            return
        cols, rows = self.cols, _rows_of(self.stretches)
        steps = StepRows(cols.iter[rows], cols.loss[rows], cols.step_time_s[rows], cols.mfu[rows],
                         _rows(cols.train_time_s, rows), _rows(cols.max_iters, rows))
        self.changed = fold_lines(state, steps, self.t, self.marks) or self.changed
        self.stretches, self.rows, self.marks = [], 0, []


def _rows_of(stretches: list[tuple[int, int]]) -> slice | np.ndarray:
    if len(stretches) == 1:
        return slice(*stretches[0])
    return np.concatenate([np.arange(first, end) for first, end in stretches] or [np.arange(0)])


def _rows(column: np.ndarray | None, rows: slice | np.ndarray) -> np.ndarray | None:
    return None if column is None else column[rows]


def scan_lines(scan: Callable[[bytes, np.ndarray, np.ndarray], IterationColumns], data: bytes,
               untagged: bytes | None, starts: np.ndarray, ends: np.ndarray, i: int) -> IterationColumns:
    """A family's bulk reader's columns for the lines i.. of `data` (bounds `starts`, `ends`),
    read from `untagged` where there is one: the same lines without their rank tags
    (formats.prefix.strip_block), line for line."""
    if untagged is None:
        return scan(data, starts[i:], ends[i:])
    bare_starts, bare_ends = line_bounds(untagged)
    return scan(untagged, bare_starts[i:], bare_ends[i:])
