"""Eval pauses for the finish-time estimate: the eval interval (configured, else inferred
from the evals seen), each eval's measured cost, or a prediction before the first one.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from functools import reduce

import numpy as np

from monitor.core.evalgrid import grid_steps
from monitor.core.plan import Plan
from monitor.core.run import Run

#: The most recent evals that feed the eval pause (bounds the work per call).
MAX_EVALS = 256
#: The eval pause to come is the mean of the last RECENT_EVALS measured (evals drift with
#: the steps: 2.7 s to 2.0 s over an H100 run); the spread uses them all.
RECENT_EVALS = 8
#: An arrival gap shorter than this share of its steps' time is a buffered burst, not time.
BURST_FRACTION = 0.5
#: Rows of a block-buffered log its eval pauses are read from (_flush_pauses): a few flushes
#: and their evals, at a bounded cost a call.
FLUSH_ROWS = 4096
#: Forward-only eval batch / forward+backward training micro-step: 1/3 by FLOPs, more in
#: practice because each eval batch also pays for get_batch and a `.item()` sync. Real
#: nanoGPT logs outside the benchmark give 0.29 (Apple MPS), 0.33 (RTX 2080 Ti) and 0.59
#: (small GPU, 50-batch evals); 0.38 is their geometric mean, the band spans the range.
FWD_FRACTION = 0.38
FWD_FRACTION_LOW = 0.25
FWD_FRACTION_HIGH = 0.7
#: A nanoGPT checkpoint holds the fp32 weights and AdamW's two moments (12 bytes a parameter)
#: and is written by torch.save at about 1.5 GB/s (GPT-2 124M, 1.5 GB: 1.2 s on the H200 host
#: of the recorded runs; an assumption elsewhere, hence the band's 0.5x..2x).
CHECKPOINT_BYTES_PER_PARAM = 12
CHECKPOINT_WRITE_BPS = 1.5e9
#: How much slower than CHECKPOINT_WRITE_BPS a save may be: the config's prediction spans 0.5x
#: to 2x of it; the 1x H200 host of h200k wrote at 0.85 GB/s (25M params: 0.35 s; 85M: 1.2 s).
SAVE_SLOWER = 2.0
#: Half-width of the band in standard deviations (about 95% for a normal error).
BAND_Z = 2.0
#: Relative spread of single eval pauses assumed until three have been measured: above
#: any seen (2-3% on the MPS, RTX 2080 Ti and small-GPU logs; about 10% on the H100 runs).
EVAL_SPREAD_DEFAULT = 0.15


@dataclass(frozen=True, slots=True)
class Pause:
    """Seconds one eval (+ checkpoint) adds: middle, low and high, and where it came from
    ("measured" | "config" | "step-0")."""

    mid_s: float
    low_s: float
    high_s: float
    source: str


def evals_between(lo: int, hi: int, interval: int | None) -> int:
    """Multiples of `interval` in (lo, hi]."""
    if not interval or hi <= lo:
        return 0
    return hi // interval - lo // interval


def eval_interval_of(run: Run, plan: Plan) -> int | None:
    """The eval interval: as the log configures it; else inferred from two or more evals seen
    (the greatest common divisor of their steps on the evals' grid, evalgrid.grid_steps: evals
    at 0, 250, 500 give 250, and 250, 500, 750, 999 too), which beats the family default (the
    interval a command line set: llm.c's train_gpt2.py evaluating every 100 steps, not
    train_gpt2.cu's default 20); else the family default when the one eval seen falls on it;
    else that eval's step (one eval at step 1500 gives 1500)."""
    if "eval_interval" in run.config:
        return plan.eval_interval
    seen = grid_steps(e.iter for e in run.evals[-MAX_EVALS:])  # a final eval off the grid left out
    if not seen:
        return plan.eval_interval
    default = plan.eval_interval
    if len(seen) < 2 and default and seen[0] % default == 0:
        return default
    return reduce(math.gcd, seen) or default


def _measured_pauses(run: Run, plan: Plan, eval_every: int, step_s: float, bursty: bool = False) -> np.ndarray:
    """Seconds each eval (+ checkpoint) added to its interval, from arrival gaps or, when the
    family's printed time includes it, from the eval step's printed time; in a block-buffered
    log (`bursty`), from flush-to-flush spans (_flush_pauses). The evals are those logged and
    those the interval says ran. (Pauses are not rescaled by speed changes: the change detector
    follows moves that come and go, and an eval is a different workload.)"""
    iters = run.iters.values
    if len(iters) < 2:
        return np.empty(0)
    if bursty:
        return _flush_pauses(run, plan, iters, _due(run, iters, eval_every) + plan.eval_step_offset, step_s)
    # an eval is paid by the step `eval_step_offset` after its own (llm.c: the next step's line)
    idx, counts, n_steps, own = _lines_around(run, iters, _due(run, iters, eval_every) + plan.eval_step_offset)
    if not len(idx):
        return np.empty(0)
    step = step_s
    gap = run.t.values[idx + 1] - run.t.values[idx]
    # Lines that arrived faster than their steps can run came out of a buffer in a burst:
    # their gap says nothing about the pause.
    real_time = np.isfinite(gap) & (gap >= BURST_FRACTION * n_steps * step)
    out = np.where(real_time, (gap - n_steps * step) / counts, np.nan)
    if plan.eval_in_step_time:
        printed = run.step_time_s.values[idx + 1]
        own = own & np.isfinite(printed)
        out = np.where(np.isnan(out) & own, printed - step, out)
    out = out[np.isfinite(out)]
    return np.maximum(out, 0.0)


def _flush_pauses(run: Run, plan: Plan, iters: np.ndarray, due: np.ndarray, step_s: float) -> np.ndarray:
    """Eval pauses of a block-buffered log: one gap between two arrivals measures the buffer's
    period, not work (a flush that ends at an eval leaves the next line a whole period late), so
    a pause is read over whole flushes instead. An eval whose step's printed time holds it
    (plan.eval_in_step_time) is that time less `step_s`, as in an unbuffered log. For the others:
    a flush's lines were written between the arrival before it and its own arrival (a flush that
    begins at an eval's line is one with the flush before it); that span less the time its lines
    account for (their printed step times, `step_s` where none is printed) is the time its evals
    took, less what a flush without an eval leaves over per step (the median of those flushes; 0
    if none). One value per eval, oldest first; the first flush in view (it may hold the start-up)
    and the one still arriving are left out. Looks at the last FLUSH_ROWS rows."""
    lo = max(0, len(iters) - FLUSH_ROWS)
    it = iters[lo:].astype(np.int64)
    t = run.t.values[lo:]
    printed = run.step_time_s.values[lo:]
    if len(it) < 3 or not len(due):
        return np.empty(0)
    known = np.isfinite(printed[1:]) & (printed[1:] > 0)
    own = np.isin(it[1:], due) & known & plan.eval_in_step_time
    took = np.diff(it) * np.where(known, printed[1:], step_s)
    took = np.where(own, printed[1:] + (np.diff(it) - 1) * step_s, took)
    gap = np.diff(t)
    # a line that took its time begins a flush (row k + 1 of the window for gap k), unless an eval
    # was paid for before it: that eval may have run on either side of the flush (llm.c's val runs
    # before its sampler flushes, and is paid by the next step's line), so the two flushes are one
    starts = np.flatnonzero(np.isfinite(gap) & (gap >= BURST_FRACTION * took) & ~np.isin(it[1:], due)) + 1
    found: list[tuple[int, float]] = [(int(i), float(x) - step_s) for i, x in zip(it[1:][own], printed[1:][own])]
    if len(starts) >= 2:
        # flush j: rows starts[j] .. starts[j + 1] - 1, written over (t[starts[j] - 1], t[starts[j + 1] - 1]]
        first, last = starts[:-1], starts[1:] - 1
        cum = np.concatenate(([0.0], np.cumsum(took)))  # cum[k]: the time rows 1..k account for
        left = t[last] - t[first - 1] - (cum[last] - cum[first - 1])
        span = (it[last] - it[first - 1]).astype(np.float64)
        own_in = np.concatenate(([0], np.cumsum(own)))
        evals = (np.searchsorted(due, it[last], side="right") - np.searchsorted(due, it[first - 1], side="right")
                 - (own_in[last] - own_in[first - 1]))
        ok = np.isfinite(left) & (span > 0)
        quiet = ok & (evals == 0)
        base = float(np.median(left[quiet] / span[quiet])) if quiet.any() else 0.0
        for j in np.flatnonzero(ok & (evals > 0)):
            found += [(int(it[last[j]]), (float(left[j]) - base * float(span[j])) / int(evals[j]))] * int(evals[j])
    found.sort(key=lambda x: x[0])
    return np.maximum(np.array([x for _, x in found], dtype=np.float64), 0.0)


#: The eval steps in view of each run, with what decides them (see _due).
_DUE: weakref.WeakKeyDictionary[Run, tuple[tuple[int, int], np.ndarray, tuple[object, ...], np.ndarray]] = (
    weakref.WeakKeyDictionary())


def _due(run: Run, iters: np.ndarray, eval_every: int) -> np.ndarray:
    """The eval steps among the run's steps (at most MAX_EVALS, the newest): those the interval
    says ran and those logged. The same until an eval is logged or the last step passes a
    multiple of the interval, so it is built again only then (a snapshot per line would
    otherwise rebuild it from every eval's step: ~0.4 ms with 256 evals)."""
    first, last = int(iters[0]), int(iters[-1])
    evals = run.evals
    marker = (len(evals), id(evals[-1]) if evals else 0)
    known = _DUE.get(run)
    steps = known[1] if known is not None and known[0] == marker else np.array(
        [e.iter for e in evals[-MAX_EVALS:]], dtype=np.int64)
    logged = steps[(steps > first) & (steps <= last)]
    # the interval's steps in view follow from these (first // every, last // every)
    key = (first // eval_every, last // eval_every, eval_every, logged.tobytes())
    if known is not None and known[0] == marker and known[2] == key:
        return known[3]
    since = max(first, last - MAX_EVALS * eval_every)
    due = np.arange((since // eval_every + 1) * eval_every, last + 1, eval_every)
    due = np.union1d(due, logged)[-MAX_EVALS:]
    _DUE[run] = (marker, steps, key, due)
    return due


#: The last _lines_around answer of each run, with what it was asked: the same until an eval
#: step comes into view or leaves it (O(1) a call in the run's length between).
_AROUND: weakref.WeakKeyDictionary[Run, tuple[tuple[int, bytes], tuple[np.ndarray, ...]]] = weakref.WeakKeyDictionary()


def _lines_around(run: Run, iters: np.ndarray, due: np.ndarray) -> tuple[np.ndarray, ...]:
    """The lines whose interval (previous line, this line] holds an eval (index of the
    previous line in `iters`), the evals in it, its steps, and whether the line is an eval
    step's own; found from the eval steps themselves so that a million-line run costs no
    full pass. Every step in `due` is at most the last one: its two lines are already in."""
    key = (run.iters.start, due.tobytes())
    known = _AROUND.get(run)
    if known is not None and known[0] == key:
        return known[1]
    idx = np.unique(np.searchsorted(iters, due, side="left")) - 1
    idx = idx[(idx >= 0) & (idx + 1 < len(iters))]
    counts = np.searchsorted(due, iters[idx + 1], side="right") - np.searchsorted(due, iters[idx], side="right")
    counts = np.maximum(counts, 1)
    n_steps = (iters[idx + 1] - iters[idx]).astype(np.float64)
    around = (idx, counts, n_steps, np.isin(iters[idx + 1], due))
    _AROUND[run] = (key, around)
    return around


def _step0_eval_s(run: Run, plan: Plan) -> float | None:
    """How long the eval at the first iteration of an uncompiled process took: an upper
    bound for later evals (first calls pay for allocation and kernel selection)."""
    if not plan.eval_in_step_time or plan.compiled is not False or not run.n_iters:
        return None
    first = int(run.iters.head[0])
    printed = float(run.step_time_s.head[0])
    if not math.isfinite(printed):
        return None
    line_t = float(run.t.head[0])
    eval_t = next((e.t for e in run.evals if e.iter == first and e.t is not None), None)
    if eval_t is not None and math.isfinite(line_t):
        began = line_t - printed  # the printed time runs from the top of the loop
        if began < eval_t <= line_t:  # equal: paced times, the eval's own time unknown
            return eval_t - began
    return printed  # the eval and the first step together


def measured_pauses(run: Run, plan: Plan, eval_every: int, step_s: float, bursty: bool = False) -> np.ndarray:
    """Seconds each eval (+ checkpoint) of `run` added, oldest first (see eval_pause)."""
    return _measured_pauses(run, plan, eval_every, step_s, bursty)


def _save_s(run: Run, plan: Plan) -> float:
    """Seconds the checkpoint after an eval takes at CHECKPOINT_WRITE_BPS where the config says
    evals save one (nanoGPT: eval_iters set, parameters counted); else 0. Its write rate falls as
    checkpoints fill the page cache (3.6 GB saves on the H200 host: 1.2, 0.69, 0.63 GB/s;
    BENCHMARKS.md, "Pauses over whole flushes")."""
    if not plan.eval_iters or not run.params:
        return 0.0
    return run.params * CHECKPOINT_BYTES_PER_PARAM / CHECKPOINT_WRITE_BPS


def _compiles_eval(run: Run, plan: Plan, eval_every: int) -> bool:
    """The process's first eval is still to come or in view and will pay for compiling the eval
    graph: a process the log shows compiled (torch.compile builds the eval-mode graph at its first eval)
    whose first logged step held no eval (a fresh nanoGPT run evaluates at step 0, inside its
    first line's warm-up; a run resumed from a step off the eval grid does not: 2.65 s against
    1.0 s for its later evals, BENCHMARKS.md "h200k traced"), with every eval of it in view."""
    # the log must say so ("compiling the model...", or compile = True in its config): nanoGPT's
    # default alone does not show the process compiled
    shown = run.compiling or run.config.get("compile") is True
    if not shown or plan.compiled is not True or not run.n_iters or not eval_every:
        return False
    first = int(run.iters.head[0])
    if first % eval_every == 0 or any(e.iter == first for e in run.evals):
        return False
    return int(run.iters.values[-1]) - first <= MAX_EVALS * eval_every


def eval_pause(run: Run, plan: Plan, step_s: float, eval_every: int, evals_left: int,
               before: np.ndarray | None = None, bursty: bool = False) -> Pause | None:
    """Seconds each coming eval will add, with a band; None when nothing says. `before`: the
    pauses an earlier process of the same run measured (a run resumed into its log: the same
    evals on the same machine), older than this process's own; they count until this process
    has measured RECENT_EVALS of its own, so one slow eval after a restart is not the rule.
    `bursty`: the log's lines come in block-buffered flushes (Tracker.burst_share)."""
    pauses = _measured_pauses(run, plan, eval_every, step_s, bursty)
    if len(pauses) and _compiles_eval(run, plan, eval_every):
        pauses = pauses[1:]  # the first was a compile: later evals do not pay for it again
    if before is not None and len(before) and len(pauses) < RECENT_EVALS:
        pauses = np.concatenate([before[-RECENT_EVALS:], pauses])
    if len(pauses):
        mid = float(np.mean(pauses[-RECENT_EVALS:]))
        spread = float(np.std(pauses, ddof=1) / mid) if len(pauses) >= 3 and mid > 0 else EVAL_SPREAD_DEFAULT
        half = BAND_Z * spread * math.sqrt(1.0 / len(pauses) + 1.0 / max(1, evals_left)) * mid
        # a checkpoint's write slows as the page cache fills with the dirty pages of the ones
        # before it: the high side allows one more save at the configured rate (_save_s)
        save_s = _save_s(run, plan)
        low = max(0.0, mid - half)
        if run.config.get("always_save_checkpoint") is False:
            # nanoGPT saves only while val loss improves: the saves in the pauses measured may
            # stop at any eval (an overfitting run), so the low side allows evals without them,
            # the save at up to SAVE_SLOWER x the configured rate (BENCHMARKS.md, "h200k traced")
            low = min(low, max(0.0, mid - SAVE_SLOWER * save_s))
        return Pause(mid, low, mid + max(half, save_s), "measured")
    step0 = _step0_eval_s(run, plan)
    if plan.eval_iters and plan.grad_accum:
        # eval_iters batches of each of 2 splits, forward only, against grad_accum
        # forward+backward micro-steps in one training step
        per_step = step_s * 2 * plan.eval_iters / plan.grad_accum
        # nanoGPT saves a checkpoint after an eval (every one unless always_save_checkpoint is
        # False, and then whenever val improves, as it mostly does early on)
        save_s = _save_s(run, plan)
        mid, low, high = (per_step * f + save_s * g for f, g in
                          ((FWD_FRACTION, 1.0), (FWD_FRACTION_LOW, 0.5), (FWD_FRACTION_HIGH, 2.0)))
        if step0 is None:
            return Pause(mid, low, high, "config")
        if step0 < mid:
            return Pause(step0, min(low, step0), step0, "step-0")
        # Two estimates, one an upper bound: take their geometric middle.
        return Pause(math.sqrt(mid * step0), low, min(high, step0), "config")
    if step0 is not None:
        return Pause(step0 * FWD_FRACTION / FWD_FRACTION_HIGH, step0 * FWD_FRACTION_LOW / FWD_FRACTION_HIGH,
                     step0, "step-0")
    return None
