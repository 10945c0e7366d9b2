"""The plain wall-clock rate combined with the blend three ways, judged leave one run out (BENCHMARKS.md,
"Behind the wall-clock rate"): none shipped.

The plain rate (Tracker.wallclock_rate with no eval taken out: steps left x time since the first
iteration line / steps since) is recorded at every line as a fourth method beside the estimator's,
then each line's finish is recombined offline as eta_band.reblend does:
  fourth     the plain rate as a fourth method of the blend (blend.fit over four methods)
  persist    the finish moved c x s of the way to the plain rate's, s = max(0, 2 x share - 1), share:
             the run's lines so far on which the blend's finish lay on the same side of the plain
             rate's as now ("--late": only while the blend's is the later)
  clamp      the time left kept within the plain rate's x (1 +- t)
c and t fitted on the other runs' lines (the blend's loss) unless --value forces one.

Run: PYTHONPATH=. python3 benchmarks/eta_plain_rate.py {fourth,persist,clamp} [--value X] [--late] [--jobs 2]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import benchmarks.eta_accuracy as accuracy_mod
import monitor.core.blend as blend_mod
from benchmarks import eta_band as eb
from benchmarks.eta_accuracy import UNFITTED_PREFIXES, Result, _replay_job, all_recorded_runs, fitted_on, map_jobs
from monitor.core.estimate import LEAD_SHARE, estimate, lead
from monitor.core.tracker import Tracker


def _with_plain(run, plan, now, *args, **kwargs):  # type: ignore[no-untyped-def]
    est = estimate(run, plan, now, *args, **kwargs)
    last = run.last_iter
    if not est.methods or last is None or run.last_t is None:
        return est
    plain = Tracker.of(run).wallclock_rate(last, run.last_t, None, 0.0)
    if plain is None:
        return est
    steps_left = max(0, plan.final_iter - last)
    credit = min(max(0.0, now - run.last_t), est.next_line_s)
    return replace(est, methods=tuple(sorted((*est.methods, ("plain", now + steps_left * plain - credit)))))


def _job(item):  # type: ignore[no-untyped-def]
    """eta_accuracy's replay job with the plain rate recorded (in each worker process)."""
    accuracy_mod.estimate = _with_plain  # type: ignore[assignment]
    return _replay_job(item)


def _signals(r: Result, late: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per line: the plain rate's finish (NaN where none) and the persistence s."""
    n = len(r.lines)
    plain, s = np.full(n, np.nan), np.zeros(n)
    pos = neg = 0
    for i, ln in enumerate(r.lines):
        p = dict(ln.methods).get("plain")
        if p is None or ln.announced:
            continue
        plain[i] = p
        d = ln.finish - p
        pos, neg = pos + (d > 0), neg + (d < 0)
        same = pos if d > 0 else neg if d < 0 else 0
        if pos + neg and not (late and d <= 0):
            s[i] = max(0.0, 2 * same / (pos + neg) - 1)
    return plain, s


def _remaining(kind: str, x: float, now: np.ndarray, f: np.ndarray, plain: np.ndarray, s: np.ndarray) -> np.ndarray:
    rb = f - now
    rp = np.maximum(0.0, plain - now)
    if kind == "persist":
        w = x * s
        new = np.maximum(0.0, (1 - w) * rb + w * rp)
    else:
        new = np.minimum(np.maximum(rb, rp * (1 - x)), rp * (1 + x))
    return np.where(np.isfinite(plain), new, rb)


def _shifted(r: Result, kind: str, x: float, late: bool) -> Result:
    plain, s = _signals(r, late)
    now = np.array([ln.now for ln in r.lines])
    rem = _remaining(kind, x, now, np.array([ln.finish for ln in r.lines]), plain, s)
    lines = tuple(replace(ln, finish=ln.now + float(rem[i]), scale_s=max(float(rem[i]), ln.next_line_s))
                  for i, ln in enumerate(r.lines))
    points = [p if p.line is None else replace(p, errors={**p.errors, "nanowatch": abs(
        lead(lines[p.line].now, lines[p.line].finish, lines[p.line].lag_s) - r.truth) / r.duration_s})
        for p in r.points]
    return replace(r, lines=lines, points=points)


def _fit(results: list[Result], kind: str, grid: list[float], late: bool) -> float:
    """The grid value with the least sum over runs of the mean absolute error over their lines."""
    best: tuple[float, float] | None = None
    data = []
    for r in results:
        plain, s = _signals(r, late)
        data.append((r, plain, s, np.array([ln.now for ln in r.lines]), np.array([ln.finish for ln in r.lines]),
                     np.array([ln.lag_s for ln in r.lines])))
    for x in grid:
        loss = 0.0
        for r, plain, s, now, f, lag in data:
            fin = np.maximum(now, now + _remaining(kind, x, now, f, plain, s) - LEAD_SHARE * lag)
            if len(fin):
                loss += float(np.mean(np.abs(fin - r.truth))) / r.duration_s
        if best is None or loss < best[0] - 1e-12:
            best = (loss, x)
    return best[1] if best is not None else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("fourth", "persist", "clamp"))
    ap.add_argument("--value", type=float, help="c (persist) or t (clamp), not fitted")
    ap.add_argument("--late", action="store_true", help="persist: only while the blend's finish is the later")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    results = [r for r in map_jobs(_job, all_recorded_runs(), args.jobs) if not isinstance(r, str)]
    fit = [r for r in results if fitted_on(r.name)]
    unfitted = [[r for r in results if r.name.startswith(p)] for p in UNFITTED_PREFIXES]
    if args.kind == "fourth":
        blend_mod.METHODS = ("model", "long", "wallclock", "plain")
        blend_mod.EVEN = blend_mod.Blend(tuple((0.25,) * 4 for _ in range(blend_mod.N_CELLS)), 0)
        print(eb.loo_report(fit, unfitted))
        return 0
    grid = [args.value] if args.value is not None else (
        [i / 10 for i in range(11)] if args.kind == "persist" else [0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, math.inf])
    rows, chosen = [], []
    for r in fit:
        blend, _, others = eb.fitted([o for o in fit if o is not r])
        x = _fit(others, args.kind, grid, args.late)
        chosen.append(x)
        cal = eb.calibration_from([_shifted(o, args.kind, x, args.late) for o in others])
        held = _shifted(eb.reblend(r, blend), args.kind, x, args.late)
        rows.append(eb.LooRow(r.name, {p.fraction: p.errors.get("nanowatch") for p in held.points},
                              {p.fraction: p.errors.get("wallclock") for p in r.points}, eb.coverage(held, cal),
                              eb.mean_width(held, cal), (0, 0), math.nan, eb.median_relative_width(held, cal)))
    print(f"{args.kind}: value per fold {sorted(set(chosen))}, mean {statistics.mean(chosen):.3f}")
    print(eb.loo_summary(rows))
    blend, _, blended = eb.fitted(fit)
    x = _fit(blended, args.kind, grid, args.late)
    cal = eb.calibration_from([_shifted(o, args.kind, x, args.late) for o in blended])
    for prefix, subset in zip(UNFITTED_PREFIXES, unfitted):
        shifted = [_shifted(eb.reblend(r, blend), args.kind, x, args.late) for r in subset]
        print(eb.test_set_report(shifted, cal, prefix).splitlines()[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
