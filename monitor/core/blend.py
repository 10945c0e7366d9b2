"""The finish-time blend: convex weights of the estimator's methods (the step model, the
long-run mean, the wall-clock rate) per bucket of progress, and apart after a speed-up,
fitted across recorded runs.

Stacking (Wolpert 1992, "Stacked generalization"; Breiman 1996, "Stacked regressions", who
constrains the weights to be non-negative): each method predicts the finish on its own, and the
blend is the convex combination that was closest to the true finish on other runs at the same
progress. The weights are fitted by benchmarks/calibrate_band.py and checked leave one run out
(benchmarks/eta_accuracy.py): fitted on every run but one, scored on that one, for every run.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from monitor.core.band import PROGRESS_EDGES

#: The methods, in the order of each bucket's weights.
METHODS = ("model", "long", "wallclock")
#: Weights are searched on a grid of this step over the simplex (231 points for 3 methods):
#: an exact, deterministic minimum of a piecewise-linear loss, and few enough distinct values
#: that 15 runs cannot tune them finely.
GRID_STEP = 0.05
N_BUCKETS = len(PROGRESS_EDGES) - 1
#: The current speed is this much of the long-run mean or less (at least 25% faster: the
#: smallest move the change detector follows, speed.CHANGE_K): a run freed of a competing job,
#: or past a slow start. Its weights are fitted apart: after a slowdown the long-run mean
#: holds (slowdowns come and go), after a speed-up it lags.
SPED_UP = 0.8
#: Rows of weights: one per progress bucket, then one per progress bucket after a speed-up.
N_CELLS = 2 * N_BUCKETS


@dataclass(frozen=True, slots=True)
class Blend:
    """Per cell (see `cell`), one weight per method of METHODS, summing to 1."""

    weights: tuple[tuple[float, ...], ...]
    runs: int


#: Before any fit: the methods alike.
EVEN = Blend(tuple((1.0 / len(METHODS),) * len(METHODS) for _ in range(N_CELLS)), 0)


def bucket(progress: float) -> int:
    """Progress bucket of `progress` (0..1): PROGRESS_EDGES[k] <= progress < PROGRESS_EDGES[k + 1]."""
    k = bisect.bisect_right(PROGRESS_EDGES, min(max(progress, 0.0), 1.0)) - 1
    return min(k, N_BUCKETS - 1)


def cell(progress: float, sped_up: bool) -> int:
    """Row of Blend.weights for an estimate at `progress` (0..1), after a speed-up or not."""
    return bucket(progress) + (N_BUCKETS if sped_up else 0)


def sped_up(level_s: float, long_s: float) -> bool:
    """The current speed (`level_s`, s a step) is SPED_UP of the long-run mean or faster."""
    return level_s <= SPED_UP * long_s


def combine(blend: Blend, progress: float, values: Mapping[str, float], faster: bool = False) -> dict[str, float]:
    """Weights (summing to 1) of the methods present in `values` at `progress` (`faster`: after
    a speed-up): the cell's weights renormalised over them; the present methods alike where the
    cell gives them none."""
    row = blend.weights[cell(progress, faster)]
    raw = {m: w for m, w in zip(METHODS, row) if m in values and w > 0}
    total = sum(raw.values())
    if total <= 0:
        present = [m for m in METHODS if m in values]
        return {m: 1.0 / len(present) for m in present} if present else {}
    return {m: w / total for m, w in raw.items()}


def _simplex(k: int, step: float) -> np.ndarray:
    n = round(1.0 / step)
    points = itertools.combinations_with_replacement(range(k), n)
    return np.array([np.bincount(c, minlength=k) / n for c in points])


def _blended(errors: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Blended errors (lines x grid points) of per-method errors (lines x methods, NaN where a
    method had no estimate), as `combine` blends them."""
    present = np.isfinite(errors)
    num = np.where(present, errors, 0.0) @ grid.T
    den = present.astype(float) @ grid.T
    even = np.nanmean(np.where(present, errors, np.nan), axis=1)[:, None]
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, even)


def fit(runs: Mapping[str, Iterable[tuple[float, bool, Mapping[str, float]]]], step: float = GRID_STEP) -> Blend:
    """The blend from per-run lines: run name -> (progress, after a speed-up, method -> signed
    error of its finish / the run's duration) at every line. Per cell, the grid point with the
    least mean over the runs that reached it of their mean absolute blended error (each run
    counts once, however many lines it logged). A cell no run reached takes its bucket's usual
    weights (after a speed-up), or EVEN's."""
    grid = _simplex(len(METHODS), step)
    per: list[list[np.ndarray]] = [[] for _ in range(N_CELLS)]
    for rows in runs.values():
        split: list[list[list[float]]] = [[] for _ in range(N_CELLS)]
        for progress, faster, errs in rows:
            vals = [errs.get(m, math.nan) for m in METHODS]
            if any(math.isfinite(v) for v in vals):
                split[cell(progress, faster)].append(vals)
        for k, lines in enumerate(split):
            if lines:
                per[k].append(np.array(lines))
    weights: list[tuple[float, ...]] = []
    for k, run_lines in enumerate(per):
        if not run_lines:
            weights.append(weights[k - N_BUCKETS] if k >= N_BUCKETS else EVEN.weights[k])
            continue
        loss = sum(np.mean(np.abs(_blended(e, grid)), axis=0) for e in run_lines)
        weights.append(tuple(float(w) for w in grid[int(np.argmin(loss))]))
    return Blend(tuple(weights), len(runs))
