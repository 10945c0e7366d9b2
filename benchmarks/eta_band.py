"""The finish time checked on runs it was not fitted on: leave-one-run-out refits of what is
fitted across replayed runs (the blend of the methods, monitor/core/blend.py; the band's split
conformal tables, alone and shared, monitor/core/band.py), and the table that
benchmarks/eta_accuracy.py prints.

A replay records, at every iteration line, the finish each method predicts, the model's own
band, the least time the next line takes and the other processes on the run's GPUs. Everything fitted is refitted here from those
lines without replaying again: for each run, the blend is fitted on every other run, the band
calibrated on their errors under that blend, and the run scored with both.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.tables import render
from monitor.core.band import Bands, calibrate_split, lagged_error, widen
from monitor.core.blend import Blend, fit
from monitor.core.estimate import blend_weights, lead

if TYPE_CHECKING:
    from benchmarks.eta_accuracy import Line, Result

#: Coverage is counted over the lines from this share of the run on (the issue's "records
#: from 5% progress on").
COVERAGE_FROM = 0.05
LOO_POINTS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90)


def scores(result: Result) -> list[tuple[float, int, float, str, float]]:
    """(progress, samples, signed relative error, class of band, eval share) at every line of a
    replayed run: the calibration data, (true finish - predicted) / predicted time to come; where
    the run may be ahead of its newest line (block-buffered output), the error beyond that lag
    (band.lagged_error)."""
    truth = result.truth
    return [(ln.fraction, ln.samples, lagged_error(truth, ln.finish, ln.lag_s) / ln.scale_s, band_class(ln),
             ln.eval_share) for ln in result.lines]


def band_class(line: Line) -> str:
    """The line's class of band (band.CLASSES): other processes listed and the run slowed (or
    not shown to run as fast) beside them, listed and as fast, or none listed."""
    return "shared" if line.shared else "harmless" if line.others > 0 else "alone"


def band_of(line: Line, cal: Bands | None) -> tuple[float, float]:
    low, high = min(line.model_low, line.finish), max(line.model_high, line.finish)
    cls = band_class(line)
    table = None if cal is None else cal.of(cls == "shared", cls == "harmless")
    return widen(low, high, cal=table, finish=line.finish, now=line.now, scale_s=line.scale_s,
                 progress=line.fraction, samples=line.samples, lag_s=line.lag_s, eval_share=line.eval_share)


def method_errors(result: Result) -> list[tuple[float, bool, dict[str, float]]]:
    """(progress, after a speed-up, method -> (its finish - true finish) / duration) at every
    line: the blend's fitting data (lines where the log announced the change are the model's
    alone)."""
    truth, dur = result.truth, result.duration_s
    return [(ln.fraction, ln.sped_up, {m: (lead(ln.now, f, ln.lag_s) - truth) / dur for m, f in ln.methods})
            for ln in result.lines if not ln.announced]


def reblend(result: Result, blend: Blend) -> Result:
    """The run's lines and points as the estimator would have given them with `blend`."""
    lines = []
    for ln in result.lines:
        methods = dict(ln.methods)
        if not methods:
            lines.append(ln)
            continue
        w = blend_weights(blend, ln.fraction, methods, ln.announced, ln.sped_up)
        remaining = max(0.0, sum(share * (methods[m] - ln.now) for m, share in w.items()))
        lines.append(replace(ln, finish=ln.now + remaining, scale_s=max(remaining, ln.next_line_s)))
    points = []
    for p in result.points:
        if p.line is not None:
            ln = lines[p.line]
            err = abs(lead(ln.now, ln.finish, ln.lag_s) - result.truth) / result.duration_s
            p = replace(p, errors={**p.errors, "nanowatch": err})
        points.append(p)
    return replace(result, lines=tuple(lines), points=points)


def fitted(results: list[Result]) -> tuple[Blend, Bands, list[Result]]:
    """The blend fitted on `results`, the band calibrated on their errors under it, and the
    results as that blend gives them."""
    blend = fit({r.name: method_errors(r) for r in results})
    blended = [reblend(r, blend) for r in results]
    return blend, calibration_from(blended), blended


def coverage(result: Result, cal: Bands | None, since: float = COVERAGE_FROM) -> tuple[int, int]:
    """Lines from `since` on whose band (with `cal`) held the true finish, and lines scored."""
    truth = result.truth
    hits = n = 0
    for line in result.lines:
        if line.fraction < since:
            continue
        low, high = band_of(line, cal)
        n += 1
        hits += low <= truth <= high
    return hits, n


def mean_width(result: Result, cal: Bands | None, since: float = COVERAGE_FROM) -> float:
    """Mean band width over the lines from `since` on, as a share of the run's duration."""
    bands = [band_of(ln, cal) for ln in result.lines if ln.fraction >= since]
    widths = [high - low for low, high in bands]
    return sum(widths) / len(widths) / result.duration_s if widths else math.nan


def median_relative_width(result: Result, cal: Bands | None, since: float = COVERAGE_FROM) -> float:
    """Median band width over the lines from `since` on, as a share of the time then truly
    left (the band's honesty on a steady run: how wide it is for what remains)."""
    rel = [(high - low) / (result.truth - ln.now) for ln in result.lines
           if ln.fraction >= since and result.truth > ln.now for low, high in [band_of(ln, cal)]]
    return float(statistics.median(rel)) if rel else math.nan


def calibration_from(results: list[Result]) -> Bands:
    return calibrate_split({r.name: scores(r) for r in results})


@dataclass(frozen=True, slots=True)
class LooRow:
    name: str
    errors: dict[float, float | None]  # fraction -> nanowatch error, blend fitted without the run
    wallclock: dict[float, float | None]
    loo_covered: tuple[int, int]
    loo_width: float
    in_covered: tuple[int, int]
    in_width: float
    loo_relative_width: float = math.nan  # median band width / time truly left, lines from 5% on


def leave_one_out(results: list[Result]) -> list[LooRow]:
    """Per run: its errors and band with the blend and band fitted on every other run (held
    out), its band with both fitted on all runs (in sample)."""
    _, cal_all, all_blended = fitted(results)
    rows = []
    for r, mine in zip(results, all_blended):
        blend, cal, _ = fitted([o for o in results if o is not r])
        held = reblend(r, blend)
        errs = {p.fraction: p.errors.get("nanowatch") for p in held.points}
        wall = {p.fraction: p.errors.get("wallclock") for p in r.points}
        rows.append(LooRow(r.name, errs, wall, coverage(held, cal), mean_width(held, cal),
                           coverage(mine, cal_all), mean_width(mine, cal_all), median_relative_width(held, cal)))
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"


def loo_table(rows: list[LooRow], markdown: bool) -> str:
    head = ["run", *(f"{100 * f:.0f}%" for f in LOO_POINTS), "behind wall", "LOO cover", "LOO width",
            "in-sample cover", "width"]
    body = []
    for r in rows:
        body.append([
            r.name, *(_pct(r.errors.get(f)) for f in LOO_POINTS), _pct(behind_wall(r)),
            f"{r.loo_covered[0]}/{r.loo_covered[1]} = {_pct(r.loo_covered[0] / max(1, r.loo_covered[1]))}",
            _pct(r.loo_width),
            f"{r.in_covered[0]}/{r.in_covered[1]} = {_pct(r.in_covered[0] / max(1, r.in_covered[1]))}",
            _pct(r.in_width),
        ])
    return render(head, body, markdown)


def behind_wall(row: LooRow) -> float | None:
    """The most the held-out error trails the wall-clock rate's at LOO_POINTS (negative: ahead)."""
    behind = [(row.errors.get(f) or 0.0) - w for f in LOO_POINTS if (w := row.wallclock.get(f)) is not None]
    return max(behind) if behind else None


def loo_summary(rows: list[LooRow]) -> str:
    """The targets met, counted over the held-out runs, and the mean error at LOO_POINTS."""
    n = len(rows)

    def err(r: LooRow, f: float) -> float:
        e = r.errors.get(f)
        return math.inf if e is None else e

    at5 = sum(err(r, 0.05) <= 0.05 for r in rows)
    later = sum(all(err(r, f) <= 0.03 for f in LOO_POINTS if f >= 0.10) for r in rows)
    wall = sum((b := behind_wall(r)) is not None and b <= 0.005 for r in rows)
    cover = sum(r.loo_covered[0] >= 0.90 * r.loo_covered[1] for r in rows)
    errs = [e for r in rows for f in LOO_POINTS if (e := r.errors.get(f)) is not None]
    width = statistics.median(r.loo_relative_width for r in rows)
    return (f"held out: <= 5% at 5%: {at5}/{n}; <= 3% from 10% on: {later}/{n}; <= 0.5 pt behind the "
            f"wall-clock rate: {wall}/{n}; band coverage >= 90%: {cover}/{n}; mean error at the six points: "
            f"{100 * statistics.mean(errs):.3f}%; median band width / time left: {100 * width:.1f}%")


LOO_NOTE = """\
Leave one run out: for each run, the blend of the methods is fitted on every other run, the band
calibrated on their errors under it, and the held-out run scored with both: its errors at 5..90%,
'behind wall' (the most it trails the wall-clock rate at those points, negative = ahead), LOO
cover (lines from 5% on whose band held the true finish) and width (mean band width / duration).
In-sample: blend and band fitted on all runs."""


def test_set_report(results: list[Result], cal: Bands, label: str = "test set") -> str:
    """The test set (eta_accuracy.TEST_SET_PREFIXES: runs no table was fitted on) scored with the
    tables as shipped: per run the error at LOO_POINTS, the most it trails the wall-clock rate there,
    band coverage of the lines from 5% on and the band's mean width; then the four targets counted."""
    head = ["run", *(f"{100 * f:.0f}%" for f in LOO_POINTS), "behind wall", "cover", "width"]
    lines = [" | ".join(head)]
    met = [0, 0, 0, 0]
    errs: list[float] = []
    for r in results:
        e = {p.fraction: p.errors.get("nanowatch") for p in r.points}
        w = {p.fraction: p.errors.get("wallclock") for p in r.points}
        behind = max(((e.get(f) or 0.0) - x for f in LOO_POINTS if (x := w.get(f)) is not None), default=math.inf)
        hit, n = coverage(r, cal)
        at = [math.inf if e.get(f) is None else e[f] for f in LOO_POINTS]
        for i, ok in enumerate((at[0] <= 0.05, all(x <= 0.03 for x in at[1:]), behind <= 0.005, hit >= 0.90 * n)):
            met[i] += ok
        errs += [x for x in at if math.isfinite(x)]
        lines.append(" | ".join([r.name, *(_pct(x) for x in at), _pct(behind),
                                 f"{hit}/{n} = {_pct(hit / max(1, n))}", _pct(mean_width(r, cal))]))
    k = len(results)
    mean = f"{100 * statistics.mean(errs):.3f}%" if errs else "–"
    widths = [w for r in results if math.isfinite(w := median_relative_width(r, cal))]
    width = f"{100 * statistics.median(widths):.1f}%" if widths else "–"
    lines.append(f"{label}, tables as shipped: <= 5% at 5%: {met[0]}/{k}; <= 3% from 10% on: {met[1]}/{k}; "
                 f"<= 0.5 pt behind the wall-clock rate: {met[2]}/{k}; band coverage >= 90%: {met[3]}/{k}; "
                 f"mean error at the six points: {mean}; median band width / time left: {width}")
    return "\n".join(lines)


def loo_report(fit: list[Result], unfitted: list[list[Result]]) -> str:
    """The leave-one-run-out summary over `fit`, then each set of `unfitted` runs (named by their
    common prefix) scored with the tables fitted on `fit`, as calibrate_band.py would write them."""
    blend, cal, _ = fitted(fit)
    out = [loo_summary(leave_one_out(fit))]
    for subset in unfitted:
        label = os.path.commonprefix([r.name for r in subset]) or "unfitted"
        out.append(test_set_report([reblend(r, blend) for r in subset], cal, label).splitlines()[-1])
    return "\n".join(out)
