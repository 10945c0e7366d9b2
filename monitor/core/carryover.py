"""Whether what a log holds after it was truncated or rotated goes on with the run it held
before (logrotate's copytruncate, `: > run.log` under a writer that keeps appending, a renamed
log recreated) or is a new run (a start-up header, the step counter starting again).

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math

import numpy as np

from monitor.core.trainrun import Run

__all__ = ["plausible_next"]

#: Logged steps that may be missing at the cut (copytruncate loses what the writer wrote
#: between the copy and the truncation), over the steps the time between the two files allows.
LOST_ROWS = 10
#: Without line times, a first step this many logged steps past the last one still continues;
#: for a run cut before its first step, the highest step number that continues it.
UNTIMED_ROWS = 100
#: Rows the step rate and the logging stride are taken from.
RATE_ROWS = 64


def plausible_next(run: Run, step: int, t: float | None) -> bool:
    """True when `step`, read at `t` from a log that started over, can follow the last step of
    `run`: above it, and no further than twice the steps the run's pace allows in the time
    between the two (plus LOST_ROWS logged steps lost at the cut); UNTIMED_ROWS logged steps
    where either time is unknown; for a run with no step yet, one of its first."""
    last = run.last_iter
    if last is None:  # cut in its start-up: one of its first steps (step numbers, not logged rows)
        return 0 <= step <= UNTIMED_ROWS
    if step <= last:
        return False
    iters = run.iters.values[-RATE_ROWS:]
    stride = float(np.median(np.diff(iters))) if len(iters) > 1 else 1.0
    per_step_s = _seconds_per_step(run)
    last_t = run.last_t
    if per_step_s is None or t is None or last_t is None or not math.isfinite(t - last_t):
        return step - last <= UNTIMED_ROWS * stride
    return step - last <= 2 * max(0.0, t - last_t) / per_step_s + LOST_ROWS * stride


def _seconds_per_step(run: Run) -> float | None:
    """The run's wall time per step from its newest timed rows, else its printed step time."""
    iters = run.iters.values[-RATE_ROWS:]
    t = run.t.values[-RATE_ROWS:]
    timed = np.isfinite(t)
    if timed.sum() >= 2:
        it, tt = iters[timed], t[timed]
        if it[-1] > it[0] and tt[-1] > tt[0]:
            return float((tt[-1] - tt[0]) / (it[-1] - it[0]))
    printed = run.step_time_s.values[-RATE_ROWS:]
    printed = printed[np.isfinite(printed) & (printed > 0)]
    return float(np.median(printed)) if len(printed) else None
