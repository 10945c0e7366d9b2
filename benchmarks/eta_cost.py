"""Cost of the finish-time estimate per update on a long run, against a baseline measured in
the same run (benchmarks/eta_accuracy.py --timing prints it).

Run: python benchmarks/eta_cost.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.eta_accuracy import median_printed
from monitor.core.estimate import estimate
from monitor.core.events import ConfigValue, Iteration
from monitor.core.plan import make_plan
from monitor.core.run import RunState


def timing(steps: int = 1_000_000, calls: int = 20) -> str:
    """Cost of one estimate() on a run of `steps` logged steps, against the median
    baseline (one np.median over the printed times) on the same run."""
    state = RunState()
    for key, value in (("max_iters", 2 * steps), ("eval_interval", 2000), ("log_interval", 1), ("eval_iters", 200)):
        state.apply(ConfigValue(key, value), 0.0)
    rng = np.random.default_rng(0)
    step = 0.02 * (1 + 0.1 * rng.standard_normal(steps)) + np.where(np.arange(steps) % 2000 == 0, 2.0, 0.0)
    arrival = np.cumsum(step)
    for i in range(steps):
        state.apply(Iteration(i, 2.0, step_time_s=float(step[i])), float(arrival[i]))
    run = state.current
    plan = make_plan(run, "nanogpt")
    now = float(arrival[-1])
    began = time.perf_counter()
    estimate(run, plan, now)  # the first call folds in the whole history once
    first = time.perf_counter() - began

    def per_call(fn: Callable[[], object]) -> float:
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - began) / calls

    clock = [now]

    def new_step() -> object:
        # as live: one more step arrives, then the estimate is asked for
        clock[0] += 0.02
        state.apply(Iteration(run.last_iter + 1, 2.0, step_time_s=0.02), clock[0])
        return estimate(run, plan, clock[0])

    ours = per_call(new_step)
    idle = per_call(lambda: estimate(run, plan, clock[0]))
    base = per_call(lambda: median_printed(run, plan, clock[0]))
    return (f"estimate() on a {steps:,}-step run: first call (folds in the history) {1e3 * first:.0f} ms; "
            f"{1e3 * ours:.3f} ms per call after a new step, {1e3 * idle:.3f} ms when nothing new arrived; "
            f"median baseline {1e3 * base:.2f} ms; ratios {ours / base:.3f}x and {idle / base:.3f}x")



if __name__ == "__main__":
    print(timing())
