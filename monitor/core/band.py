"""The finish-time band: split conformal prediction (Vovk et al. 2005; Lei et al. 2018,
"Distribution-free predictive inference for regression") on the relative finish-time errors
of recorded runs, per bucket of progress, scaled by how much timing has been seen and by the
share of the time to come in evals (`unit`), and
calibrated apart while other processes share the run's GPUs (Mondrian, see `Bands`).

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Bucket 0 holds estimates made from fewer than FEW_SAMPLES steady samples, whatever the
#: progress; then one bucket per progress interval between these edges.
FEW_SAMPLES = 8
PROGRESS_EDGES = (0.0, 0.02, 0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 1.0)
#: Miscoverage: the band aims to hold the true finish 90% of the time (5% each side).
ALPHA = 0.10
#: How much has been seen scales the band (see `seen_factor`): the error of a mean step time
#: from n samples has a part that shrinks as 1/n in variance (the samples' own noise) and a
#: part that does not (drift, the speed to come differing from the speed seen); SEEN_SAMPLES
#: is the n at which the two are taken as equal. Chosen leave one run out on the 25 recorded
#: runs (16, 64, 128, 256, 512 looked at, BENCHMARKS.md): the held-out coverage of a run that
#: logs every 100 steps (20 lines at half-way) rises from 77% to 84% at 64 and no further
#: until 256, where another run falls under 90%; the mean width grows with it.
SEEN_SAMPLES = 64.0
#: The evals still to come shift together: an eval's compute moves with the step speed, and
#: checkpoints grow or stop as val improves, so their part of the error is one correlated
#: quantity that does not shrink with the evals measured or left (see `unit`). EVAL_UNIT is its
#: size against the train part's with very many samples seen. Chosen leave one run out on the 48
#: fitted runs (1, 2, 3, 3.5, 4, 5 looked at; BENCHMARKS.md, "Correlated evals in the band"): at 3
#: the held-out band is 1 point narrower (mean width / duration 30.2 -> 29.2%) at the same coverage;
#: 4 held one more run at 90% but narrowed the studied runs with few evals (h200i 8 -> 7 of 15).
EVAL_UNIT = 3.0


@dataclass(frozen=True, slots=True)
class Calibration:
    """Quantiles of the signed relative error (true finish - predicted) / predicted time to come
    / unit(samples, eval share), per bucket (see `bucket`); None where no calibration run reached
    that bucket."""

    low: tuple[float | None, ...]
    high: tuple[float | None, ...]
    runs: int


@dataclass(frozen=True, slots=True)
class Bands:
    """Mondrian conformal prediction (Vovk et al. 2005, "Algorithmic learning in a random
    world", section 4.5): one table per class of estimate, each calibrated on that class's
    errors only, so each class gets its own coverage. `alone`: estimates made while the run had
    its GPUs to itself; `shared`: while NVML listed other processes on them and the run ran
    slower beside them (or nothing showed yet that it did not), where a competing job that
    leaves or piles up moves the finish far more than a steady run drifts; `harmless`: while
    other processes were listed but the run ran as fast as alone (speed.Stream.harmless) — they
    may still start to slow it, so the class has its own table (None: the shared one)."""

    alone: Calibration
    shared: Calibration
    harmless: Calibration | None = None

    def of(self, shared: bool, harmless: bool = False) -> Calibration:
        if harmless and self.harmless is not None:
            return self.harmless
        return self.shared if shared or harmless else self.alone


def bucket(progress: float, samples: int) -> int:
    """Bucket of an estimate made at `progress` (0..1) from `samples` steady step times."""
    if samples < FEW_SAMPLES:
        return 0
    k = bisect.bisect_right(PROGRESS_EDGES, min(max(progress, 0.0), 1.0)) - 1
    return 1 + min(k, len(PROGRESS_EDGES) - 2)


N_BUCKETS = len(PROGRESS_EDGES)  # 1 + (edges - 1)


def seen_factor(samples: int) -> float:
    """How much wider the relative error of an estimate from `samples` steady step times is
    than one from very many: sqrt(1 + SEEN_SAMPLES / samples), the standard deviation of a
    mean's error with a noise part (variance ~ 1 / samples) and a drift part of equal size at
    SEEN_SAMPLES (locally weighted conformal scores, Lei et al. 2018, section 5.2)."""
    return math.sqrt(1.0 + SEEN_SAMPLES / max(1, samples))


def unit(samples: int, eval_share: float = 0.0) -> float:
    """The scale of an estimate's relative error, the conformity score's divisor (locally weighted
    conformal scores, Lei et al. 2018, section 5.2): with `eval_share` (0..1) of the predicted time
    to come in evals, the rest is steps, whose error shrinks with the steady samples seen
    (seen_factor), and the evals are one quantity that shifts as a whole (EVAL_UNIT):
    sqrt((seen_factor(samples) * (1 - s))^2 + (EVAL_UNIT * s)^2). seen_factor(samples) without evals."""
    s = min(max(eval_share, 0.0), 1.0) if math.isfinite(eval_share) else 0.0
    return math.hypot(seen_factor(samples) * (1.0 - s), EVAL_UNIT * s)


def conformal_level(n: int, alpha: float) -> float:
    """Split-conformal quantile level with the finite-sample correction: the
    ceil((n + 1)(1 - alpha)) / n empirical quantile of n calibration scores covers a new
    exchangeable score with probability >= 1 - alpha. Above 1 (too few scores) it is 1:
    the largest score seen, and the guarantee no longer holds."""
    if n <= 0:
        return 1.0
    return min(1.0, math.ceil((n + 1) * (1.0 - alpha)) / n)


#: A calibration row: (progress, samples, signed relative error), or with the share of the time
#: to come in evals after it (see `unit`; 0 where left out).
Row = tuple[float, int, float] | tuple[float, int, float, float]


def calibrate(errors: Mapping[str, Iterable[Row]], alpha: float = ALPHA) -> Calibration:
    """A table from per-run errors: run name -> (progress, samples, signed relative error[, eval
    share]) at every scored line. Lines of one run are not exchangeable with another's, runs are:
    each run's score in a bucket is the pair of its own alpha/2 and 1 - alpha/2 error quantiles
    (the band that would have held 1 - alpha of its lines there), and the bucket's bounds are
    the split-conformal quantile of those scores over the runs that reached it. Each error is
    divided by unit(samples, eval share) first, so a line from few samples weighs as one from
    many, and one whose time to come is mostly evals as one that is mostly steps."""
    per: list[dict[str, list[float]]] = [{} for _ in range(N_BUCKETS)]
    for name, rows in errors.items():
        for progress, samples, err, *share in rows:
            if math.isfinite(err):
                per[bucket(progress, samples)].setdefault(name, []).append(err / unit(samples, *share))
    low: list[float | None] = []
    high: list[float | None] = []
    for runs in per:
        if not runs:
            low.append(None)
            high.append(None)
            continue
        # "inverted_cdf": the smallest value with at least that share at or below it, so the
        # k-th smallest of n scores is the quantile at k / n (the conformal order statistic)
        lows = np.array([np.quantile(v, alpha / 2, method="inverted_cdf") for v in runs.values()])
        highs = np.array([np.quantile(v, 1 - alpha / 2, method="inverted_cdf") for v in runs.values()])
        level = conformal_level(len(runs), alpha)
        high.append(float(np.quantile(highs, level, method="inverted_cdf")))
        low.append(-float(np.quantile(-lows, level, method="inverted_cdf")))
    return Calibration(tuple(low), tuple(high), len(errors))


#: Classes of `Bands`, as `calibrate_split` takes them (a bool: True is "shared").
CLASSES = ("alone", "shared", "harmless")


#: A calibration row with its class (one of CLASSES, or a bool: GPU shared or not) after the
#: error, then the eval share as in `Row`.
SplitRow = tuple[float, int, float, bool | str] | tuple[float, int, float, bool | str, float]


def calibrate_split(errors: Mapping[str, Iterable[SplitRow]], alpha: float = ALPHA) -> Bands:
    """Bands from per-run errors: run name -> (progress, samples, signed relative error, class[,
    eval share]) at every scored line, the class one of CLASSES (or a bool: GPU shared or not);
    each class calibrated as `calibrate` does on its lines only. A bucket no run reached in the
    shared class takes the alone table's bounds there, and in the harmless class the shared table's."""
    rows = {name: [(p, k, e, c if isinstance(c, str) else CLASSES[int(c)], share[0] if share else 0.0)
                   for p, k, e, c, *share in r]
            for name, r in errors.items()}

    def table(cls: str) -> Calibration:
        return calibrate({n: v for n, r in rows.items()
                          if (v := [(p, k, e, s) for p, k, e, c, s in r if c == cls])}, alpha)

    def filled(cal: Calibration, under: Calibration) -> Calibration:
        return Calibration(tuple(u if c is None else c for c, u in zip(cal.low, under.low)),
                           tuple(u if c is None else c for c, u in zip(cal.high, under.high)), cal.runs)

    alone = table("alone")
    shared = filled(table("shared"), alone)
    harmless = filled(table("harmless"), shared)
    return Bands(alone, shared, harmless)


def interval(cal: Calibration, progress: float, samples: int, eval_share: float = 0.0) -> tuple[float, float] | None:
    """(low, high) relative errors for an estimate at `progress` from `samples` samples with
    `eval_share` of the time to come in evals (the bucket's, times unit(samples, eval_share)); a
    bucket no calibration run reached borrows the nearest earlier one (wider)."""
    k = bucket(progress, samples)
    f = unit(samples, eval_share)
    while k >= 0:
        lo, hi = cal.low[k], cal.high[k]
        if lo is not None and hi is not None:
            return min(f * lo, 0.0), max(f * hi, 0.0)
        k -= 1
    return None


def widen(
    low: float, high: float, *, cal: Calibration | None, finish: float, now: float, scale_s: float,
    progress: float, samples: int, lag_s: float = 0.0, eval_share: float = 0.0,
) -> tuple[float, float]:
    """The band: the model's own (`low`, `high`, epoch s) joined with the conformal band
    around `finish` when `scale_s` seconds are predicted still to come, `eval_share` of them in
    evals; never before `now`. `lag_s`: the run may be up to that far ahead of the newest line
    read (block-buffered output, tracker.burst_lag_s), so the finish may come that much earlier:
    the low side reaches from `finish - lag_s` (see `lagged_error`)."""
    q = None if cal is None else interval(cal, progress, samples, eval_share)
    low = min(low, max(now, finish - lag_s))
    if q is not None:
        low = min(low, max(now, finish - lag_s + q[0] * scale_s))
        high = max(high, finish + q[1] * scale_s)
    return low, high


def lagged_error(truth: float, finish: float, lag_s: float) -> float:
    """The signed error (s) of `finish` against the `truth` when the run may be up to `lag_s`
    ahead of what it says: none while the truth is within [finish - lag_s, finish], else the
    distance beyond (the conformity score of `widen`'s band)."""
    err = truth - finish
    return min(0.0, err + lag_s) if err < 0.0 else err
