"""What needs every row of a run, kept in O(1) memory: the charts' min/max/mean envelopes and
the printed clock's running totals, each row folded in once, in order, before its columns
drop it.

PURE ring: numpy only; no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.core.envelope import Envelope

#: Printed step times kept from the rows the columns dropped, for the printed clock's median
#: where the kept rows print none (report.ELAPSED_MEDIAN_WINDOW).
RECENT_PRINTED = 1001


class Folds:
    """Running folds of a run's first rows: the printed clock's (rows 0 .. `clock_rows` - 1:
    the count and sum (s) of the finite printed step times, the steps between logged lines)
    and the charts' (rows 0 .. `chart_rows` - 1: loss and step-time envelopes against the
    step), each brought up to date when it is read or before rows are dropped; and the
    newest RECENT_PRINTED finite printed step times of the dropped rows."""

    __slots__ = ("_last_iter", "chart_rows", "clock_rows", "loss", "recent_printed_s", "step", "timed", "total_s",
                 "unlogged")

    def __init__(self) -> None:
        self.clock_rows = self.chart_rows = 0
        self.loss, self.step = Envelope(), Envelope()
        self.timed, self.total_s, self.unlogged = 0, 0.0, 0
        self._last_iter: int | None = None
        self.recent_printed_s = np.empty(0)

    def __repr__(self) -> str:
        return (f"Folds(clock_rows={self.clock_rows}, timed={self.timed}, total_s={self.total_s!r}, "
                f"unlogged={self.unlogged}, chart_rows={self.chart_rows})")

    def fold_clock(self, iters: np.ndarray, step_time_s: np.ndarray) -> None:
        """The next rows of the printed clock, in order (steps; printed step times, NaN: none)."""
        if not len(iters):
            return
        first = int(iters[0])
        if self._last_iter is not None:
            self.unlogged += max(0, first - self._last_iter - 1)
        if len(iters) == 1:  # a live log's new line: no numpy for one number
            printed = float(step_time_s[0])
            if math.isfinite(printed):
                self.timed += 1
                self.total_s += printed
        else:
            finite = step_time_s[np.isfinite(step_time_s)]
            self.timed += len(finite)
            self.total_s += float(finite.sum())
            self.unlogged += int(np.clip(np.diff(iters) - 1, 0, None).sum())
        self._last_iter = int(iters[-1])
        self.clock_rows += len(iters)

    def fold_charts(self, iters: np.ndarray, loss: np.ndarray, step_time_s: np.ndarray) -> None:
        """The next rows of the charts, in order (steps, losses, printed step times; NaN: none)."""
        if not len(iters):
            return
        self.loss.extend(iters, loss)
        self.step.extend(iters, step_time_s)
        self.chart_rows += len(iters)

    def dropped(self, step_time_s: np.ndarray) -> None:
        """The printed step times of rows the columns drop, in order."""
        printed = step_time_s[np.isfinite(step_time_s)]
        if len(printed):
            self.recent_printed_s = np.concatenate([self.recent_printed_s, printed[-RECENT_PRINTED:]])[-RECENT_PRINTED:]
