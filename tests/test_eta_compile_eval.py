"""The first eval of a compiled process resumed off the eval grid pays for compiling the eval
graph: it is left out of the eval pause to come (monitor.core.pause._compiles_eval)."""

from __future__ import annotations

import pytest

from tests.test_estimate import est, feed, header, nanogpt, steady

HEAD = header(max_iters=4500, extra=("init_from = 'resume'", "compile = True"))


def first_slow(i: int) -> float:
    return 2.65 if i == 1000 else 1.0


def test_a_compiled_process_resumed_off_the_eval_grid_leaves_its_first_eval_out() -> None:
    # resumed at step 800 with evals every 250: its first eval (1000) compiles the eval graph
    e = est(feed(nanogpt(1100, steady(0.015), eval_s=first_slow, start=800, head=HEAD)))
    assert e.eval_source == "config"  # the compile alone is not an eval's cost
    e = est(feed(nanogpt(1600, steady(0.015), eval_s=first_slow, start=800, head=HEAD)))
    assert e.eval_source == "measured"
    assert e.eval_time_s == pytest.approx(1.0, rel=1e-6)


def test_a_process_whose_first_step_held_an_eval_keeps_every_eval() -> None:
    # resumed on the grid (750): the eval there ran inside the first line's warm-up
    on_grid = nanogpt(1600, steady(0.015), eval_s=first_slow, start=750, head=HEAD)
    assert est(feed(on_grid)).eval_time_s == pytest.approx((2.65 + 1.0 + 1.0) / 3, rel=1e-6)


def test_an_uncompiled_process_keeps_its_first_eval() -> None:
    head = header(max_iters=4500, extra=("init_from = 'resume'", "compile = False"))
    e = est(feed(nanogpt(1600, steady(0.015), eval_s=first_slow, start=800, head=head)))
    assert e.eval_time_s == pytest.approx((2.65 + 1.0 + 1.0) / 3, rel=1e-6)
