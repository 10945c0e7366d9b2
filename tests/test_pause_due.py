"""The eval steps the eval pause reads (core.pause._due) are kept between snapshots and built
again only when they can change: after every line of any log of steps and evals they equal
those built from scratch."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from monitor.core.pause import MAX_EVALS, _due
from monitor.core.report import Options
from monitor.session import Session


def _from_scratch(evals: list[int], iters: np.ndarray, every: int) -> np.ndarray:
    since = max(int(iters[0]), int(iters[-1]) - MAX_EVALS * every)
    due = np.arange((since // every + 1) * every, iters[-1] + 1, every)
    logged = np.array([e for e in evals[-MAX_EVALS:] if iters[0] < e <= iters[-1]], dtype=np.int64)
    return np.union1d(due, logged)[-MAX_EVALS:]


# A step moves on (mostly), now and then goes back (a resumed loop) or logs an eval, at any step.
LINES = st.lists(st.tuples(st.sampled_from(["step", "step", "step", "back", "eval"]), st.integers(1, 40)),
                 min_size=1, max_size=120)


@given(LINES, st.integers(1, 30))
def test_the_kept_eval_steps_equal_those_built_from_scratch(lines: list[tuple[str, int]], every: int) -> None:
    session = Session(Options(source="run.log"), clock=lambda: 0.0)
    it = 0
    for n, (kind, size) in enumerate(lines):
        if kind == "eval":
            session.feed(f"step {it + size}: train loss 2.0000, val loss 2.1000", float(n))
        else:
            it = max(0, it - size) if kind == "back" else it + size
            session.feed(f"iter {it}: loss 2.0000, time 100.00ms, mfu 30.00%", float(n))
        run = session.state.current
        iters = run.iters.values
        if len(iters) >= 2:
            expected = _from_scratch([e.iter for e in run.evals], iters, every)
            assert _due(run, iters, every).tolist() == expected.tolist()
