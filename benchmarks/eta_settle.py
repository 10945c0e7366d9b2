"""Do early step times settle lower? On the runs the tables are fitted on (eta_accuracy.fitted_on),
two ratios a prior that "early levels settle lower" would be fitted from (BENCHMARKS.md, "An early
step time that settles lower").

Run: python benchmarks/eta_settle.py [--jobs N]

1. By steady samples seen: the true time left over the model's time left (Estimate.methods "model"),
   the median over each run's lines up to 50% progress, then the median and quartiles over runs.
   Below 1: the model's early time left was long (its early level settled lower).
2. Per run: the step level (Estimate.step_time_s) at the first estimate whose eval pause comes from
   the config, over the level at the run's last line; the config's eval pause there over the
   measured one at the last line. Above 1: the early step time and the config eval cost built from
   it were high (settled lower).
Figures do not depend on the machine (virtual clock).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.eta_accuracy import Result, all_recorded_runs, fitted_on, map_jobs, replay_all
from monitor.core.estimate import estimate
from monitor.core.plan import make_plan
from monitor.core.report import Options
from monitor.session import Session
from monitor.sources.replay import timed_lines

#: bucket edges in steady samples (the band's "how much was seen")
EDGES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def time_left_ratios(results: list[Result]) -> list[tuple[str, int, float, float, float]]:
    """(samples bucket, runs, median, q25, q75) of true / model time left, per run's median first."""
    per: dict[int, list[float]] = {i: [] for i in range(len(EDGES))}
    for r in results:
        mine: dict[int, list[float]] = {i: [] for i in per}
        for ln in r.lines:
            model = dict(ln.methods).get("model")
            if model is None or model <= ln.now or ln.fraction > 0.5 or r.truth <= ln.now:
                continue
            i = int(np.searchsorted(EDGES, ln.samples, side="right")) - 1
            if i >= 0:
                mine[i].append(math.log((r.truth - ln.now) / (model - ln.now)))
        for i, v in mine.items():
            if v:
                per[i].append(float(np.median(v)))
    out = []
    for i, v in per.items():
        if v:
            hi = f"{EDGES[i + 1] - 1}" if i + 1 < len(EDGES) else "+"
            q = np.exp(np.quantile(v, [0.5, 0.25, 0.75]))
            out.append((f"{EDGES[i]}-{hi}", len(v), *map(float, q)))
    return out


def early_and_late(job: tuple[str, Path, Path | None, int | None]) -> tuple[str, float, float] | None:
    """(name, level at the first config eval estimate / level at the end, config eval / measured
    eval at the end), None where the run has no such pair."""
    name, log, times, flag = job
    items = list(timed_lines(str(log), None if times is None else str(times), 0.0))
    now = [items[0][0]]
    session = Session(Options(source=str(log), max_iters=flag), lambda: now[0])
    first = last = None
    for t, line in items:
        now[0] = t
        if not session.feed(line, t):
            continue
        run = session.state.current
        e = estimate(run, make_plan(run, session.format, flag), t, calibration=None)
        if e.eval_source == "config" and first is None:
            first = (e.step_time_s, e.eval_time_s)
        if e.eval_source == "measured":
            last = (e.step_time_s, e.eval_time_s)
    if first is None or last is None or not all(first) or not all(last):
        return None
    return name, first[0] / last[0], first[1] / last[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1, help="replay this many runs at once (default 1)")
    args = ap.parse_args()
    runs = [r for r in all_recorded_runs() if fitted_on(r[0])]
    scored = [r for r in replay_all(runs, args.jobs) if isinstance(r, Result)]
    print(f"true / model time left up to 50% progress, {len(scored)} fitted runs, by steady samples seen:")
    for bucket, n, med, q25, q75 in time_left_ratios(scored):
        print(f"  {bucket:>8} samples: {n} runs, median {med:.3f} (q25 {q25:.3f}, q75 {q75:.3f})")
    names = {r.name for r in scored}
    pairs = map_jobs(early_and_late, [job for job in runs if job[0] in names], args.jobs)
    got = [p for p in pairs if p is not None]
    for k, what in ((1, "step level at the first config eval estimate / at the end"),
                    (2, "config eval pause there / measured at the end")):
        v = np.array([p[k] for p in got])
        q = np.quantile(v, [0.5, 0.25, 0.75])
        print(f"{what}: {len(v)} runs, median {q[0]:.3f} (q25 {q[1]:.3f}, q75 {q[2]:.3f}), above 1 on {int((v > 1).sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
