"""Which recorded runs show each kind of finish-time miss traced on h200k (BENCHMARKS.md, "h200k
traced"): properties read from the log and its line times alone, not from the estimate.

Run: python benchmarks/eta_kinds.py [--runs]

Kinds (each a general property of a run, measured on the scored process: the log's last):
- early_slow: the steps over the first 10% of the run (after its first logged step) took 15% or
  more longer than those over the rest (median arrival gap per step, eval gaps out; printed step
  times in a bursty log): an early step time that settles lower.
- later_slow: the same, the other way: the rest ran 15% or more slower than the first 10%
  (a competitor that arrives, data-bound drift).
- saves_stop: the process wrote checkpoints after its evals and stopped while its evals went on
  (two or more evals after its last save): nanoGPT's `always_save_checkpoint=False` once val
  loss stops improving.
- compile_eval: a compiled process whose first eval was not at its first logged step (a resume
  from a step off the eval grid) and took 1.5x or more its later evals (the eval graph's compile).
- bursty: 30% or more of the iteration lines came faster than half their printed steps (output
  block-buffered: `| tee` without `-u`, `> file`).
- resumed_same_log: the file holds more than one process (a run resumed into its own log).
Figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import UNFITTED_PREFIXES, _fed, all_recorded_runs, fitted_on
from monitor.core.pause import eval_interval_of
from monitor.core.plan import make_plan
from monitor.core.run import Run
from monitor.sources.replay import timed_lines

KINDS = ("early_slow", "later_slow", "saves_stop", "compile_eval", "bursty", "resumed_same_log")
EARLY = 0.10
MOVE = 1.15
BURSTY = 0.3
COMPILE_EVAL = 1.5


def eval_gaps(iters: np.ndarray, every: int, logged: set[int]) -> np.ndarray:
    """Per gap between two logged steps (len(iters) - 1): whether it holds an eval, due by the
    interval `every` (0: none known) or logged (`logged`: the evals' steps)."""
    return np.array([bool(every) and (int(b) // every != int(a) // every) or any(a < e <= b for e in logged)
                     for a, b in itertools.pairwise(iters)], dtype=bool)


def _per_step(run: Run, every: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(iteration, seconds per step) of each line after the first, eval gaps out; and whether the
    log is bursty (then the printed step times stand in for the gaps)."""
    it, t, p = run.iters.values.astype(float), run.t.values.astype(float), run.step_time_s.values.astype(float)
    steps, gaps = np.diff(it), np.diff(t)
    ok = steps > 0
    held = eval_gaps(it, every, {e.iter for e in run.evals})
    own = p[1:]
    fast = ok & np.isfinite(own) & (gaps < 0.5 * steps * own)
    bursty = bool(ok.sum()) and float(fast.sum()) / float(ok.sum()) >= BURSTY
    per = np.where(ok, (own if bursty else gaps / np.where(ok, steps, 1.0)), np.nan)
    keep = ok & ~held & np.isfinite(per) & (per > 0)
    keep[0] = False  # the step after the first logged one may still be warm-up
    return it[1:][keep], per[keep], bursty


def kinds_of(log: Path, times: Path) -> dict[str, bool] | None:
    """The kinds the run in `log` shows; None where it is not scored (replay(): a crash, a cut)."""
    items = list(timed_lines(str(log), str(times), 0.0))
    session = _fed(log, items)
    runs = [r for r in session.state.runs if r.n_iters]
    run = runs[-1]
    plan = make_plan(run, session.format, None)
    if run.crash is not None or plan.final_iter is None or (run.last_iter or 0) < plan.final_iter:
        return None
    every = eval_interval_of(run, plan) or 0
    it, per, bursty = _per_step(run, every)
    out = dict.fromkeys(KINDS, False)
    out["bursty"] = bursty
    out["resumed_same_log"] = len(runs) > 1
    final = plan.final_iter or int(run.iters.values[-1])
    first = run.first_iter or 0
    cut = first + EARLY * (final - first)
    early, rest = per[it <= cut], per[it > cut]
    if len(early) >= 3 and len(rest) >= 3:
        ratio = float(np.median(early) / np.median(rest))
        out["early_slow"] = ratio >= MOVE
        out["later_slow"] = ratio <= 1.0 / MOVE
    saves = [n.t for n in run.notes if n.kind == "checkpoint" and n.t is not None]
    eval_t = [e.t for e in run.evals if e.t is not None and e.iter > first]
    if saves and eval_t:
        out["saves_stop"] = sum(1 for x in eval_t if x > max(saves) + 1e-6) >= 2
    if plan.compiled is True and not any(e.iter == first for e in run.evals):
        iters, printed = run.iters.values, run.step_time_s.values
        own = []
        for e in run.evals:
            k = int(np.searchsorted(iters, e.iter))
            if e.iter > first and k < len(iters) and iters[k] == e.iter and math.isfinite(float(printed[k])):
                own.append(float(printed[k]))  # nanoGPT's eval step prints the eval's time with its own
        if len(own) >= 3:
            out["compile_eval"] = own[0] >= COMPILE_EVAL * float(np.median(own[1:]))
    return out


def group(name: str) -> str:
    if name.startswith("heldout/h200k_"):
        return "h200k"
    if fitted_on(name):
        return "fitted"
    for p in UNFITTED_PREFIXES:
        if name.startswith(p):
            return "studied"
    return "test"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", action="store_true", help="also list the runs of each kind")
    args = ap.parse_args()
    counts: dict[str, dict[str, list[str]]] = {g: {k: [] for k in KINDS} for g in ("h200k", "fitted", "studied")}
    totals = dict.fromkeys(counts, 0)
    for name, log, times, _ in all_recorded_runs():
        g = group(name)
        if g not in counts or times is None:
            continue
        found = kinds_of(log, times)
        if found is None:
            continue
        totals[g] += 1
        for k, v in found.items():
            if v:
                counts[g][k].append(name)
    print("kind | " + " | ".join(f"{g} ({totals[g]} runs)" for g in counts))
    for k in KINDS:
        print(f"{k} | " + " | ".join(str(len(counts[g][k])) for g in counts))
    if args.runs:
        for g in counts:
            for k in KINDS:
                print(f"{g} {k}: {', '.join(counts[g][k])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
