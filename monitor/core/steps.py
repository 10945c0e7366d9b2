"""A run's per-step rows at bounded memory: six columns that keep their first and newest rows,
and the folds that take every row in before the columns drop it.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.core.columns import Column, NanColumn
from monitor.core.folds import Folds

NAN = float("nan")
#: Rows of a run's per-step columns kept exactly: the newest TAIL_ROWS at least, twice as
#: many at most (older rows are folded into `Run.folds` and dropped, O(1) amortised a row;
#: room for at most 4 * TAIL_ROWS allocated: 2 MB a column). The estimator reads at most its
#: BACKLOG (2,048 rows) back, the eval pauses the rows around the evals these rows hold
#: (all of its MAX_EVALS = 256 where they span fewer rows), the report 1,001.
TAIL_ROWS = 1 << 16
#: Line times of the first rows that have one, kept for good (energy's steady start is the
#: first timed row 5 steps past the first step: at most the 6th timed row).
TIMED_HEAD = 8


class Steps:
    """The rows of one run's steps: step number, loss, printed step time, MFU, line time and
    training clock (NaN where not printed), in step order, each step above the one before."""

    def __init__(self) -> None:
        self.iters = Column(np.int64)
        self.loss = Column()
        self.step_time_s = Column()
        self.mfu = Column()
        self.t = NanColumn()
        self.train_time_s = NanColumn()
        #: the charts' envelopes and the printed clock's totals, over every row (see folded())
        self.folds = Folds()
        #: (step, line time) of the first TIMED_HEAD rows that have a line time
        self.timed_head: list[tuple[int, float]] = []

    def first_timed_at(self, step: int) -> float | None:
        """The line time of the first row at or after `step` that has one; `step` at most
        TIMED_HEAD - 1 steps past the first step (steps only rise: the rows kept for it)."""
        return next((t for it, t in self.timed_head if it >= step), None)

    def folded(self, charts: bool = False) -> Folds:
        """The folds, with every row of the run folded into the printed clock (and the charts)."""
        self._fold(len(self.iters), charts)
        return self.folds

    def _fold(self, upto: int, charts: bool) -> None:
        folds = self.folds
        at = folds.clock_rows
        if upto > at:
            folds.fold_clock(self.iters.since(at)[: upto - at], self.step_time_s.since(at)[: upto - at])
        at = folds.chart_rows
        if charts and upto > at:
            k = upto - at
            folds.fold_charts(self.iters.since(at)[:k], self.loss.since(at)[:k], self.step_time_s.since(at)[:k])

    def _columns(self) -> tuple[Column, ...]:
        return self.iters, self.loss, self.step_time_s, self.mfu, self.t, self.train_time_s

    def add_row(self, it: int, loss: float, step_time_s: float, mfu: float, t: float, train_time_s: float) -> None:
        """One new step's row (NaN: not printed), its step above the last one."""
        self.iters.append(it)
        self.loss.append(loss)
        self.step_time_s.append(step_time_s)
        self.mfu.append(mfu)
        self.t.append(t)
        self.train_time_s.append(train_time_s)
        if len(self.timed_head) < TIMED_HEAD and math.isfinite(t):
            self.timed_head.append((it, t))
        if self.iters.kept >= 2 * TAIL_ROWS:
            self._bound()

    def add_rows(self, iters: np.ndarray, loss: np.ndarray, step_time_s: np.ndarray, mfu: np.ndarray,
                 t: float | np.ndarray | None, train_time_s: np.ndarray | None) -> None:
        """New steps' rows, seen at `t` (or row i at t[i]), each step above the one before
        (add_row in bulk)."""
        if isinstance(t, np.ndarray):
            self._add_timed_head(iters, t)
        elif t is not None and len(self.timed_head) < TIMED_HEAD and math.isfinite(t):
            self.timed_head.extend((int(it), t) for it in iters[: TIMED_HEAD - len(self.timed_head)])
        for a in range(0, len(iters), TAIL_ROWS):  # pieces: the columns never hold over 2 * TAIL_ROWS
            b = a + TAIL_ROWS
            self.iters.extend(iters[a:b])
            self.loss.extend(loss[a:b])
            self.step_time_s.extend(step_time_s[a:b])
            self.mfu.extend(mfu[a:b])
            rows = len(iters[a:b])
            if isinstance(t, np.ndarray):
                self.t.extend(t[a:b])
            else:
                self.t.extend_same(NAN if t is None else t, rows)
            if train_time_s is None:
                self.train_time_s.extend_same(NAN, rows)
            else:
                self.train_time_s.extend(train_time_s[a:b])
            if self.iters.kept >= 2 * TAIL_ROWS:
                self._bound()

    def _add_timed_head(self, iters: np.ndarray, t: np.ndarray) -> None:
        """timed_head as add_row() for each row (its own time t[i]) would fill it."""
        for it, x in zip(iters.tolist(), t.tolist()):
            if len(self.timed_head) >= TIMED_HEAD:
                return
            if math.isfinite(x):
                self.timed_head.append((it, x))

    def _bound(self) -> None:
        """Keep the newest TAIL_ROWS rows: the older ones are folded in, then dropped."""
        drop = self.iters.kept - TAIL_ROWS
        self._fold(self.iters.start + drop, charts=True)
        self.folds.dropped(self.step_time_s.values[:drop])
        for column in self._columns():
            column.drop(drop)
