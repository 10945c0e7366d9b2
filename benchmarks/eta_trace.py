"""Trace one recorded run's finish-time estimate part by part: at each scored point (and at
every line with --lines), what each part of the estimate said against what the rest of the run
did (BENCHMARKS.md, "h200k traced").

Run: python benchmarks/eta_trace.py RUN_FOLDER [--lines] [--every N]

Per point: the error of the shipped finish (% of the run's duration, signed: + late); the step
time the estimate charges for the steps left (`model`, `long`, `wall` methods and their weights),
against the true time per step to come with the evals out (`true_step`: the rest of the run's
arrival gaps with every gap holding an eval or a checkpoint left out, per step); the eval pause
charged (`pause`, x evals left) against the true mean of the eval gaps to come less their steps
(`true_pause`); the burst lead (`lag`); and the band (low/high, % of duration, from the finish).
The error split: `err_steps` = steps left x (blended step time - true step time), `err_evals` =
evals left x (pause - true pause), the rest (`err_other`: the credit for time since the last
line, the lead, cut-off), all in % of the duration. Figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import POINTS, wallclock_rate
from benchmarks.eta_contention import replayed
from benchmarks.eta_kinds import eval_gaps
from benchmarks.tables import render
from monitor.core.estimate import Estimate, estimate
from monitor.core.pause import eval_interval_of
from monitor.core.plan import make_plan
from monitor.session import Session


@dataclass(frozen=True, slots=True)
class Row:
    fraction: float
    iter: int
    run_index: int
    now: float
    est: Estimate
    steps_left: int
    plain: float | None


def _feed(folder: Path) -> tuple[Session, list[Row], float, float, int]:
    """Replay the folder's run (its last process in the file), keeping the estimate at every line."""
    rows: list[Row] = []
    session: Session | None = None
    for t, session in replayed(folder / "run.log", folder / "run.times"):
        run = session.state.current
        plan = make_plan(run, session.format, None)
        last, final = run.last_iter, plan.final_iter
        if final is None or last is None or last >= final:
            continue
        first = run.first_iter or 0
        fraction = (last - first) / (final - first) if final > first else 1.0
        contention = session.telemetry.contention if session.telemetry is not None else ()
        est = estimate(run, plan, t, contention=contention)
        rows.append(Row(fraction, last, run.index, t, est, final - last, wallclock_rate(run, plan, t)))
    if session is None:
        raise ValueError(f"no line of {folder / 'run.log'} is a run's")
    run = session.state.current  # the session has read every line
    rows = [r for r in rows if r.run_index == run.index]  # the last process is scored (replay())
    first_t, truth = run.first_t or math.nan, run.last_line_t or math.nan
    plan = make_plan(run, session.format, None)
    return session, rows, float(first_t), float(truth), eval_interval_of(run, plan) or 0


def _truth_parts(session: Session, every: int, step_s: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line of the finished run: its iteration, its arrival, and whether the gap that ends
    at it holds an eval (due by the interval, or a logged one) or a pause over 10 steps' time."""
    run = session.state.current
    iters, t = run.iters.values.astype(float), run.t.values.astype(float)
    held = np.zeros(len(iters), dtype=bool)
    if len(iters) > 1:
        held[1:] = eval_gaps(iters, every, {e.iter for e in run.evals}) | (np.diff(t) > 10 * np.diff(iters) * step_s)
    return iters, t, held


def trace(folder: Path, all_lines: bool = False, stride: int = 1) -> str:
    session, rows, first_t, truth, every = _feed(folder)
    duration = truth - first_t
    finals = [r for r in rows if r.est.step_time_s]
    step_end = finals[-1].est.step_time_s if finals else 0.0
    iters, t, held = _truth_parts(session, every, step_end or 0.0)
    out = []
    pending = list(POINTS)
    for k, r in enumerate(rows):
        marks = []
        while pending and r.fraction >= pending[0]:
            marks.append(f"{100 * pending.pop(0):.0f}%")
        if not marks and not (all_lines and k % stride == 0):
            continue
        e = r.est
        if e.finish is None:
            out.append([",".join(marks) or "·", f"{100 * r.fraction:.1f}", str(r.iter)] + ["–"] * 14)
            continue
        # the rest of the run from this line: gaps with and without an eval
        j = int(np.searchsorted(iters, r.iter, side="right"))
        gaps = np.diff(np.concatenate([[t[j - 1]], t[j:]])) if j < len(t) else np.array([])
        steps = np.diff(np.concatenate([[iters[j - 1]], iters[j:]])) if j < len(t) else np.array([])
        # a bursty log: the gaps carry no per-line time, and no gap is an eval's
        bursty = bool(len(gaps)) and bool(np.mean(gaps < 0.5 * steps * step_end) > 0.3)
        h = np.zeros(len(gaps), dtype=bool) if bursty else held[j:]
        plain_steps = steps[~h].sum()
        true_step = gaps[~h].sum() / plain_steps if plain_steps > 0 else math.nan
        n_held = int(h.sum())
        true_pause = (gaps[h].sum() - steps[h].sum() * true_step) / n_held if n_held else math.nan
        methods = dict(e.methods)
        weights = dict(e.weights)
        rate = {m: (methods[m] - r.now) / r.steps_left if r.steps_left else math.nan for m in methods}
        evals_left = e.evals_left or 0
        pause = e.eval_time_s or 0.0
        train_rate = sum(weights.get(m, 0.0) * (methods[m] - r.now - evals_left * pause) / r.steps_left
                         for m in methods) if r.steps_left else math.nan
        err = (e.finish - truth) / duration
        if bursty:
            err_steps = err_evals = math.nan  # only the whole time left is known
            true_step = true_pause = math.nan
        else:
            err_steps = r.steps_left * (train_rate - true_step) / duration
            err_evals = (evals_left * pause - n_held * (true_pause if n_held else 0.0)) / duration
        plain_err = (r.plain - truth) / duration if r.plain is not None else math.nan
        out.append([
            ",".join(marks) or "·", f"{100 * r.fraction:.1f}", str(r.iter), f"{100 * err:+.2f}", f"{100 * plain_err:+.2f}",
            f"{1e3 * (e.step_time_s or 0):.2f}", ",".join(f"{m[0]}{1e3 * v:.2f}" for m, v in sorted(rate.items())),
            ",".join(f"{m[0]}{w:.2f}" for m, w in sorted(weights.items())), f"{1e3 * train_rate:.2f}",
            f"{1e3 * true_step:.2f}", f"{pause:.2f}x{evals_left}", f"{true_pause:.2f}x{n_held}",
            f"{100 * err_steps:+.2f}", f"{100 * err_evals:+.2f}", f"{100 * (err - err_steps - err_evals):+.2f}" if not bursty else "bursty",
            f"{e.lag_s:.1f}", f"{100 * ((e.low or 0) - truth) / duration:+.1f}/{100 * ((e.high or 0) - truth) / duration:+.1f}"
            + ("" if (e.low or 0) <= truth <= (e.high or 0) else ",MISS"),
        ])
    head = ["pt", "prog%", "iter", "err%", "plain%", "level_ms", "methods_ms", "weights", "blend_ms",
            "true_ms", "pause", "true_pause", "e_steps", "e_evals", "e_other", "lag_s", "band_lo/hi%"]
    return f"{folder.name}: duration {duration:.1f} s, eval every {every}\n" + render(head, out, False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--lines", action="store_true", help="every line, not only the scored points")
    ap.add_argument("--every", type=int, default=1, help="with --lines, every Nth line")
    args = ap.parse_args()
    if not (args.folder / "run.times").exists():
        print(f"no run.times in {args.folder}", file=sys.stderr)
        return 2
    print(trace(args.folder, args.lines, args.every))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
