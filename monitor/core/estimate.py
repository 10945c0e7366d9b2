"""Finish-time estimate: steady step time without warm-up (from line arrival times,
printed step times or a cumulative train clock), a change-point test so that real speed
changes are followed and noise is not, eval pauses learned or predicted, and a band.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import itertools
import math
import weakref
from dataclasses import dataclass

import numpy as np

from monitor.core.plan import Plan
from monitor.core.run import Run

#: Steps at the start of a process that pay for compilation and first calls; nanoGPT
#: itself leaves the first 5 out of its MFU for the same reason (`local_iter_num >= 5`).
#: An arrival gap shorter than this share of its steps' time is a buffered burst, not time.
BURST_FRACTION = 0.5
WARMUP_STEPS = 5
#: A gap this many times the typical step is a pause (stall, checkpoint), not a step.
PAUSE_FACTOR = 10.0
#: Fewest steady samples for an estimate; fewer arrival samples than MIN_ARRIVAL and the
#: printed times (if any) are used instead.
MIN_SAMPLES = 3
MIN_ARRIVAL = 8
#: Only the most recent logged lines feed the step time, and the most recent evals the
#: eval pause (bounds the work per call on million-line logs).
WINDOW_LINES = 8192
MAX_EVALS = 256
#: A speed change counts when the mean step time moves by at least this fraction, the
#: shift is CHANGE_Z standard errors wide, and it has lasted CHANGE_MIN_SAMPLES samples,
#: CHANGE_MIN_STEPS steps and CHANGE_MIN_SHARE of the samples seen. Natural drift inside
#: real runs stays within about ±20% of the run's mean, and bursts of steps 30% faster or
#: slower last from a dozen to a few hundred steps (H100 runs); a GPU time-shared with
#: another job, or a throttled clock, moves the speed by more, and for good.
CHANGE_MIN = 0.4
CHANGE_Z = 5.0
CHANGE_MIN_SAMPLES = 10
CHANGE_MIN_STEPS = 100
CHANGE_MIN_SHARE = 0.05
#: Least noise assumed in log step time (1%): printed times are rounded and no real run
#: is steadier, so a perfectly flat synthetic series still gets a finite test statistic.
NOISE_FLOOR = 0.01
#: Forward-only eval batch / forward+backward training micro-step: 1/3 by FLOPs, more in
#: practice because each eval batch also pays for get_batch and a `.item()` sync. Real
#: nanoGPT logs outside the benchmark give 0.29 (Apple MPS), 0.33 (RTX 2080 Ti) and 0.59
#: (small GPU, 50-batch evals); 0.38 is their geometric mean, the band spans the range.
FWD_FRACTION = 0.38
FWD_FRACTION_LOW = 0.25
FWD_FRACTION_HIGH = 0.7
#: Half-width of the band in standard deviations (about 95% for a normal error).
BAND_Z = 2.0
#: Spread of the mean step time assumed while too few blocks exist to measure it, and
#: the least ever assumed (no run keeps its speed to better than a few percent).
DRIFT_DEFAULT = 0.15
DRIFT_FLOOR = 0.05
DRIFT_BLOCKS = 8
#: Relative spread of single eval pauses assumed until three have been measured: above
#: any seen (2-3% on the MPS, RTX 2080 Ti and small-GPU logs; about 10% on the H100 runs).
EVAL_SPREAD_DEFAULT = 0.15


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
    #: where the step time came from: "arrival" | "printed" | "train-clock"
    step_source: str | None = None
    #: where the eval pause came from: "measured" | "config" | "step-0"
    eval_source: str | None = None
    evals_left: int | None = None
    #: iteration at which the current speed began, when a change was detected
    speed_change_iter: int | None = None


@dataclass(frozen=True, slots=True)
class _Steps:
    """The steady step time and how far its future mean may stray (relative)."""

    step_s: float
    spread: float
    source: str
    change_iter: int | None
    before_s: float | None  # mean step before the change, when there was one


@dataclass(frozen=True, slots=True)
class _Pause:
    mid_s: float
    low_s: float
    high_s: float
    source: str


def _evals_between(lo: int, hi: int, interval: int | None) -> int:
    """Multiples of `interval` in (lo, hi]."""
    if not interval or hi <= lo:
        return 0
    return hi // interval - lo // interval


def eval_interval_of(run: Run, plan: Plan) -> int | None:
    """The spacing of the evals seen when it is regular (it beats a family default the
    log never printed), else the configured eval interval."""
    seen = sorted({e.iter for e in run.evals if e.iter >= 0})
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    if len(gaps) >= 2:
        common = max(set(gaps), key=gaps.count)
        if common > 0 and 3 * gaps.count(common) >= 2 * len(gaps):
            return common
    return plan.eval_interval


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(x * w) / np.sum(w))


def _samples(run: Run, eval_every: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str] | None:
    """Steady per-step samples (seconds/step, weight in steps, iteration) from the best
    timing signal the recent lines carry, eval intervals and warm-up left out."""
    start = max(0, run.n_iters - WINDOW_LINES)
    iters = run.iters.values[start:]
    if len(iters) < 2:
        return None
    lo, hi = iters[:-1], iters[1:]
    steps = (hi - lo).astype(np.float64)
    warm = lo >= run.iters.values[0] + WARMUP_STEPS
    steady = warm & (hi // eval_every == lo // eval_every) if eval_every else warm
    t = run.t.values[start:]
    with np.errstate(invalid="ignore"):  # inf - inf in a broken clock is NaN, dropped below
        gap = np.diff(t)
        clock = np.diff(run.train_time_s.values[start:])
    printed = run.step_time_s.values[start + 1 :]
    arrival = steady & np.isfinite(gap) & (gap > 0)
    # Block-buffered output arrives in bursts: most gaps near zero, the time in a few.
    # Per-interval rates are then meaningless; the median gap tells the two apart.
    bursty = arrival.sum() >= MIN_ARRIVAL and np.median(gap[arrival]) < 0.25 * np.mean(gap[arrival])
    from_printed = steady & np.isfinite(printed) & (printed > 0)
    # A cumulative training clock stops during evals in every family that prints one, so
    # intervals holding an eval are steady too (track-3 logs a mark only at its evals).
    from_clock = warm & np.isfinite(clock) & (clock > 0)
    # Arrival covers every step, printed times one per line; but after a cold open only
    # the lines seen live have an arrival, so it must cover half of what was printed.
    if arrival.sum() >= max(MIN_ARRIVAL, from_printed.sum() / 2) and not bursty:
        return gap[arrival] / steps[arrival], steps[arrival], hi[arrival], "arrival"
    if from_printed.sum() >= MIN_SAMPLES:
        return printed[from_printed], np.ones(int(from_printed.sum())), hi[from_printed], "printed"
    if from_clock.sum() >= MIN_SAMPLES:
        return clock[from_clock] / steps[from_clock], steps[from_clock], hi[from_clock], "train-clock"
    if arrival.sum() >= MIN_SAMPLES and not bursty:
        return gap[arrival] / steps[arrival], steps[arrival], hi[arrival], "arrival"
    return None


def _local_median(y: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(y, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1), axis=1)


def _change_point(y: np.ndarray, steps_per_sample: float) -> int:
    """Index where the latest lasting shift in level of `y` (log step times) begins; 0 if none.

    Mean-shift test: for every split, the difference of the means before and after in
    units of its standard error. The noise is measured from successive differences (which
    a level shift does not inflate), and values are first clipped to 4 noise of their
    local median, so a short burst cannot pass for a shift but a lasting one can.
    """
    least = max(CHANGE_MIN_SAMPLES, int(CHANGE_MIN_SHARE * len(y)), math.ceil(CHANGE_MIN_STEPS / steps_per_sample))
    if len(y) < 2 * least:
        return 0
    noise = max(NOISE_FLOOR, 1.4826 * float(np.median(np.abs(np.diff(y)))) / math.sqrt(2.0))
    local = _local_median(y, CHANGE_MIN_SAMPLES // 2)
    y = np.clip(y, local - 4 * noise, local + 4 * noise)
    start = 0
    while len(y) - start >= 2 * least:
        seg = y[start:]
        n = len(seg)
        csum = np.cumsum(seg)
        j = np.arange(least, n - least + 1)
        before = csum[j - 1] / j
        after = (csum[-1] - csum[j - 1]) / (n - j)
        shift = after - before
        z = np.abs(shift) / (noise * np.sqrt(1.0 / j + 1.0 / (n - j)))
        ok = (np.abs(shift) >= math.log1p(CHANGE_MIN)) & (z >= CHANGE_Z)
        if not ok.any():
            break
        start += int(j[ok][np.argmax(z[ok])])
    return start


def _spread(x: np.ndarray, w: np.ndarray) -> float:
    """Relative spread of block means: how much the mean step time drifts within the run."""
    blocks = min(DRIFT_BLOCKS, len(x) // 4)
    if blocks < 3:
        return DRIFT_DEFAULT
    means = [_weighted_mean(xb, wb) for xb, wb in zip(np.array_split(x, blocks), np.array_split(w, blocks))]
    return max(DRIFT_FLOOR, float(np.std(means, ddof=1) / np.mean(means)))


#: _steps per run, valid while the run has as many steps and the same eval interval: an idle
#: screen redraws every second or two, and the fit over WINDOW_LINES lines need not rerun.
_STEPS: weakref.WeakKeyDictionary[Run, tuple[int, int | None, _Steps | None]] = weakref.WeakKeyDictionary()


def _steps(run: Run, eval_every: int | None) -> _Steps | None:
    known = _STEPS.get(run)
    if known is not None and known[:2] == (run.n_iters, eval_every):
        return known[2]
    fitted = _fit_steps(run, eval_every)
    _STEPS[run] = (run.n_iters, eval_every, fitted)
    return fitted


def _fit_steps(run: Run, eval_every: int | None) -> _Steps | None:
    found = _samples(run, eval_every)
    if found is None:
        return None
    x, w, at, source = found
    typical = float(np.median(x))
    keep = x <= PAUSE_FACTOR * typical
    x, w, at = x[keep], w[keep], at[keep]
    if len(x) < MIN_SAMPLES:
        return None
    spacing = float(np.median(np.diff(at))) if len(at) > 1 else 1.0  # steps between samples
    cut = _change_point(np.log(x), max(1.0, spacing))
    before = _weighted_mean(x[:cut], w[:cut]) if cut else None
    x, w = x[cut:], w[cut:]
    return _Steps(_weighted_mean(x, w), _spread(x, w), source, int(at[cut]) if cut else None, before)


def _measured_pauses(run: Run, plan: Plan, eval_every: int, steps: _Steps) -> np.ndarray:
    """Seconds each eval (+ checkpoint) added to its interval, from arrival gaps or,
    when the family's printed time includes it, from the eval step's printed time; those
    from before a speed change are scaled to the new speed (evals slow down with steps)."""
    iters = run.iters.values
    if len(iters) < 2:
        return np.empty(0)
    # The lines whose interval (previous line, this line] holds an eval, found from the
    # eval steps themselves so that a million-line run costs no full pass.
    due = np.arange((iters[0] // eval_every + 1) * eval_every, iters[-1] + 1, eval_every)[-MAX_EVALS:]
    idx = np.unique(np.searchsorted(iters, due, side="left")) - 1
    if not len(idx):
        return np.empty(0)
    counts = iters[idx + 1] // eval_every - iters[idx] // eval_every
    n_steps = (iters[idx + 1] - iters[idx]).astype(np.float64)
    step_s: np.ndarray | float = steps.step_s
    before_s = steps.before_s if steps.change_iter is not None else None
    if before_s is not None:
        step_s = np.where(iters[idx + 1] < steps.change_iter, before_s, steps.step_s)
    gap = run.t.values[idx + 1] - run.t.values[idx]
    # Lines that arrived faster than their steps can run came out of a buffer in a burst:
    # their gap says nothing about the pause.
    real_time = np.isfinite(gap) & (gap >= BURST_FRACTION * n_steps * step_s)
    out = np.where(real_time, (gap - n_steps * step_s) / counts, np.nan)
    if plan.eval_in_step_time:
        printed = run.step_time_s.values[idx + 1]
        own = (iters[idx + 1] % eval_every == 0) & np.isfinite(printed)
        out = np.where(np.isnan(out) & own, printed - step_s, out)
    if before_s is not None:
        out = out * (steps.step_s / step_s)
    out = out[np.isfinite(out)]
    return np.maximum(out, 0.0)


def _step0_eval_s(run: Run, plan: Plan) -> float | None:
    """How long the eval at the first iteration of an uncompiled process took: an upper
    bound for later evals (first calls pay for allocation and kernel selection)."""
    if not plan.eval_in_step_time or plan.compiled is not False or not run.n_iters:
        return None
    first = int(run.iters.values[0])
    printed = float(run.step_time_s.values[0])
    if not math.isfinite(printed):
        return None
    line_t = float(run.t.values[0])
    eval_t = next((e.t for e in run.evals if e.iter == first and e.t is not None), None)
    if eval_t is not None and math.isfinite(line_t):
        began = line_t - printed  # the printed time runs from the top of the loop
        if began < eval_t <= line_t:  # equal: paced times, the eval's own time unknown
            return eval_t - began
    return printed  # the eval and the first step together


def _pause(run: Run, plan: Plan, steps: _Steps, eval_every: int, evals_left: int) -> _Pause | None:
    pauses = _measured_pauses(run, plan, eval_every, steps)
    if len(pauses):
        mid = float(np.mean(pauses))
        spread = float(np.std(pauses, ddof=1) / mid) if len(pauses) >= 3 and mid > 0 else EVAL_SPREAD_DEFAULT
        half = BAND_Z * spread * math.sqrt(1.0 / len(pauses) + 1.0 / max(1, evals_left)) * mid
        return _Pause(mid, max(0.0, mid - half), mid + half, "measured")
    step0 = _step0_eval_s(run, plan)
    if plan.eval_iters and plan.grad_accum:
        # eval_iters batches of each of 2 splits, forward only, against grad_accum
        # forward+backward micro-steps in one training step
        per_step = steps.step_s * 2 * plan.eval_iters / plan.grad_accum
        mid, low, high = (per_step * f for f in (FWD_FRACTION, FWD_FRACTION_LOW, FWD_FRACTION_HIGH))
        if step0 is None:
            return _Pause(mid, low, high, "config")
        if step0 < mid:
            return _Pause(step0, min(low, step0), step0, "step-0")
        # Two estimates, one an upper bound: take their geometric middle.
        return _Pause(math.sqrt(mid * step0), low, min(high, step0), "config")
    if step0 is not None:
        return _Pause(step0 * FWD_FRACTION / FWD_FRACTION_HIGH, step0 * FWD_FRACTION_LOW / FWD_FRACTION_HIGH,
                      step0, "step-0")
    return None


def _total_known(run: Run, plan: Plan) -> bool:
    """A family default for max_iters holds only when the process's startup is in the
    log; a log that begins mid-run (a wandb capture, a cut file) may have set its own."""
    if plan.final_iter is None:
        return False
    if plan.max_iters_source != "default":
        return True
    return run.tokens_per_iter is not None or run.params is not None or run.init is not None or bool(run.config)


def estimate(run: Run, plan: Plan, now: float) -> Estimate:
    """The run's finish time as seen at `now`; None fields where it cannot be known."""
    eval_every = eval_interval_of(run, plan)
    steps = _steps(run, eval_every)
    if steps is None:
        return Estimate()
    last = run.last_iter
    assert last is not None  # _steps needs iterations
    final = plan.final_iter if _total_known(run, plan) else None
    evals_left = _evals_between(last, final, eval_every) if final is not None else None
    pause = None
    if eval_every:
        pause = _pause(run, plan, steps, eval_every, evals_left or 0)
    base = Estimate(
        step_time_s=steps.step_s,
        eval_time_s=None if pause is None else pause.mid_s,
        step_source=steps.source,
        eval_source=None if pause is None else pause.source,
        speed_change_iter=steps.change_iter,
    )
    if final is None or evals_left is None:
        return base
    steps_left = max(0, final - last)
    train_left = steps_left * steps.step_s
    train_half = BAND_Z * steps.spread * train_left
    n_pauses = evals_left if pause is not None else 0
    eval_left = n_pauses * pause.mid_s if pause is not None else 0.0
    eval_low = n_pauses * pause.low_s if pause is not None else 0.0
    eval_high = n_pauses * pause.high_s if pause is not None else 0.0
    total = train_left + eval_left
    # Time since the last iteration line went into the steps still to come, but only as
    # much as the next line should take: longer silence (a stall) delays the finish.
    since = now - run.last_t if run.last_t is not None and math.isfinite(run.last_t) else 0.0
    next_steps = min(plan.log_interval, steps_left)
    next_gap = next_steps * steps.step_s + _evals_between(last, last + next_steps, eval_every) * (
        pause.mid_s if pause is not None else 0.0)
    credit = min(max(0.0, since), next_gap)
    remaining = max(0.0, total - credit)
    share = remaining / total if total > 0 else 0.0

    def at(seconds: float) -> float:
        return now + max(0.0, seconds - credit)

    return Estimate(
        step_time_s=base.step_time_s,
        eval_time_s=base.eval_time_s,
        remaining_s=remaining,
        finish=now + remaining,
        low=at(max(0.0, train_left - train_half) + eval_low),
        high=at(train_left + train_half + eval_high),
        train_remaining_s=train_left * share,
        eval_remaining_s=eval_left * share,
        step_source=base.step_source,
        eval_source=base.eval_source,
        evals_left=evals_left,
        speed_change_iter=base.speed_change_iter,
    )
