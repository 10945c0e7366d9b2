"""Finish-time estimate: steady step time without warm-up, eval pauses, a band.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.plan import Plan
from monitor.run import Run

#: Logged steps at the start of a process that carry compile / first-call overhead.
WARMUP_STEPS = 5
WINDOW = 64


@dataclass(frozen=True, slots=True)
class Estimate:
    step_time_s: float | None = None
    eval_time_s: float | None = None
    remaining_s: float | None = None
    finish: float | None = None
    low: float | None = None
    high: float | None = None
    train_remaining_s: float | None = None
    eval_remaining_s: float | None = None


def _evals_between(lo: int, hi: int, interval: int | None) -> int:
    """Multiples of `interval` in (lo, hi]."""
    if not interval or hi <= lo:
        return 0
    return hi // interval - lo // interval


def estimate(run: Run, plan: Plan, now: float) -> Estimate:
    n = run.n_iters
    if n == 0:
        return Estimate()
    iters = run.iters.values
    times = run.step_time_s.values
    normal = iters >= iters[0] + WARMUP_STEPS
    if plan.eval_interval:
        is_eval = iters % plan.eval_interval == 0
        normal &= ~is_eval
    else:
        is_eval = np.zeros(n, dtype=bool)
    steady = times[normal & np.isfinite(times)][-WINDOW:]
    if len(steady) < 3:
        return Estimate()
    step = float(np.median(steady))
    eval_samples = times[is_eval & (iters > iters[0]) & np.isfinite(times)]
    if len(eval_samples):
        eval_cost = max(0.0, float(np.median(eval_samples[-5:])) - step)
    elif plan.eval_iters and plan.grad_accum:
        eval_cost = step * 2 * plan.eval_iters / (3 * plan.grad_accum)
    else:
        eval_cost = None
    if plan.final_iter is None:
        return Estimate(step_time_s=step, eval_time_s=eval_cost)
    last = int(iters[-1])
    steps_left = max(0, plan.final_iter - last)
    train_left = steps_left * step
    evals_left = _evals_between(last, plan.final_iter, plan.eval_interval)
    eval_left = evals_left * (eval_cost or 0.0)
    remaining = train_left + eval_left
    last_t = run.last_t
    if last_t is not None:
        remaining = max(0.0, remaining - max(0.0, now - last_t))
    spread = float(np.median(np.abs(steady - step))) / step if step > 0 else 0.0
    rel = min(0.5, 0.02 + 2 * spread / np.sqrt(len(steady)))
    return Estimate(
        step_time_s=step,
        eval_time_s=eval_cost,
        remaining_s=remaining,
        finish=now + remaining,
        low=now + remaining * (1 - rel),
        high=now + remaining * (1 + rel),
        train_remaining_s=train_left,
        eval_remaining_s=eval_left,
    )
