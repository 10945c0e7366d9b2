"""The finish-time band checked on runs it was not calibrated on: leave-one-run-out split
conformal calibration over replayed runs (see monitor/core/band.py), and the table that
benchmarks/eta_accuracy.py prints.

A replay records, at every iteration line, the point estimate, the model's own band and the
predicted time to come. The point estimate fits nothing across runs (its constants are set by
hand), so a run's errors are the same in and out of sample; what is fitted across runs is the
band's calibration table, and that is what leave-one-run-out recomputes without the run.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.core.band import Calibration, calibrate, widen

if TYPE_CHECKING:
    from benchmarks.eta_accuracy import Line, Result

#: Coverage is counted over the lines from this share of the run on (the issue's "records
#: from 5% progress on").
COVERAGE_FROM = 0.05
LOO_POINTS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90)


def scores(result: Result) -> list[tuple[float, int, float]]:
    """(progress, samples, signed relative error) at every line of a replayed run: the
    calibration data, (true finish - predicted) / predicted time to come."""
    truth = result.truth
    return [(ln.fraction, ln.samples, (truth - ln.finish) / ln.scale_s) for ln in result.lines]


def band_of(line: Line, cal: Calibration | None) -> tuple[float, float]:
    return widen(line.model_low, line.model_high, cal=cal, finish=line.finish, now=line.now,
                 scale_s=line.scale_s, progress=line.fraction, samples=line.samples)


def coverage(result: Result, cal: Calibration | None, since: float = COVERAGE_FROM) -> tuple[int, int]:
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


def mean_width(result: Result, cal: Calibration | None, since: float = COVERAGE_FROM) -> float:
    """Mean band width over the lines from `since` on, as a share of the run's duration."""
    bands = [band_of(ln, cal) for ln in result.lines if ln.fraction >= since]
    widths = [high - low for low, high in bands]
    return sum(widths) / len(widths) / result.duration_s if widths else math.nan


def calibration_from(results: list[Result]) -> Calibration:
    return calibrate({r.name: scores(r) for r in results})


@dataclass(frozen=True, slots=True)
class LooRow:
    name: str
    errors: dict[float, float | None]  # fraction -> nanowatch error (same in and out of sample)
    wallclock: dict[float, float | None]
    loo_covered: tuple[int, int]
    loo_width: float
    in_covered: tuple[int, int]
    in_width: float


def leave_one_out(results: list[Result]) -> list[LooRow]:
    """Per run: the band calibrated on every other run (held out) beside the band
    calibrated on all of them (in sample)."""
    everything = calibration_from(results)
    rows = []
    for r in results:
        others = calibration_from([o for o in results if o is not r])
        errs = {p.fraction: p.errors.get("nanowatch") for p in r.points}
        wall = {p.fraction: p.errors.get("wallclock") for p in r.points}
        rows.append(LooRow(r.name, errs, wall, coverage(r, others), mean_width(r, others),
                           coverage(r, everything), mean_width(r, everything)))
    return rows


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"


def loo_table(rows: list[LooRow], markdown: bool) -> str:
    head = ["run", *(f"{100 * f:.0f}%" for f in LOO_POINTS), "behind wall", "LOO cover", "LOO width",
            "in-sample cover", "width"]
    body = []
    for r in rows:
        behind = [(r.errors.get(f) or 0.0) - w for f in LOO_POINTS if (w := r.wallclock.get(f)) is not None]
        body.append([
            r.name, *(_pct(r.errors.get(f)) for f in LOO_POINTS), _pct(max(behind) if behind else None),
            f"{r.loo_covered[0]}/{r.loo_covered[1]} = {_pct(r.loo_covered[0] / max(1, r.loo_covered[1]))}",
            _pct(r.loo_width),
            f"{r.in_covered[0]}/{r.in_covered[1]} = {_pct(r.in_covered[0] / max(1, r.in_covered[1]))}",
            _pct(r.in_width),
        ])
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(out + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:>{w}}}" for w in widths)
    return "\n".join([fmt.format(*head), *(fmt.format(*b) for b in body)])


LOO_NOTE = """\
Leave one run out: for each run, the band's calibration table is recomputed from every other
run and the held-out run is scored with it (LOO cover: lines from 5% on whose band held the true
finish; width: mean band width / duration). The point estimate fits nothing across runs, so its
errors (at 5..90%, and 'behind wall': the most it trails the wall-clock rate at those points,
negative = ahead) are the same in and out of sample. In-sample: calibrated on all runs."""
